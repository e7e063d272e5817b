//! Issue 12.2: per-connection info (the reference's `_ConnectionRecord.info` and the fairy's
//! `info`) on every kind: kept across checkouts of one connection, empty for the connection
//! that replaces it, and handed over on detach.

use std::time::Duration;

use tarn_core::testing::{ManualClock, ScriptedManager};
use tarn_pool::{
    AssertionPool, Info, KindConnection, NullPool, OwnedPooledConnection, Pool, PooledConnection,
    SingletonThreadPool, StaticConnection, StaticPool, ThreadConnection,
};

/// What the tests store: the id of the connection it was stored on.
#[derive(Debug, PartialEq)]
struct Tag(usize);

const MINUTE: usize = 60_000_000_000; // ns on the ManualClock

#[test]
fn pool_info_is_kept_across_checkouts_of_one_connection() {
    let pool = Pool::builder(ScriptedManager::new())
        .pool_size(1)
        .build()
        .unwrap();
    let mut c = pool.get().unwrap();
    assert!(PooledConnection::info(&c).is_empty());
    let id = c.id;
    PooledConnection::info_mut(&mut c).insert(Tag(id));
    PooledConnection::info_mut(&mut c).insert(String::from("second type"));
    drop(c);
    let mut c = pool.get().unwrap();
    assert_eq!(c.id, 1, "the same connection");
    assert_eq!(PooledConnection::info(&c).get::<Tag>(), Some(&Tag(1)));
    assert_eq!(PooledConnection::info(&c).len(), 2);
    assert_eq!(
        PooledConnection::info_mut(&mut c).remove::<String>(),
        Some(String::from("second type"))
    );
    drop(c);
    let c = pool.get_owned().unwrap();
    assert_eq!(OwnedPooledConnection::info(&c).get::<Tag>(), Some(&Tag(1)));
    assert_eq!(
        OwnedPooledConnection::info(&c).len(),
        1,
        "the removal was kept"
    );
}

#[test]
fn pool_info_is_cleared_when_the_connection_is_replaced() {
    let (manager, clock) = (ScriptedManager::new(), ManualClock::new());
    let pool = Pool::builder(manager.clone())
        .pool_size(1)
        .recycle(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
        .unwrap();

    // Invalidated: the next checkout opens a new connection, with empty info.
    let mut c = pool.get().unwrap();
    let id = c.id;
    PooledConnection::info_mut(&mut c).insert(Tag(id));
    PooledConnection::invalidate(c);
    let mut c = pool.get().unwrap();
    assert_eq!(c.id, 2);
    assert!(PooledConnection::info(&c).is_empty(), "after invalidate");

    // Soft-invalidated: closed on return, replaced at the next checkout.
    let id = c.id;
    PooledConnection::info_mut(&mut c).insert(Tag(id));
    PooledConnection::soft_invalidate(&mut c);
    drop(c);
    let mut c = pool.get().unwrap();
    assert_eq!(c.id, 3);
    assert!(
        PooledConnection::info(&c).is_empty(),
        "after soft invalidate"
    );

    // Recycled: too old on the pool's clock.
    let id = c.id;
    PooledConnection::info_mut(&mut c).insert(Tag(id));
    drop(c);
    clock.advance(MINUTE + 1);
    let mut c = pool.get().unwrap();
    assert_eq!(c.id, 4);
    assert!(PooledConnection::info(&c).is_empty(), "after recycle");

    // Pool-wide invalidation, with the connection checked out and then idle.
    let id = c.id;
    PooledConnection::info_mut(&mut c).insert(Tag(id));
    pool.invalidate_all();
    drop(c);
    let mut c = pool.get().unwrap();
    assert_eq!(c.id, 5);
    assert!(
        PooledConnection::info(&c).is_empty(),
        "after invalidate_all (out)"
    );
    let id = c.id;
    PooledConnection::info_mut(&mut c).insert(Tag(id));
    drop(c);
    pool.invalidate_all();
    let c = pool.get().unwrap();
    assert_eq!(c.id, 6);
    assert!(
        PooledConnection::info(&c).is_empty(),
        "after invalidate_all (idle)"
    );
    drop(c);
    drop(pool);
    manager.assert_all_closed_once(0);
}

#[test]
fn pool_detach_hands_over_the_info_and_the_slot_starts_empty() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone()).pool_size(1).build().unwrap();
    let mut c = pool.get().unwrap();
    let id = c.id;
    PooledConnection::info_mut(&mut c).insert(Tag(id));
    let (raw, info) = PooledConnection::detach_with_info(c);
    assert_eq!((raw.id, info.get::<Tag>()), (1, Some(&Tag(1))));
    let c = pool.get().unwrap();
    assert_eq!(c.id, 2);
    assert!(PooledConnection::info(&c).is_empty(), "a new connection");
    drop(c);

    let mut c = pool.get_owned().unwrap();
    let id = c.id;
    OwnedPooledConnection::info_mut(&mut c).insert(Tag(id));
    let (raw2, info2) = OwnedPooledConnection::detach_with_info(c);
    assert_eq!((raw2.id, info2.get::<Tag>()), (2, Some(&Tag(2))));
    pool.close_detached(raw);
    pool.close_detached(raw2);
    drop(pool);
    manager.assert_all_closed_once(0);
}

