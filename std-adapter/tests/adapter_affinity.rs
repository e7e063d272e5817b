//! `IdleOrder::Affinity` through the std adapter: each thread gets back the connection it
//! used last (the adapter keeps a hint per thread), and the idle bound holds with overflow.
//! Its wake-ups are in `adapter_waiting.rs`.

use std::sync::{Barrier, Mutex};
use std::time::Duration;

use tarn_core::testing::ScriptedManager;
use tarn_pool::{Fairness, IdleOrder, Pool};

fn pool(
    size: usize,
    overflow: usize,
    fairness: Fairness,
) -> (ScriptedManager, Pool<ScriptedManager>) {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pool_size(size)
        .max_overflow(overflow)
        .idle_order(IdleOrder::Affinity)
        .fairness(fairness)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    (manager, pool)
}

#[test]
fn each_thread_gets_back_the_connection_it_used() {
    const THREADS: usize = 3;
    let (manager, pool) = pool(THREADS, 0, Fairness::Strict);
    let all_hold = Barrier::new(THREADS);
    let seen = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let first = pool.get().unwrap();
                let id = first.id;
                all_hold.wait(); // three connections open, one per thread
                drop(first);
                for _ in 0..2_000 {
                    let c = pool.get().unwrap();
                    assert_eq!(c.id, id, "another thread's connection");
                }
                seen.lock().unwrap().push(id);
            });
        }
    });
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, [1, 2, 3]);
    assert_eq!(manager.opened(), THREADS);
    drop(pool);
    manager.assert_all_closed_once(0);
}

#[test]
fn at_most_pool_size_stay_idle_with_overflow() {
    let (manager, pool) = pool(2, 2, Fairness::Strict);
    let conns: Vec<_> = (0..4).map(|_| pool.get().unwrap()).collect();
    assert!(pool.try_get().is_err());
    drop(conns);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.checked_out), (2, 2, 0), "{s:?}");
    assert_eq!(manager.closed(), 2);
    drop(pool);
    manager.assert_all_closed_once(0);
}
