//! The allocation-free pool: `FixedPool`'s never-used-slot counter, free stack and tagged idle
//! stack, from two and three threads, including several threads claiming never-used slots
//! at once.
#![cfg(tarn_loom)]

mod common;

use common::{assert_quiescent, model, Holders, Hooks, Mgr};
use loom::sync::Arc;
use loom::thread;
use tarn_core::{FixedPool, NoClock, RawPool, Settings};

fn run(threads: usize, rounds: usize) {
    let mgr = Mgr::new();
    let hooks = Hooks::new(2, 0);
    let pool: Arc<FixedPool<Mgr, 2, Hooks>> = Arc::new(FixedPool::with_parts(
        mgr.clone(),
        hooks.clone(),
        NoClock,
        Settings::new().pool_size(1),
    ));
    let holders = Holders::new();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (pool, holders) = (pool.clone(), holders.clone());
            thread::spawn(move || {
                for _ in 0..rounds {
                    if let Ok(conn) = pool.try_checkout() {
                        holders.take(conn.0);
                        holders.give(conn.0);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_quiescent(&pool, &mgr, &hooks, 0);
    pool.dispose();
    assert_eq!(pool.state().open, 0);
    mgr.assert_all_closed_once();
}

#[test]
fn two_threads_two_rounds() {
    model(|| run(2, 2));
}

#[test]
fn three_threads_one_round() {
    model(|| run(3, 1));
}

/// `threads` threads each claim a never-used slot at once: connection 1 is opened first and
/// held (so the first connect is over and the idle stack is empty), then each thread's
/// checkout finds nothing idle and takes the next index from the never-used counter. Each
/// must get a slot of its own: two guards on one slot would fill it twice (the slot's
/// "only an empty slot is filled" check, or loom's cell tracking, fails) or hand one
/// connection to two threads.
fn claim_fresh(threads: usize) {
    let mgr = Mgr::new();
    let hooks = Hooks::new(4, 0);
    let pool: Arc<FixedPool<Mgr, 4, Hooks>> = Arc::new(FixedPool::with_parts(
        mgr.clone(),
        hooks.clone(),
        NoClock,
        Settings::new().pool_size(1),
    ));
    let first = RawPool::try_checkout_in(pool.clone()).unwrap(); // slot 0, held
    let holders = Holders::new();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (pool, holders) = (pool.clone(), holders.clone());
            // Each thread keeps its connection (the join hands it back), so every checkout
            // finds the idle stack empty and claims a never-used slot.
            thread::spawn(move || {
                let conn =
                    RawPool::try_checkout_in(pool).expect("a never-used slot for every thread");
                holders.take(conn.0);
                conn
            })
        })
        .collect();
    let conns: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(mgr.opened(), threads + 1);
    drop(conns);
    drop(first);
    assert_quiescent(&pool, &mgr, &hooks, 0);
    pool.dispose();
    assert_eq!(pool.state().open, 0);
    mgr.assert_all_closed_once();
}

#[test]
fn two_threads_claim_fresh_slots() {
    model(|| claim_fresh(2));
}

#[test]
fn three_threads_claim_fresh_slots() {
    model(|| claim_fresh(3));
}

/// The ABA interleaving of the tagged stack (stack.rs). Slots 0 and 1 idle (1 on top);
/// thread A's checkout reads top = 1 and below = 0, then is preempted; thread B checks out
/// slot 1, slot 0, opens slot 2, returns 2 and then 1, and still holds slot 0. The head is
/// back to (top 1, count 2): without the tag A's swap would succeed and install slot 0,
/// which B holds.
#[test]
fn aba_pop_against_pop_pop_push_push() {
    model(|| {
        let mgr = Mgr::new();
        let hooks = Hooks::new(3, 0);
        let pool: Arc<FixedPool<Mgr, 3, Hooks>> = Arc::new(FixedPool::with_parts(
            mgr.clone(),
            hooks.clone(),
            NoClock,
            Settings::new().pool_size(2),
        ));
        let (a, b) = (pool.try_checkout().unwrap(), pool.try_checkout().unwrap());
        drop((a, b)); // connections 1 and 2 idle, 2 on top
        let holders = Holders::new();
        let a = {
            let (pool, holders) = (pool.clone(), holders.clone());
            thread::spawn(move || {
                if let Ok(conn) = pool.try_checkout() {
                    holders.take(conn.0);
                    holders.give(conn.0);
                }
            })
        };
        let b = {
            let (pool, holders) = (pool.clone(), holders.clone());
            thread::spawn(move || {
                let conns: Vec<_> = (0..3).filter_map(|_| pool.try_checkout().ok()).collect();
                for conn in &conns {
                    holders.take(conn.0);
                }
                // Return the third (slot 2) and then the first (slot 1): the head is (1, 2)
                // again. Keep the second (slot 0) held.
                let mut conns = conns.into_iter();
                let (first, second, third) = (conns.next(), conns.next(), conns.next());
                for conn in [third, first].into_iter().flatten() {
                    holders.give(conn.0);
                    drop(conn);
                }
                // `second` is still held: if A's swap handed it out, one `take` panics.
                if let Some(conn) = second {
                    holders.give(conn.0);
                }
            })
        };
        a.join().unwrap();
        b.join().unwrap();
        assert_quiescent(&pool, &mgr, &hooks, 0);
        drop(pool);
        mgr.assert_all_closed_once();
    });
}
