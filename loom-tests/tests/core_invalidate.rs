//! Pool-wide and per-connection invalidation racing checkouts and checkins.
#![cfg(tarn_loom)]

mod common;

use common::{assert_quiescent, model, Holders, Hooks, Mgr};
use loom::sync::Arc;
use loom::thread;
use tarn_core::{IdleOrder, Pool, Pooled};

fn pool(size: usize, overflow: usize, hooks: &Hooks, mgr: &Mgr) -> Arc<common::ModelPool> {
    common::pool(IdleOrder::Lifo, size, overflow, hooks, mgr)
}

/// Connection 1 is idle; one thread checks out and in while another calls `invalidate_all`.
/// Once `invalidate_all` has returned, connection 1 is never handed out again, and it is
/// closed exactly once.
#[test]
fn checkout_racing_invalidate_all() {
    model(|| {
        let mgr = Mgr::new();
        let hooks = Hooks::new(2, 0);
        let pool = pool(1, 1, &hooks, &mgr);
        drop(pool.try_checkout().unwrap()); // connection 1, idle
        let user = {
            let pool = pool.clone();
            thread::spawn(move || {
                if let Ok(conn) = pool.try_checkout() {
                    drop(conn);
                }
            })
        };
        let invalidator = {
            let pool = pool.clone();
            thread::spawn(move || {
                pool.invalidate_all();
                // From here on, connection 1 (opened before) must not be handed out.
                if let Ok(conn) = pool.try_checkout() {
                    assert_ne!(
                        conn.0, 1,
                        "a connection from before invalidate_all handed out"
                    );
                }
            })
        };
        user.join().unwrap();
        invalidator.join().unwrap();
        let conn = pool.try_checkout().unwrap();
        assert_ne!(
            conn.0, 1,
            "a connection from before invalidate_all handed out"
        );
        drop(conn);
        assert_eq!(
            mgr.closes(1),
            1,
            "the stale connection is closed exactly once"
        );
        assert_quiescent(&pool, &mgr, &hooks, 0);
        drop(pool);
        mgr.assert_all_closed_once();
    });
}

/// A soft-invalidated connection goes on working for its holder and is closed when it comes
/// back; a concurrent checkout never receives it.
#[test]
fn soft_invalidate_racing_checkout() {
    model(|| {
        let mgr = Mgr::new();
        let hooks = Hooks::new(2, 0);
        let pool = pool(1, 1, &hooks, &mgr);
        let mut mine = Pool::try_checkout_in(pool.clone()).unwrap(); // connection 1
        let holder = thread::spawn(move || {
            Pooled::soft_invalidate(&mut mine);
            assert!(Pooled::is_soft_invalidated(&mine));
            drop(mine);
        });
        let other = {
            let pool = pool.clone();
            thread::spawn(move || {
                if let Ok(conn) = pool.try_checkout() {
                    assert_ne!(conn.0, 1, "a soft-invalidated connection handed out");
                }
            })
        };
        holder.join().unwrap();
        other.join().unwrap();
        assert_eq!(mgr.closes(1), 1);
        assert_quiescent(&pool, &mgr, &hooks, 0);
        drop(pool);
        mgr.assert_all_closed_once();
    });
}

/// Hard invalidation gives the capacity back at once: with capacity 1, a thread that
/// invalidates races one that checks out; the second gets a new connection or WouldBlock.
#[test]
fn invalidate_racing_checkout_at_capacity() {
    model(|| {
        let mgr = Mgr::new();
        let hooks = Hooks::new(1, 0);
        let pool = pool(1, 0, &hooks, &mgr);
        let holders = Holders::new();
        let mine = Pool::try_checkout_in(pool.clone()).unwrap();
        holders.take(mine.0);
        let invalidator = {
            let holders = holders.clone();
            thread::spawn(move || {
                holders.give(mine.0);
                Pooled::invalidate(mine);
            })
        };
        let other = {
            let (pool, holders) = (pool.clone(), holders.clone());
            thread::spawn(move || {
                if let Ok(conn) = pool.try_checkout() {
                    holders.take(conn.0);
                    assert_eq!(conn.0, 2, "only a new connection can be handed out");
                    holders.give(conn.0);
                }
            })
        };
        invalidator.join().unwrap();
        other.join().unwrap();
        assert_eq!(mgr.closes(1), 1);
        assert_quiescent(&pool, &mgr, &hooks, 0);
        drop(pool);
        mgr.assert_all_closed_once();
    });
}
