//! Checkouts and checkins from several threads, with overflow: no connection is ever held by
//! two threads, never more than `pool_size + max_overflow` are open (checked by the events at
//! every open), and the counts add up once everyone is done.
#![cfg(tarn_loom)]

mod common;

use common::{assert_quiescent, checkouts, model, Holders, Hooks, Mgr};
use loom::sync::Arc;
use loom::thread;
use tarn_core::{IdleOrder, Pool};

fn pool(size: usize, overflow: usize, hooks: &Hooks, mgr: &Mgr) -> Arc<common::ModelPool> {
    common::pool(IdleOrder::Lifo, size, overflow, hooks, mgr)
}

fn run(threads: usize, rounds: usize, size: usize, overflow: usize) {
    checkouts(IdleOrder::Lifo, threads, rounds, size, overflow, 0);
}

#[test]
fn two_threads_pool_size_1_overflow_1() {
    model(|| run(2, 1, 1, 1));
}

#[test]
fn two_threads_pool_size_1_no_overflow_two_rounds() {
    model(|| run(2, 2, 1, 0));
}

#[test]
fn two_threads_pool_size_2_no_overflow() {
    model(|| run(2, 1, 2, 0));
}

#[test]
fn three_threads_pool_size_1_overflow_1() {
    model(|| run(3, 1, 1, 1));
}

/// Holding one connection while others come and go: the held one is never handed out.
#[test]
fn held_connection_is_never_handed_out() {
    model(|| {
        let mgr = Mgr::new();
        let hooks = Hooks::new(2, 0);
        let pool = pool(1, 1, &hooks, &mgr);
        let holders = Holders::new();
        let mine = Pool::try_checkout_in(pool.clone()).unwrap();
        holders.take(mine.0);
        let other = {
            let (pool, holders) = (pool.clone(), holders.clone());
            thread::spawn(move || {
                if let Ok(conn) = pool.try_checkout() {
                    holders.take(conn.0);
                    holders.give(conn.0);
                }
            })
        };
        holders.give(mine.0);
        drop(mine);
        other.join().unwrap();
        assert_quiescent(&pool, &mgr, &hooks, 0);
        drop(pool);
        mgr.assert_all_closed_once();
    });
}
