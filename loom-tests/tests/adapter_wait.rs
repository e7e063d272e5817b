//! loom models of the std adapter's waiting (`std-adapter/src/wait.rs`): a checkin racing a
//! thread that is registering as a waiter never loses the wake-up, and two queued waiters
//! are served in the order they queued; with eventual fairness (where, under loom, every
//! other release reserves for the longest waiter and the others let a running thread barge),
//! a waiter racing a thread that returns and re-asks is never lost either. A lost
//! wake-up shows up as a deadlock (loom reports every thread blocked), because under loom a timed park is untimed.
//!
//! ```sh
//! RUSTFLAGS="--cfg tarn_loom" CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
//!     CARGO_TARGET_DIR=target/loom-debug LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p loom-tests --release --test adapter_wait
//! ```
#![cfg(tarn_loom)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc as StdArc;
use std::time::Duration;

use loom::sync::{Arc, Mutex};
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

fn one_slot() -> Pool<Numbers> {
    one_slot_with(Fairness::Strict)
}

fn one_slot_with(fairness: Fairness) -> Pool<Numbers> {
    Pool::builder(Numbers::default())
        .pool_size(1)
        .max_overflow(0)
        .idle_order(IdleOrder::Lifo)
        .timeout(Duration::from_secs(3600))
        .fairness(fairness)
        .build()
        .expect("a valid configuration")
}

#[test]
fn a_checkin_racing_a_registering_waiter_always_wakes_it() {
    loom::model(|| {
        let pool = one_slot();
        let held = pool.get().expect("the pool is empty");
        let p2 = pool.clone();
        let waiter = thread::spawn(move || {
            // Finds nothing, registers, sleeps: races the checkin below at every step.
            let c = p2.get().expect("served, never a lost wake-up");
            assert_eq!(*c, 1);
        });
        drop(held);
        waiter.join().unwrap();
        assert_eq!(pool.state().waiting, 0);
    });
}

#[test]
fn a_capacity_release_by_invalidation_wakes_the_waiter() {
    loom::model(|| {
        let pool = one_slot();
        let held = pool.get().expect("the pool is empty");
        let p2 = pool.clone();
        let waiter = thread::spawn(move || {
            let c = p2.get().expect("served by a reconnect");
            assert_eq!(*c, 2);
        });
        tarn_pool::PooledConnection::invalidate(held);
        waiter.join().unwrap();
    });
}

#[test]
fn two_waiters_are_served_in_the_order_they_queued() {
    loom::model(|| {
        let pool = one_slot();
        let held = pool.get().expect("the pool is empty");
        let order = Arc::new(Mutex::new(Vec::new()));
        let spawn_waiter = |tag: u8| {
            let (p, order) = (pool.clone(), order.clone());
            thread::spawn(move || {
                let c = p.get().expect("served");
                order.lock().unwrap().push(tag);
                drop(c);
            })
        };
        let first = spawn_waiter(1);
        while pool.state().waiting < 1 {
            thread::yield_now();
        }
        let second = spawn_waiter(2);
        while pool.state().waiting < 2 {
            thread::yield_now();
        }
        drop(held);
        first.join().unwrap();
        second.join().unwrap();
        assert_eq!(*order.lock().unwrap(), [1, 2], "first come, first served");
    });
}

#[test]
fn a_waiter_that_loses_the_connection_to_a_newcomer_is_served_later() {
    loom::model(|| {
        let pool = one_slot();
        let held = pool.get().expect("the pool is empty");
        let (p1, p2) = (pool.clone(), pool.clone());
        let waiter = thread::spawn(move || drop(p1.get().expect("served in the end")));
        // A newcomer whose fast path may run before the waiter registers: it can take the
        // connection the waiter was woken for; the waiter must then sleep again, keep its
        // place, and be woken by the newcomer's checkin.
        let newcomer = thread::spawn(move || drop(p2.get().expect("served")));
        drop(held);
        waiter.join().unwrap();
        newcomer.join().unwrap();
        let st = pool.state();
        assert_eq!((st.waiting, st.checked_out, st.idle), (0, 0, 1));
    });
}

#[test]
fn eventual_a_checkin_racing_a_registering_waiter_always_wakes_it() {
    loom::model(|| {
        let pool = one_slot_with(Fairness::Eventual(Duration::ZERO));
        let held = pool.get().expect("the pool is empty");
        let p2 = pool.clone();
        let waiter = thread::spawn(move || {
            let c = p2.get().expect("served, never a lost wake-up");
            assert_eq!(*c, 1);
        });
        drop(held);
        waiter.join().unwrap();
        assert_eq!(pool.state().waiting, 0);
    });
}

#[test]
fn eventual_a_returning_thread_that_asks_again_and_a_waiter_are_both_served() {
    loom::model(|| {
        let pool = one_slot_with(Fairness::Eventual(Duration::ZERO));
        let held = pool.get().expect("the pool is empty");
        let p2 = pool.clone();
        let waiter = thread::spawn(move || drop(p2.get().expect("served in the end")));
        // Returns the connection and asks again at once: it may barge (an unreserved
        // release) or queue behind the waiter (a reserved one); either way both are served
        // and the reservation is given back.
        drop(held);
        drop(pool.get().expect("served"));
        waiter.join().unwrap();
        let st = pool.state();
        assert_eq!((st.waiting, st.checked_out, st.idle), (0, 0, 1));
        assert!(pool.try_get().is_ok(), "no reservation left behind");
    });
}
