//! Point 4: the five pool kinds.

use std::sync::{Arc, Mutex};

use tarn_core::testing::ScriptedManager;
use tarn_pool::{
    AssertionPool, CheckoutEvent, CloseReason, Disconnected, Error, Events, KindConnection,
    NullPool, SingletonThreadPool, StaticConnection, StaticPool, ThreadConnection,
};

#[test]
fn null_pool_opens_and_closes_per_checkout_with_reset() {
    let manager = ScriptedManager::new();
    let pool = NullPool::new(manager.clone());
    for i in 1..=3 {
        let c = pool.get().unwrap();
        assert_eq!(c.id, i, "a new connection each time");
        drop(c);
        assert_eq!(manager.closed(), i);
    }
    assert_eq!(manager.resets(), 3, "reset on return before closing");
    assert_eq!(pool.status(), "NullPool");
    manager.assert_all_closed_once(0);
}

#[test]
fn static_pool_shares_one_connection_across_threads() {
    let manager = ScriptedManager::new();
    let pool = StaticPool::new(manager.clone());
    let ids = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let a = pool.get().unwrap();
                let b = pool.get().unwrap(); // held at once: shared access
                ids.lock().unwrap().push((a.id, b.id));
            });
        }
    });
    assert!(ids.lock().unwrap().iter().all(|&(a, b)| a == 1 && b == 1));
    assert_eq!(manager.opened(), 1);
    let held = pool.get().unwrap();
    pool.dispose();
    assert_eq!(
        manager.closed(),
        0,
        "still in use: not closed under its users"
    );
    drop(held);
    assert_eq!(manager.closed(), 1, "closed once the last handle is gone");
    assert_eq!(pool.get().unwrap().id, 2, "a new one after dispose");
    drop(pool);
    manager.assert_all_closed_once(0);
}

#[test]
fn assertion_pool_second_checkout_carries_the_first_backtrace() {
    #[inline(never)]
    fn first_checkout_site(
        pool: &AssertionPool<ScriptedManager>,
    ) -> KindConnection<'_, ScriptedManager> {
        pool.get().unwrap()
    }
    let manager = ScriptedManager::new();
    let pool = AssertionPool::new(manager.clone());
    let first = first_checkout_site(&pool);
    let err = pool.get().unwrap_err();
    let Error::AlreadyCheckedOut {
        backtrace: Some(bt),
    } = &err
    else {
        panic!("expected AlreadyCheckedOut with a backtrace, got {err:?}");
    };
    assert_eq!(bt.status(), std::backtrace::BacktraceStatus::Captured);
    let text = err.to_string();
    assert!(
        text.starts_with("connection is already checked out at:"),
        "{text}"
    );
    assert!(
        text.contains("first_checkout_site"),
        "the first checkout's frames: {text}"
    );
    drop(first);
    let again = pool.get().unwrap();
    assert_eq!(again.id, 1, "the one connection is reused");
    drop(again);
    drop(pool);
    manager.assert_all_closed_once(0);
}

/// Counts `checkout` and `checkin` events: (checkouts, checkins).
#[derive(Default)]
struct Count(Mutex<(usize, usize)>);

impl<C> Events<C> for Count {
    fn checkout(&self, _: &mut C, _: &CheckoutEvent) -> Result<(), Disconnected> {
        self.0.lock().unwrap().0 += 1;
        Ok(())
    }
    fn checkin(&self, _: &mut C) {
        self.0.lock().unwrap().1 += 1;
    }
}

/// Reference `_finalize_fairy`: every kind resets on return. A StaticPool connection is
/// reset and checked in each time its last holder is done, and checked out again next time.
#[test]
fn static_pool_resets_and_checks_in_on_every_return() {
    let manager = ScriptedManager::new();
    let count = Arc::new(Count::default());
    let pool = StaticPool::builder(manager.clone())
        .listener(Arc::clone(&count))
        .build();
    for i in 1..=3 {
        let a = pool.get().unwrap();
        let b = pool.get().unwrap();
        assert_eq!((a.id, b.id), (1, 1));
        drop(a);
        assert_eq!(manager.resets(), i - 1, "b still holds it");
        drop(b);
        assert_eq!(manager.resets(), i, "reset when the last holder is done");
    }
    assert_eq!(
        *count.0.lock().unwrap(),
        (3, 3),
        "checkouts and checkins balance"
    );
    // Many threads returning and taking it at once never open a second connection.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..200 {
                    assert_eq!(pool.get().unwrap().id, 1);
                }
            });
        }
    });
    assert_eq!(manager.opened(), 1);
    let (out, back) = *count.0.lock().unwrap();
    assert_eq!(out, back);
    drop(pool);
    manager.assert_all_closed_once(0);
}

