//! Quick end-to-end checks of the queue pool under threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tarn_core::testing::ScriptedManager;
use tarn_pool::Pool;

#[test]
fn many_threads_share_a_small_pool_and_nothing_leaks() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pool_size(2)
        .max_overflow(1)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let served = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..500 {
                    let c = pool.get().expect("served");
                    assert!(pool.state().open <= 3);
                    drop(c);
                    served.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(served.load(Ordering::Relaxed), 4000);
    let st = pool.state();
    assert_eq!((st.checked_out, st.waiting), (0, 0));
    drop(pool);
    manager.assert_all_closed_once(0);
}
