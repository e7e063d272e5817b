//! `detach` gives the capacity back at once, racing a checkout at capacity.
#![cfg(tarn_loom)]

mod common;

use common::{assert_quiescent, model, Hooks, Mgr};
use loom::thread;
use tarn_core::{IdleOrder, Pool, Pooled};

#[test]
fn detach_racing_checkout_at_capacity() {
    model(|| {
        let mgr = Mgr::new();
        let hooks = Hooks::new(1, 0);
        let pool = common::pool(IdleOrder::Lifo, 1, 0, &hooks, &mgr);
        let mine = Pool::try_checkout_in(pool.clone()).unwrap(); // connection 1
        let detacher = thread::spawn(move || Pooled::detach(mine));
        let other = {
            let pool = pool.clone();
            thread::spawn(move || {
                if let Ok(conn) = pool.try_checkout() {
                    assert_eq!(conn.0, 2, "a detached connection is never handed out");
                }
            })
        };
        let raw = detacher.join().unwrap();
        other.join().unwrap();
        assert_eq!(raw.0, 1);
        assert_eq!(
            mgr.closes(1),
            0,
            "the pool does not close a detached connection"
        );
        assert_quiescent(&pool, &mgr, &hooks, 1);
        pool.close_detached(raw);
        drop(pool);
        mgr.assert_all_closed_once();
    });
}
