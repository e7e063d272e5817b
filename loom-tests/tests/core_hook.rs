//! The checkout hook's reconnect: a hook that answers "disconnected" makes the pool close the
//! connection and open another in the same slot, while other threads check out.
#![cfg(tarn_loom)]

mod common;

use common::{assert_quiescent, model, Holders, Hooks, Mgr};
use loom::thread;
use tarn_core::{CheckoutError, IdleOrder};

fn run(disconnects: usize) {
    let mgr = Mgr::new();
    let hooks = Hooks::new(2, disconnects);
    let pool = common::pool(IdleOrder::Lifo, 1, 1, &hooks, &mgr);
    let holders = Holders::new();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (pool, holders) = (pool.clone(), holders.clone());
            thread::spawn(move || match pool.try_checkout() {
                Ok(conn) => {
                    holders.take(conn.0);
                    holders.give(conn.0);
                }
                Err(CheckoutError::WouldBlock | CheckoutError::Disconnected) => {}
                Err(e) => panic!("unexpected {e:?}"),
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_quiescent(&pool, &mgr, &hooks, 0);
    drop(pool);
    mgr.assert_all_closed_once();
}

#[test]
fn one_disconnect_two_threads() {
    model(|| run(1));
}

#[test]
fn two_disconnects_two_threads() {
    model(|| run(2));
}
