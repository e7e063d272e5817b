//! A failing connect racing a waiter: the failed checkout gives its slot and its unit of
//! capacity back and tells the adapter (`Waiters::released`), so a waiter that found no
//! capacity while the connect was under way is told; the counts add up and nothing leaks.
#![cfg(tarn_loom)]

mod common;

use common::{assert_quiescent, model, Hooks, Mgr};
use loom::thread;
use tarn_core::{CheckoutError, IdleOrder, Pooled};

/// What one checkout gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Got,
    ConnectFailed,
    WouldBlock,
}

/// Capacity 1; the next connect fails. A thread checks out (and returns what it gets) while
/// a waiter registers and retries. With `warm`, the first connect is over before (connection
/// 1 was opened and invalidated), so only the failed checkout's own release can wake the
/// waiter; without it the failing connect is the pool's first, whose claim is released too.
fn run(warm: bool) {
    let mgr = Mgr::with_connect_failures();
    let hooks = Hooks::watching_wakes(1);
    let pool = common::pool(IdleOrder::Lifo, 1, 0, &hooks, &mgr);
    if warm {
        Pooled::invalidate(pool.try_checkout().unwrap());
    }
    mgr.fail_connects(1);
    let checkout = |pool: &common::ModelPool| match pool.try_checkout() {
        Ok(conn) => {
            drop(conn);
            Outcome::Got
        }
        Err(CheckoutError::Connect(())) => Outcome::ConnectFailed,
        Err(CheckoutError::WouldBlock) => Outcome::WouldBlock,
        Err(e) => panic!("unexpected {e:?}"),
    };
    let user = {
        let pool = pool.clone();
        thread::spawn(move || checkout(&pool))
    };
    let waiter = {
        let (pool, hooks) = (pool.clone(), hooks.clone());
        thread::spawn(move || {
            hooks.register_waiter();
            let got = checkout(&pool);
            // Served, or failed with an error for its caller: it stops waiting. Otherwise
            // it stays registered (it would sleep until woken).
            if got != Outcome::WouldBlock {
                hooks.unregister_waiter();
            }
            got
        })
    };
    let user = user.join().unwrap();
    let waiter = waiter.join().unwrap();
    assert!(
        waiter != Outcome::WouldBlock || hooks.woken(),
        "the waiter found no capacity and was never told that it came back (user: {user:?})"
    );
    assert_eq!(
        [user, waiter]
            .iter()
            .filter(|&&o| o == Outcome::ConnectFailed)
            .count(),
        1,
        "exactly one checkout ran the failing connect (user: {user:?}, waiter: {waiter:?})"
    );
    assert_quiescent(&pool, &mgr, &hooks, 0);
    let conn = pool
        .try_checkout()
        .expect("the failed connect gave its capacity back");
    drop(conn);
    assert_quiescent(&pool, &mgr, &hooks, 0);
    drop(pool);
    mgr.assert_all_closed_once();
}

/// The first connect is over: the failed checkout's own release must reach the waiter.
#[test]
fn failed_connect_against_waiter() {
    model(|| run(true));
}

/// The failing connect is the pool's first: its first-connect claim is given back too (a
/// checkout that found it running got `WouldBlock`), and `first_connect` fires once, for
/// the connection that did open.
#[test]
fn failed_first_connect_against_waiter() {
    model(|| run(false));
}