#[test]
fn null_pool_info_starts_empty_every_checkout_and_detaches() {
    let manager = ScriptedManager::new();
    let pool = NullPool::new(manager.clone());
    let mut c = pool.get().unwrap();
    let id = c.id;
    KindConnection::info_mut(&mut c).insert(Tag(id));
    drop(c);
    let mut c = pool.get().unwrap();
    assert_eq!(c.id, 2, "NullPool opens a connection per checkout");
    assert!(KindConnection::info(&c).is_empty());
    let id = c.id;
    KindConnection::info_mut(&mut c).insert(Tag(id));
    let (raw, info) = KindConnection::detach_with_info(c);
    assert_eq!((raw.id, info.get::<Tag>()), (2, Some(&Tag(2))));
    pool.close_detached(raw);
    manager.assert_all_closed_once(0);
}

#[test]
fn assertion_pool_info_is_kept_cleared_and_detached() {
    let (manager, clock) = (ScriptedManager::new(), ManualClock::new());
    let pool = AssertionPool::builder(manager.clone())
        .recycle(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    let mut c = pool.get().unwrap();
    let id = c.id;
    KindConnection::info_mut(&mut c).insert(Tag(id));
    drop(c);
    let c = pool.get().unwrap();
    assert_eq!(
        (c.id, KindConnection::info(&c).get::<Tag>()),
        (1, Some(&Tag(1)))
    );
    KindConnection::invalidate(c);

    let mut c = pool.get().unwrap();
    assert_eq!(c.id, 2);
    assert!(KindConnection::info(&c).is_empty(), "after invalidate");
    let id = c.id;
    KindConnection::info_mut(&mut c).insert(Tag(id));
    drop(c);
    clock.advance(MINUTE + 1);
    let mut c = pool.get().unwrap();
    assert_eq!(c.id, 3);
    assert!(KindConnection::info(&c).is_empty(), "after recycle");

    let id = c.id;
    KindConnection::info_mut(&mut c).insert(Tag(id));
    drop(c);
    pool.invalidate_all();
    let mut c = pool.get().unwrap();
    assert_eq!(c.id, 4);
    assert!(KindConnection::info(&c).is_empty(), "after invalidate_all");

    let id = c.id;
    KindConnection::info_mut(&mut c).insert(Tag(id));
    let (raw, info) = KindConnection::detach_with_info(c);
    assert_eq!((raw.id, info.get::<Tag>()), (4, Some(&Tag(4))));
    assert!(KindConnection::info(&pool.get().unwrap()).is_empty());
    pool.close_detached(raw);
    pool.dispose();
    manager.assert_all_closed_once(0);
}

#[test]
fn static_pool_info_is_shared_kept_cleared_and_detached() {
    let manager = ScriptedManager::new();
    let pool = StaticPool::new(manager.clone());
    let a = pool.get().unwrap();
    StaticConnection::info(&a).insert(Tag(a.id));
    let b = pool.get().unwrap();
    assert_eq!(
        StaticConnection::info(&b).get::<Tag>(),
        Some(&Tag(1)),
        "shared"
    );
    drop((a, b));
    let a = pool.get().unwrap();
    assert_eq!(a.id, 1);
    assert_eq!(
        StaticConnection::info(&a).get::<Tag>(),
        Some(&Tag(1)),
        "kept"
    );
    StaticConnection::invalidate(a);

    let a = pool.get().unwrap();
    assert_eq!(a.id, 2);
    assert!(StaticConnection::info(&a).is_empty(), "after invalidate");
    StaticConnection::info(&a).insert(Tag(a.id));
    drop(a);
    pool.invalidate_all();
    let a = pool.get().unwrap();
    assert_eq!(a.id, 3);
    assert!(
        StaticConnection::info(&a).is_empty(),
        "after invalidate_all"
    );

    // Shared across threads: a value set on one thread is seen on another.
    std::thread::scope(|s| {
        s.spawn(|| {
            let c = pool.get().unwrap();
            StaticConnection::info(&c).insert(Tag(c.id));
        });
    });
    assert_eq!(StaticConnection::info(&a).get::<Tag>(), Some(&Tag(3)));

    let b = pool.get().unwrap();
    let a = StaticConnection::detach_with_info(a).expect_err("b is out");
    drop(b);
    let (raw, info) = StaticConnection::detach_with_info(a).ok().unwrap();
    assert_eq!((raw.id, info.get::<Tag>()), (3, Some(&Tag(3))));
    assert!(StaticConnection::info(&pool.get().unwrap()).is_empty());
    pool.close_detached(raw);
    pool.dispose();
    manager.assert_all_closed_once(0);
}

#[test]
fn singleton_thread_pool_info_is_kept_cleared_and_detached() {
    let manager = ScriptedManager::new();
    let pool = SingletonThreadPool::new(manager.clone());
    let outer = pool.get().unwrap();
    ThreadConnection::info(&outer)
        .unwrap()
        .insert(Tag(outer.id));
    let inner = pool.get().unwrap();
    assert_eq!(
        ThreadConnection::info(&inner).unwrap().get::<Tag>(),
        Some(&Tag(1)),
        "shared with a nested checkout"
    );
    let held = ThreadConnection::info(&inner).unwrap();
    assert!(
        ThreadConnection::info(&outer).is_none(),
        "borrowed through inner"
    );
    drop(held);
    drop((inner, outer));
    let c = pool.get().unwrap();
    assert_eq!(c.id, 1);
    assert_eq!(
        ThreadConnection::info(&c).unwrap().get::<Tag>(),
        Some(&Tag(1)),
        "kept"
    );
    ThreadConnection::invalidate(c);

    let c = pool.get().unwrap();
    assert_eq!(c.id, 2);
    assert!(
        ThreadConnection::info(&c).unwrap().is_empty(),
        "after invalidate"
    );
    ThreadConnection::info(&c).unwrap().insert(Tag(c.id));
    drop(c);
    pool.invalidate_all();
    let c = pool.get().unwrap();
    assert_eq!(c.id, 3);
    assert!(
        ThreadConnection::info(&c).unwrap().is_empty(),
        "after invalidate_all"
    );

    ThreadConnection::info(&c).unwrap().insert(Tag(c.id));
    let (raw, info) = ThreadConnection::detach_with_info(c).ok().unwrap();
    assert_eq!((raw.id, info.get::<Tag>()), (3, Some(&Tag(3))));
    assert!(ThreadConnection::info(&pool.get().unwrap())
        .unwrap()
        .is_empty());
    pool.close_detached(raw);
    pool.dispose();
    manager.assert_all_closed_once(0);
}

#[test]
fn info_debug_shows_no_values() {
    let mut info = Info::new();
    info.insert(String::from("postgres://user:hunter2@db/app"));
    let shown = format!("{info:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("len: 1"), "{shown}");
}
