//! `dispose` racing checkins and checkouts: every connection is closed exactly once, idle
//! ones by `dispose`, checked-out ones when they come back.
#![cfg(tarn_loom)]

mod common;

use common::{assert_quiescent, model, Hooks, Mgr};
use loom::sync::Arc;
use loom::thread;
use tarn_core::{IdleOrder, Pool};

fn pool(size: usize, overflow: usize, hooks: &Hooks, mgr: &Mgr) -> Arc<common::ModelPool> {
    common::pool(IdleOrder::Lifo, size, overflow, hooks, mgr)
}

/// One connection comes back while another thread disposes the pool. Connection 2 (idle) is
/// closed by `dispose`; connection 1 is closed at its checkin, or, when the checkin read the
/// epoch just before `dispose` bumped it and pushed it just after `dispose` drained the idle
/// queue, it waits idle and stale until the next checkout replaces it. Either way, neither is
/// handed out after `dispose`, and each is closed exactly once.
#[test]
fn checkin_racing_dispose() {
    model(|| checkin_racing_dispose_in(IdleOrder::Lifo));
}

/// The same with the affinity order, whose `dispose` scans the slots' flags.
#[test]
fn checkin_racing_dispose_affinity() {
    model(|| checkin_racing_dispose_in(IdleOrder::Affinity));
}

fn checkin_racing_dispose_in(order: IdleOrder) {
    let mgr = Mgr::new();
    let hooks = Hooks::new(2, 0);
    let pool = common::pool(order, 2, 0, &hooks, &mgr);
    let a = Pool::try_checkout_in(pool.clone()).unwrap();
    drop(pool.try_checkout().unwrap()); // connection 2, idle
    let returner = thread::spawn(move || drop(a));
    let disposer = {
        let pool = pool.clone();
        thread::spawn(move || pool.dispose())
    };
    returner.join().unwrap();
    disposer.join().unwrap();
    assert_eq!(mgr.closes(2), 1, "dispose closes the idle connection");
    assert_eq!(
        mgr.closes(1),
        1,
        "a connection returned during dispose is closed by the time both finish"
    );
    assert_eq!(pool.state().open, 0, "{:?}", pool.state());
    assert_quiescent(&pool, &mgr, &hooks, 0);
    let conn = pool.try_checkout().unwrap();
    assert_eq!(conn.0, 3, "no connection from before dispose is handed out");
    drop(conn);
    assert_eq!((mgr.closes(1), mgr.closes(2)), (1, 1));
    drop(pool);
    mgr.assert_all_closed_once();
}

/// A checkout races `dispose`: it gets connection 1 before the dispose, or `WouldBlock` while
/// `dispose` is closing connection 1 and still holds its capacity. Connection 1 is closed by
/// `dispose`, at its checkin, or (when the checkin has not yet seen the new epoch) at the
/// next checkout, which must open connection 2.
#[test]
fn checkout_racing_dispose() {
    model(|| {
        let mgr = Mgr::new();
        let hooks = Hooks::new(1, 0);
        let pool = pool(1, 0, &hooks, &mgr);
        drop(pool.try_checkout().unwrap()); // connection 1, idle
        let user = {
            let pool = pool.clone();
            thread::spawn(move || match pool.try_checkout() {
                Ok(conn) => drop(conn),
                Err(tarn_core::CheckoutError::WouldBlock) => {}
                Err(e) => panic!("unexpected {e:?}"),
            })
        };
        pool.dispose();
        user.join().unwrap();
        assert_quiescent(&pool, &mgr, &hooks, 0);
        // If the checkin did not yet see the new epoch, connection 1 waits idle and stale:
        // the next checkout replaces it.
        let conn = pool.try_checkout().unwrap();
        assert_ne!(conn.0, 1, "no connection from before dispose is handed out");
        drop(conn);
        assert_eq!(mgr.closes(1), 1);
        pool.dispose();
        assert_eq!(pool.state().open, 0);
        mgr.assert_all_closed_once();
    });
}
