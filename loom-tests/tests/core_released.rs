//! The contract an adapter's waiting relies on (tarn-core's waiters.rs, "The no-lost-wake-up
//! argument"): a thread that returns capacity (a checkin's push, or a close giving a unit
//! back) and then calls `Waiters::released`, against a waiter that registers with a `SeqCst`
//! increment and then retries a checkout that finds nothing: at least one of them sees the
//! other. Either the retry succeeds, or `released` sees the waiter (and would wake it).
#![cfg(tarn_loom)]

mod common;

use common::{model, Mgr};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use tarn_core::{Builder, IdleOrder, NoClock, NopEvents, Pool, Pooled, Waiters};

#[derive(Debug, Default)]
struct Queue {
    count: AtomicUsize,
    woken: AtomicBool,
}

#[derive(Debug, Clone, Default)]
struct Wake(Arc<Queue>);

impl Waiters for Wake {
    fn released(&self) {
        // No fence of the test's own: the `SeqCst` of the pool's release and checkout
        // accesses is what this model checks (tarn-core's `sync::SeqCst` helpers carry it).
        if self.0.count.load(Ordering::SeqCst) > 0 {
            self.0.woken.store(true, Ordering::SeqCst);
        }
    }
}

/// `release` gives the held connection back (checkin or invalidate); a waiter registers and
/// retries. Unless the retry got a connection, `released` must have seen the waiter.
fn run(order: IdleOrder, release: fn(Pooled<Arc<Pool<Mgr, NopEvents, NoClock, (), Wake>>>)) {
    let wake = Wake::default();
    let pool = Arc::new(
        Builder::new(Mgr::new())
            .pool_size(1)
            .max_overflow(0)
            .idle_order(order)
            .waiters(wake.clone())
            .build()
            .unwrap(),
    );
    let held = Pool::try_checkout_in(pool.clone()).unwrap();
    let returner = thread::spawn(move || release(held));
    let waiter = {
        let (pool, wake) = (pool.clone(), wake.clone());
        thread::spawn(move || {
            wake.0.count.fetch_add(1, Ordering::SeqCst);
            let got = pool.try_checkout().is_ok();
            // A waiter that found nothing stays registered (it would now sleep until woken).
            if got {
                wake.0.count.fetch_sub(1, Ordering::SeqCst);
            }
            got
        })
    };
    returner.join().unwrap();
    let got = waiter.join().unwrap();
    assert!(
        got || wake.0.woken.load(Ordering::SeqCst),
        "a waiter found nothing and was never told that capacity came back"
    );
}

#[test]
fn checkin_push_against_waiter() {
    model(|| run(IdleOrder::Lifo, drop));
}

#[test]
fn invalidate_against_waiter() {
    model(|| run(IdleOrder::Lifo, Pooled::invalidate));
}

/// The affinity order parks the connection in its slot (a `SeqCst` store of its flag)
/// instead of pushing it: the same contract.
#[test]
fn checkin_park_against_waiter() {
    model(|| run(IdleOrder::Affinity, drop));
}
