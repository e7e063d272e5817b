//! Point 1: the checkout API (`get`, `get_timeout`, `try_get`) and the typed timeout.

use std::time::{Duration, Instant};

use tarn_core::testing::ScriptedManager;
use tarn_pool::{Error, Pool};

fn one_slot() -> (ScriptedManager, Pool<ScriptedManager>) {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pool_size(1)
        .max_overflow(0)
        .build()
        .unwrap();
    (manager, pool)
}

#[test]
fn default_timeout_is_the_references_30_seconds() {
    let pool = Pool::builder(ScriptedManager::new()).build().unwrap();
    assert_eq!(pool.timeout(), Duration::from_secs(30));
}

#[test]
fn get_uses_the_configured_timeout() {
    let pool = Pool::builder(ScriptedManager::new())
        .pool_size(1)
        .max_overflow(0)
        .timeout(Duration::from_millis(60))
        .build()
        .unwrap();
    let _held = pool.get().unwrap();
    let start = Instant::now();
    let err = pool.get().unwrap_err();
    let waited = start.elapsed();
    assert!(err.is_timeout(), "{err}");
    assert!(
        waited >= Duration::from_millis(60),
        "timed out early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "far too late: {waited:?}");
}

#[test]
fn sub_second_timeout_is_honoured_not_rounded() {
    let (_m, pool) = one_slot();
    let _held = pool.get().unwrap();
    let start = Instant::now();
    let err = pool.get_timeout(Duration::from_millis(150)).unwrap_err();
    let waited = start.elapsed();
    assert!(err.is_timeout());
    assert!(waited >= Duration::from_millis(150), "early: {waited:?}");
    assert!(
        waited < Duration::from_millis(950),
        "rounded up to a second? {waited:?}"
    );
}

#[test]
fn zero_timeout_fails_at_once_with_a_timeout() {
    let (_m, pool) = one_slot();
    let _held = pool.get().unwrap();
    let start = Instant::now();
    let err = pool.get_timeout(Duration::ZERO).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(pool.state().waiting, 0, "the waiter left the queue");
}

#[test]
fn zero_timeout_succeeds_when_a_connection_is_free() {
    let (_m, pool) = one_slot();
    assert!(pool.get_timeout(Duration::ZERO).is_ok());
}

#[test]
fn try_get_never_waits() {
    let (_m, pool) = one_slot();
    let held = pool.try_get().unwrap();
    let start = Instant::now();
    assert!(matches!(pool.try_get(), Err(Error::WouldBlock)));
    assert!(start.elapsed() < Duration::from_millis(500));
    drop(held);
    assert!(pool.try_get().is_ok());
}

#[test]
fn timeout_error_says_size_overflow_timeout_and_waiters() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager)
        .pool_size(2)
        .max_overflow(1)
        .build()
        .unwrap();
    let _held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    // A second waiter queued behind the one that will time out.
    std::thread::scope(|s| {
        let other = s.spawn(|| pool.get_timeout(Duration::from_millis(400)).map(drop));
        while pool.state().waiting < 1 {
            std::thread::yield_now();
        }
        let err = pool.get_timeout(Duration::from_millis(100)).unwrap_err();
        match &err {
            Error::Timeout {
                waited,
                pool_size,
                overflow,
                max_overflow,
                waiters,
                cause,
            } => {
                assert_eq!(*cause, tarn_pool::TimeoutCause::Busy);
                assert_eq!(*waited, Duration::from_millis(100));
                assert_eq!((*pool_size, *overflow, *max_overflow), (2, 1, 1));
                assert_eq!(*waiters, 2, "itself and the other waiter");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        let msg = err.to_string();
        for part in ["size 2", "overflow 1", "timed out", "100ms", "2 waiting"] {
            assert!(msg.contains(part), "{msg:?} lacks {part:?}");
        }
        assert_eq!(msg, msg.to_lowercase(), "lowercase display");
        assert!(other.join().unwrap().is_err());
    });
    assert_eq!(pool.stats().timeouts, 2);
}

#[test]
fn connect_errors_are_typed_with_a_source() {
    let manager = ScriptedManager::new();
    manager.fail_connects(1);
    let pool = Pool::builder(manager).build().unwrap();
    let err = pool.get().unwrap_err();
    assert!(matches!(err, Error::Connect(_)));
    assert!(std::error::Error::source(&err).is_some());
    assert_eq!(pool.state().open, 0, "capacity given back");
    assert!(pool.get().is_ok());
}

#[test]
fn try_get_reports_a_failed_connect_and_goes_beyond_the_core_with_unlimited_overflow() {
    // The fast path (no listeners, no echo) answers these without the general one.
    let (manager, pool) = one_slot();
    manager.fail_connects(1);
    assert!(matches!(pool.try_get(), Err(Error::Connect(_))));
    assert_eq!(
        pool.state().open,
        0,
        "the failed connect gave its capacity back"
    );
    let conn = pool.try_get().unwrap();
    assert_eq!(manager.opened(), 1, "one connect per try, none repeated");
    drop(conn);

    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pool_size(1)
        .unlimited_overflow()
        .build()
        .unwrap();
    let core = pool.try_get().unwrap();
    let extra = pool
        .try_get()
        .expect("unlimited overflow opens beyond the core");
    assert_eq!(pool.state().open, 2);
    drop((core, extra));
    assert_eq!(
        pool.state().open,
        1,
        "the extra connection is closed on return"
    );
    drop(pool);
    manager.assert_all_closed_once(0);
}
