//! Point 6: pre-ping.

use tarn_core::testing::{ScriptedError, ScriptedManager};
use tarn_pool::{Error, Pool};

fn pinging(manager: &ScriptedManager) -> Pool<ScriptedManager> {
    Pool::builder(manager.clone())
        .pool_size(2)
        .pre_ping(true)
        .build()
        .unwrap()
}

#[test]
fn a_connection_just_opened_is_not_pinged() {
    let manager = ScriptedManager::new();
    let pool = pinging(&manager);
    drop(pool.get().unwrap());
    assert_eq!(manager.pings(), 0);
    drop(pool.get().unwrap());
    assert_eq!(
        manager.pings(),
        1,
        "an idle connection is pinged on checkout"
    );
}

#[test]
fn a_failed_ping_invalidates_the_connection_and_reaches_the_caller() {
    let manager = ScriptedManager::new();
    let pool = pinging(&manager);
    drop(pool.get().unwrap());
    manager.fail_pings(1);
    // Not a disconnect: the reference's `do_ping` re-raises it.
    let err = pool.get().unwrap_err();
    assert!(
        matches!(err, Error::Ping(ScriptedError::Ping)),
        "the caller hears of the ping error as a ping error: {err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the pre-ping of an idle connection failed (it was invalidated): scripted ping failure"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is the source"
    );
    assert_eq!(manager.closed(), 1);
    assert_eq!(pool.stats().invalidated, 1);
    let c = pool.get().unwrap();
    assert_eq!(c.id, 2, "a new connection next time");
}

#[test]
fn a_disconnect_ping_replaces_the_connection_silently() {
    let manager = ScriptedManager::new();
    let pool = pinging(&manager);
    drop(pool.get().unwrap());
    manager.disconnect_pings(1);
    let c = pool.get().expect("the caller sees no error");
    assert_eq!(c.id, 2, "replaced");
    assert_eq!(manager.closed(), 1);
}

#[test]
fn a_disconnect_ping_invalidates_every_older_connection() {
    let manager = ScriptedManager::new();
    let pool = pinging(&manager);
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    drop((a, b)); // connections 1 and 2 idle
    manager.disconnect_pings(1);
    let c = pool.get().unwrap(); // ping of 1 fails as a disconnect: replaced by 3
    assert_eq!(c.id, 3);
    let d = pool.get().unwrap(); // 2 is older than the disconnect: replaced without a ping
    assert_eq!(d.id, 4);
    assert_eq!(manager.closed(), 2);
    assert_eq!(manager.pings(), 1);
}

#[test]
fn without_pre_ping_nothing_is_pinged() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone()).build().unwrap();
    drop(pool.get().unwrap());
    drop(pool.get().unwrap());
    assert_eq!(manager.pings(), 0);
}
