//! Pre-ping: a ping that says the server went away replaces the connection and invalidates
//! every older one (`invalidate_all` from inside a checkout), racing another checkout.
#![cfg(tarn_loom)]

mod common;

use common::{assert_quiescent, model, Holders, Hooks, Mgr};
use loom::sync::Arc;
use loom::thread;
use tarn_core::{Builder, IdleOrder};

/// Connections 1 and 2 idle; the next ping reports a disconnect. Two threads check out at
/// once: neither may be handed a connection from before the disconnect, except one that
/// passed its own ping before the pool-wide invalidation (then it is closed at checkin).
#[test]
fn disconnect_ping_racing_checkout() {
    model(|| {
        let mgr = Mgr::new();
        let hooks = Hooks::new(2, 0);
        let pool = Arc::new(
            Builder::new(mgr.clone())
                .pool_size(2)
                .max_overflow(0)
                .idle_order(IdleOrder::Lifo)
                .pre_ping(true)
                .events(hooks.clone())
                .build()
                .unwrap(),
        );
        let (a, b) = (pool.try_checkout().unwrap(), pool.try_checkout().unwrap());
        drop((a, b)); // connections 1 and 2, idle
        mgr.disconnect_pings(1);
        let holders = Holders::new();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (pool, holders) = (pool.clone(), holders.clone());
                thread::spawn(move || {
                    if let Ok(conn) = pool.try_checkout() {
                        holders.take(conn.0);
                        holders.give(conn.0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_quiescent(&pool, &mgr, &hooks, 0);
        // After the disconnect, neither old connection is handed out again: two checkouts
        // (held together, so they empty the idle queue) get only newer ones.
        let conns: Vec<_> = (0..2).map(|_| pool.try_checkout().unwrap()).collect();
        for conn in &conns {
            assert!(conn.0 > 2, "connection {} predates the disconnect", conn.0);
        }
        assert_eq!((mgr.closes(1), mgr.closes(2)), (1, 1));
        drop(conns);
        drop(pool);
        mgr.assert_all_closed_once();
    });
}
