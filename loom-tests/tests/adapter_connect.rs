//! loom model of the std adapter when a connect fails: the failing checkout gives its
//! capacity back, and a thread that queued behind it (it found no capacity while the connect
//! was under way) is woken and opens a connection of its own. A lost wake-up shows up as a
//! deadlock (loom reports every thread blocked), because under loom a timed park is untimed.
//!
//! ```sh
//! RUSTFLAGS="--cfg tarn_loom" CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
//!     CARGO_TARGET_DIR=target/loom-debug LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p loom-tests --release --test adapter_connect
//! ```
#![cfg(tarn_loom)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc as StdArc;
use std::time::Duration;

use loom::thread;
use tarn_pool::{Error, Fairness, IdleOrder, Manager, Pool, PooledConnection, ResetMode};

#[derive(Default)]
struct Script {
    next: AtomicU32,
    closed: AtomicU32,
    fail_next: AtomicBool,
}

/// Connections are numbers; the next connect fails when told to.
#[derive(Clone, Default)]
struct Flaky(StdArc<Script>);

impl Manager for Flaky {
    type Connection = u32;
    type Error = &'static str;
    fn connect(&self) -> Result<u32, &'static str> {
        if self.0.fail_next.swap(false, Ordering::Relaxed) {
            return Err("refused");
        }
        Ok(self.0.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn reset(&self, _: &mut u32, _: ResetMode) -> Result<(), &'static str> {
        Ok(())
    }
    fn close(&self, _: u32) {
        self.0.closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Capacity 1, the first connect over (connection 1 opened and invalidated), the next
/// connect fails. Two threads ask at once: whichever connects first fails and returns the
/// error; the other, served at once or after waiting in line, gets connection 2.
#[test]
fn a_failed_connect_gives_its_capacity_to_the_waiter() {
    loom::model(|| {
        let mgr = Flaky::default();
        let pool = Pool::builder(mgr.clone())
            .pool_size(1)
            .max_overflow(0)
            .idle_order(IdleOrder::Lifo)
            .timeout(Duration::from_secs(3600))
            .fairness(Fairness::Strict)
            .build()
            .expect("a valid configuration");
        PooledConnection::invalidate(pool.get().expect("the pool is empty"));
        mgr.0.fail_next.store(true, Ordering::Relaxed);
        let ask = || {
            let p = pool.clone();
            thread::spawn(move || p.get().map(|c| *c))
        };
        let (a, b) = (ask(), ask());
        let mut got = [a.join().unwrap(), b.join().unwrap()];
        got.sort_by_key(|r| r.is_ok());
        match got {
            [Err(Error::Connect("refused")), Ok(2)] => {}
            other => panic!("one connect fails, the other thread gets connection 2: {other:?}"),
        }
        let st = pool.state();
        assert_eq!(
            (st.waiting, st.checked_out, st.idle, st.open),
            (0, 0, 1, 1),
            "{st:?}"
        );
        assert_eq!(
            mgr.0.closed.load(Ordering::Relaxed),
            1,
            "connection 1 closed once"
        );
        drop(pool);
        assert_eq!(
            mgr.0.closed.load(Ordering::Relaxed),
            2,
            "connection 2 closed with the pool"
        );
    });
}
