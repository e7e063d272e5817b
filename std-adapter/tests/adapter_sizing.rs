//! Point 3: sizing as the reference (unlimited overflow, `pool_size` 0 = no idle limit).

use std::time::Duration;

use tarn_core::testing::ScriptedManager;
use tarn_pool::{BuildError, Pool};

#[test]
fn unlimited_overflow_never_waits_and_closes_the_extra_on_return() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pool_size(2)
        .unlimited_overflow()
        .timeout(Duration::ZERO)
        .build()
        .unwrap();
    let held: Vec<_> = (0..40).map(|_| pool.get().expect("never waits")).collect();
    let st = pool.state();
    assert_eq!((st.open, st.checked_out, st.overflow), (40, 40, 38));
    assert_eq!(st.max_overflow, None, "unlimited");
    drop(held);
    let st = pool.state();
    assert_eq!((st.open, st.idle, st.overflow), (2, 2, 0), "pool_size kept");
    assert_eq!(manager.closed(), 38);
    drop(pool);
    manager.assert_all_closed_once(0);
}

#[test]
fn unlimited_overflow_from_many_threads() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pool_size(1)
        .unlimited_overflow()
        .build()
        .unwrap();
    // While the pool's very first connect runs (its first_connect hook runs once, before any
    // other checkout may open), other checkouts find nothing to take and wait; under
    // ThreadSanitizer's slowness a zero timeout then fails. The claim here is about overflow
    // once the pool is warm, so open the first connection before the threads start.
    drop(pool.get().unwrap());
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..200 {
                    let a = pool.get_timeout(Duration::ZERO).expect("never waits");
                    let b = pool.get_timeout(Duration::ZERO).expect("never waits");
                    drop((a, b));
                }
            });
        }
    });
    assert_eq!(pool.state().checked_out, 0);
    drop(pool);
    manager.assert_all_closed_once(0);
}

#[test]
fn pool_size_zero_keeps_every_connection() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pool_size(0)
        .max_overflow(3)
        .timeout(Duration::from_millis(20))
        .build()
        .unwrap();
    let held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    assert!(
        pool.get().unwrap_err().is_timeout(),
        "max_overflow still bounds"
    );
    drop(held);
    let st = pool.state();
    assert_eq!((st.pool_size, st.open, st.idle), (0, 3, 3));
    assert_eq!(manager.closed(), 0, "no idle limit: nothing closed");
}

#[test]
fn pool_size_zero_with_unlimited_overflow() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pool_size(0)
        .unlimited_overflow()
        .build()
        .unwrap();
    let held: Vec<_> = (0..50).map(|_| pool.get().unwrap()).collect();
    drop(held);
    assert_eq!(pool.state().idle, 50);
    assert_eq!(manager.closed(), 0);
}

#[test]
fn zero_capacity_is_a_build_error() {
    let err = Pool::builder(ScriptedManager::new())
        .pool_size(0)
        .max_overflow(0)
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::ZeroCapacity);
}

#[test]
fn overflow_connections_are_closed_when_returned() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pool_size(1)
        .max_overflow(2)
        .build()
        .unwrap();
    let held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    assert_eq!(pool.state().overflow, 2);
    drop(held);
    assert_eq!((pool.state().idle, manager.closed()), (1, 2));
}
