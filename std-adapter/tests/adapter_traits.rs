//! Point 9: handles and guards are cheap, shareable and sendable.

use tarn_core::testing::{ScriptedError, ScriptedManager};
use tarn_pool::{
    AssertionPool, Error, NullPool, OwnedPooledConnection, Pool, PooledConnection,
    SingletonThreadPool, StaticConnection, StaticPool,
};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}

#[test]
fn pools_are_send_and_sync_and_guards_send() {
    send_sync::<Pool<ScriptedManager>>();
    send_sync::<NullPool<ScriptedManager>>();
    send_sync::<StaticPool<ScriptedManager>>();
    send_sync::<AssertionPool<ScriptedManager>>();
    send_sync::<SingletonThreadPool<ScriptedManager>>();
    send::<PooledConnection<'static, ScriptedManager>>();
    send::<OwnedPooledConnection<ScriptedManager>>();
    send::<StaticConnection<ScriptedManager>>();
    send_sync::<Error<ScriptedError>>();
}

#[test]
fn a_pool_clone_is_the_same_pool() {
    let pool = Pool::builder(ScriptedManager::new()).build().unwrap();
    let other = pool.clone();
    let c = pool.get().unwrap();
    assert_eq!(other.state().checked_out, 1);
    drop(c);
}

#[test]
fn a_borrowed_guard_moves_to_a_scoped_thread() {
    let pool = Pool::builder(ScriptedManager::new()).build().unwrap();
    let c = pool.get().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || assert_eq!(c.id, 1));
    });
    assert_eq!(pool.state().idle, 1);
}