#[test]
fn static_pool_connection_can_be_invalidated_soft_invalidated_and_detached() {
    let manager = ScriptedManager::new();
    let pool = StaticPool::new(manager.clone());
    let (a, b) = (pool.get().unwrap(), pool.get().unwrap());
    StaticConnection::invalidate(a);
    assert_eq!(manager.closed(), 0, "b still uses it");
    drop(b);
    assert_eq!(manager.closed(), 1, "closed when the last holder is done");
    assert_eq!(pool.stats().invalidated, 1);
    let c = pool.get().unwrap();
    assert_eq!(c.id, 2, "a new connection after invalidation");
    StaticConnection::soft_invalidate(&c);
    drop(c);
    assert_eq!(manager.closed(), 2, "soft-invalidated: closed on return");
    let d = pool.get().unwrap();
    assert_eq!(d.id, 3);
    let raw = StaticConnection::detach(d).unwrap_or_else(|_| panic!("the only handle"));
    assert_eq!((raw.id, manager.closed()), (3, 2));
    assert_eq!(pool.get().unwrap().id, 4, "a new connection after detach");
    tarn_pool::Manager::close(&manager, raw);
    drop(pool);
    manager.assert_all_closed_once(0);
}

#[test]
fn singleton_thread_pool_one_connection_per_thread() {
    let manager = ScriptedManager::new();
    let pool = SingletonThreadPool::builder(manager.clone())
        .pool_size(10)
        .build();
    let main_id = pool.get().unwrap().id;
    assert_eq!(pool.get().unwrap().id, main_id);
    let other = std::thread::scope(|s| {
        s.spawn(|| {
            let a = pool.get().unwrap().id;
            let b = pool.get().unwrap().id;
            assert_eq!(a, b);
            a
        })
        .join()
        .unwrap()
    });
    assert_ne!(other, main_id);
    assert!(pool.status().starts_with("SingletonThreadPool id:"));
}

#[test]
fn singleton_thread_pool_closes_a_thread_connection_at_thread_exit() {
    let manager = ScriptedManager::new();
    let pool = SingletonThreadPool::builder(manager.clone())
        .pool_size(10)
        .build();
    // `spawn` + `join` (not a scope): join waits for the thread's thread-local
    // destructors, a scope only for its closure.
    let p2 = pool.clone();
    std::thread::spawn(move || drop(p2.get().unwrap()))
        .join()
        .unwrap();
    assert_eq!(manager.closed(), 1, "closed when its thread exited");
    assert_eq!(pool.size(), 0);
}

#[test]
fn singleton_thread_pool_keeps_at_most_pool_size_threads() {
    let manager = ScriptedManager::new();
    let pool = SingletonThreadPool::builder(manager.clone())
        .pool_size(2)
        .build();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(5));
    let threads: Vec<_> = (0..5)
        .map(|_| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                drop(pool.get().unwrap());
                barrier.wait(); // all five alive at once
                assert!(pool.size() <= 2);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap(); // also waits for the thread-local destructors
    }
    assert!(manager.closed() >= 3, "the clean-up rule closed the oldest");
    drop(pool);
    manager.assert_all_closed_once(0);
}

