//! loom model of the std adapter's wait queue (`std-adapter/src/wait.rs`) when two releases
//! come close together: a waiter that is served while the second release is still on its
//! way may be handed that second notification too (its own note was already cleared, so the
//! queue sees it as not notified); it must pass the note on as it leaves, or the waiter
//! behind it sleeps while a connection is idle. A lost notification shows up as a deadlock
//! (loom reports every thread blocked), because under loom a timed park is untimed.
//!
//! ```sh
//! RUSTFLAGS="--cfg tarn_loom" CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
//!     CARGO_TARGET_DIR=target/loom-debug LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p loom-tests --release --test adapter_handoff
//! ```
#![cfg(tarn_loom)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc as StdArc;
use std::time::Duration;

use loom::thread;
use tarn_pool::{Fairness, IdleOrder, Manager, Pool, ResetMode};

/// Connections are numbers; nothing can fail.
#[derive(Clone, Default)]
struct Numbers(StdArc<AtomicU32>);

impl Manager for Numbers {
    type Connection = u32;
    type Error = ();
    fn connect(&self) -> Result<u32, ()> {
        Ok(self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn reset(&self, _: &mut u32, _: ResetMode) -> Result<(), ()> {
        Ok(())
    }
    fn close(&self, _: u32) {}
}

/// Two connections, both held; two waiters queue; both connections come back one after the
/// other. Each waiter keeps what it gets until the other is served too, so no checkin of
/// theirs can stand in for a lost notification: both must be served by the two releases.
#[test]
fn a_served_waiter_passes_on_a_release_that_came_while_it_left() {
    loom::model(|| {
        let pool = Pool::builder(Numbers::default())
            .pool_size(2)
            .max_overflow(0)
            .idle_order(IdleOrder::Lifo)
            .timeout(Duration::from_secs(3600))
            .fairness(Fairness::Strict)
            .build()
            .expect("a valid configuration");
        let (a, b) = (pool.get().unwrap(), pool.get().unwrap());
        let spawn_waiter = || {
            let p = pool.clone();
            thread::spawn(move || p.get_owned().expect("served"))
        };
        let first = spawn_waiter();
        while pool.state().waiting < 1 {
            thread::yield_now();
        }
        let second = spawn_waiter();
        while pool.state().waiting < 2 {
            thread::yield_now();
        }
        drop(a);
        drop(b);
        let first = first.join().unwrap();
        let second = second.join().unwrap();
        assert_ne!(*first, *second);
        drop((first, second));
        let st = pool.state();
        assert_eq!((st.waiting, st.checked_out, st.idle), (0, 0, 2));
    });
}
