//! Recycle by age: two threads check out while the idle connections are older than the
//! recycle age; neither gets an old connection and each old one is closed exactly once.
#![cfg(tarn_loom)]

mod common;

use common::{assert_quiescent, model, Holders, Hooks, Mgr};
use loom::sync::Arc;
use loom::thread;
use tarn_core::testing::ManualClock;
use tarn_core::{Builder, IdleOrder};

#[test]
fn two_threads_recycle_old_connections() {
    model(|| {
        let mgr = Mgr::new();
        let hooks = Hooks::new(2, 0);
        let clock = ManualClock::new();
        let pool = Arc::new(
            Builder::new(mgr.clone())
                .pool_size(2)
                .max_overflow(0)
                .idle_order(IdleOrder::Lifo)
                .events(hooks.clone())
                .clock(clock.clone())
                .recycle(1)
                .build()
                .unwrap(),
        );
        let (a, b) = (pool.try_checkout().unwrap(), pool.try_checkout().unwrap());
        drop((a, b)); // connections 1 and 2, idle
        clock.advance(2);
        let holders = Holders::new();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (pool, holders) = (pool.clone(), holders.clone());
                thread::spawn(move || {
                    let conn = pool
                        .try_checkout()
                        .expect("two idle connections for two threads");
                    assert!(conn.0 > 2, "connection {} is past the recycle age", conn.0);
                    holders.take(conn.0);
                    holders.give(conn.0);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // LIFO: the first checkout replaces connection 2; if the second thread comes after the
        // first returned connection 3, it takes 3, and old connection 1 stays idle.
        assert_eq!(mgr.closes(2), 1);
        assert!(mgr.closes(1) <= 1);
        assert_quiescent(&pool, &mgr, &hooks, 0);
        drop(pool);
        mgr.assert_all_closed_once();
    });
}