/// Reference lines 949-961: a nested checkout on one thread returns the thread's
/// connection; only the outermost return resets and checks in.
#[test]
fn singleton_thread_pool_nested_checkout_shares_the_threads_connection() {
    let manager = ScriptedManager::new();
    let count = Arc::new(Count::default());
    let pool = SingletonThreadPool::builder(manager.clone())
        .listener(Arc::clone(&count))
        .build();
    let outer = pool.get().unwrap();
    let inner = pool.get().unwrap();
    let innermost = pool.get().unwrap();
    assert_eq!((inner.id, innermost.id), (outer.id, outer.id));
    assert_eq!(manager.opened(), 1);
    assert_eq!(ThreadConnection::handles(&outer), 3);
    drop(innermost);
    drop(inner);
    assert_eq!(manager.resets(), 0, "a nested return does not reset");
    assert_eq!(count.0.lock().unwrap().1, 0, "nor check in");
    drop(outer);
    assert_eq!(manager.resets(), 1, "the outermost return resets once");
    assert_eq!(
        *count.0.lock().unwrap(),
        (1, 1),
        "one checkout, one checkin"
    );
    // Another thread still gets its own connection while this one's is out.
    let outer = pool.get().unwrap();
    let other = std::thread::scope(|s| s.spawn(|| pool.get().unwrap().id).join().unwrap());
    assert_ne!(other, outer.id);
    drop(outer);
    drop(pool);
    manager.assert_all_closed_once(0);
}

#[test]
fn singleton_thread_pool_nested_invalidate_and_detach_wait_for_the_outermost() {
    let manager = ScriptedManager::new();
    let pool = SingletonThreadPool::new(manager.clone());
    let outer = pool.get().unwrap();
    let inner = pool.get().unwrap();
    ThreadConnection::invalidate(inner);
    assert_eq!(manager.closed(), 0, "the outer handle still uses it");
    assert_eq!(pool.get().unwrap().id, 1, "still the thread's connection");
    let outer = ThreadConnection::detach(outer).expect("the only handle left");
    // Detaching the only handle takes the connection out, invalidation flag and all.
    assert_eq!((outer.id, manager.closed()), (1, 0));
    let next = pool.get().unwrap();
    assert_eq!(next.id, 2, "a new connection after the detach");
    let nested = pool.get().unwrap();
    let nested = ThreadConnection::detach(nested).expect_err("the outer handle is out");
    ThreadConnection::invalidate(nested);
    drop(next);
    assert_eq!(manager.closed(), 1, "invalidated at the outermost return");
    assert_eq!(pool.get().unwrap().id, 3);
    drop(pool);
    manager.assert_all_closed_once(1);
}

#[test]
fn singleton_thread_pool_checkout_from_a_thread_local_destructor_works() {
    struct UsesPoolOnExit(Option<SingletonThreadPool<ScriptedManager>>);
    impl Drop for UsesPoolOnExit {
        fn drop(&mut self) {
            if let Some(p) = self.0.take() {
                let c = p.get().expect("a checkout during thread exit still works");
                assert!(c.id >= 1);
            }
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<UsesPoolOnExit> = const { std::cell::RefCell::new(UsesPoolOnExit(None)) };
    }
    let manager = ScriptedManager::new();
    let pool = SingletonThreadPool::new(manager.clone());
    let p2 = pool.clone();
    std::thread::spawn(move || {
        drop(p2.get().unwrap());
        LATE.with(|l| l.borrow_mut().0 = Some(p2.clone()));
    })
    .join()
    .unwrap();
    drop(pool);
    manager.assert_all_closed_once(0);
}

#[test]
fn kinds_fire_listener_events() {
    #[derive(Default)]
    struct Log(Mutex<Vec<&'static str>>);
    impl<C> Events<C> for Log {
        fn first_connect(&self, _: &mut C) {
            self.0.lock().unwrap().push("first_connect");
        }
        fn connect(&self, _: &mut C) {
            self.0.lock().unwrap().push("connect");
        }
        fn checkin(&self, _: &mut C) {
            self.0.lock().unwrap().push("checkin");
        }
        fn close(&self, _: &mut C, _: CloseReason) {
            self.0.lock().unwrap().push("close");
        }
    }
    let log = Arc::new(Log::default());
    let pool = NullPool::builder(ScriptedManager::new())
        .listener(Arc::clone(&log))
        .build();
    drop(pool.get().unwrap());
    drop(pool.get().unwrap());
    assert_eq!(
        *log.0.lock().unwrap(),
        [
            "first_connect",
            "connect",
            "checkin",
            "close",
            "connect",
            "checkin",
            "close"
        ]
    );
}
