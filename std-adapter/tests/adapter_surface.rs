//! Issue 12.8 and 12.12: every kind has the same surface (owned guards, a non-waiting
//! checkout that answers "would block", pool-wide invalidation, detach and the closing of a
//! detached connection, which resets it first and fires `close_detached`).

use std::sync::{Arc, Mutex};

use tarn_core::testing::ScriptedManager;
use tarn_pool::{
    AssertionPool, Error, Events, KindConnection, NullPool, Pool, PooledConnection, ResetMode,
    SingletonThreadPool, StaticConnection, StaticPool, ThreadConnection,
};

/// Records the events a detached connection's close fires, in order.
#[derive(Default)]
struct Log(Mutex<Vec<&'static str>>);

impl<C> Events<C> for Log {
    fn reset(&self, _: &mut C, _: ResetMode) {
        self.0.lock().unwrap().push("reset");
    }
    fn close_detached(&self, _: &mut C) {
        self.0.lock().unwrap().push("close_detached");
    }
}

/// Closes `raw` through `close` and checks the reference's order: reset (the manager's
/// rollback too), then `close_detached`, then closed.
fn closes_detached_after_a_reset(manager: &ScriptedManager, log: &Log, close: impl FnOnce()) {
    let (resets, closed) = (manager.resets(), manager.closed());
    log.0.lock().unwrap().clear();
    close();
    assert_eq!(*log.0.lock().unwrap(), ["reset", "close_detached"]);
    assert_eq!(manager.resets(), resets + 1, "rolled back first");
    assert_eq!(manager.closed(), closed + 1, "then closed");
}

#[test]
fn every_kind_closes_a_detached_connection_after_a_reset() {
    let manager = ScriptedManager::new();
    let log = Arc::new(Log::default());
    let pool = Pool::builder(manager.clone())
        .listener(Arc::clone(&log))
        .build()
        .unwrap();
    let raw = PooledConnection::detach(pool.get().unwrap());
    closes_detached_after_a_reset(&manager, &log, || pool.close_detached(raw));

    let pool = NullPool::builder(manager.clone())
        .listener(Arc::clone(&log))
        .build();
    let raw = KindConnection::detach(pool.get().unwrap());
    closes_detached_after_a_reset(&manager, &log, || pool.close_detached(raw));

    let pool = AssertionPool::builder(manager.clone())
        .listener(Arc::clone(&log))
        .build();
    let raw = KindConnection::detach(pool.get().unwrap());
    closes_detached_after_a_reset(&manager, &log, || pool.close_detached(raw));

    let pool = StaticPool::builder(manager.clone())
        .listener(Arc::clone(&log))
        .build();
    let raw = StaticConnection::detach(pool.get().unwrap()).unwrap_or_else(|_| panic!("one"));
    closes_detached_after_a_reset(&manager, &log, || pool.close_detached(raw));

    let pool = SingletonThreadPool::builder(manager.clone())
        .listener(Arc::clone(&log))
        .build();
    let raw = ThreadConnection::detach(pool.get().unwrap()).unwrap_or_else(|_| panic!("one"));
    closes_detached_after_a_reset(&manager, &log, || pool.close_detached(raw));
    manager.assert_all_closed_once(0);
}

#[test]
fn try_get_owned_answers_would_block_not_timeout() {
    let pool = Pool::builder(ScriptedManager::new())
        .pool_size(1)
        .max_overflow(0)
        .build()
        .unwrap();
    let held = pool.try_get_owned().unwrap();
    assert!(matches!(pool.try_get_owned(), Err(Error::WouldBlock)));
    drop(held);
    assert!(pool.try_get_owned().is_ok());

    let pool = AssertionPool::new(ScriptedManager::new());
    let held = pool.try_get_owned().unwrap();
    assert!(matches!(pool.try_get_owned(), Err(Error::WouldBlock)));
    assert!(matches!(
        pool.get_owned(),
        Err(Error::AlreadyCheckedOut { .. })
    ));
    drop(held);

    // The kinds that are never short of capacity hand one out at once.
    let null = NullPool::new(ScriptedManager::new());
    let a = null.try_get_owned().unwrap();
    let b = null.try_get_owned().unwrap();
    assert_ne!(a.id, b.id);
    let stat = StaticPool::new(ScriptedManager::new());
    assert_eq!(stat.try_get_owned().unwrap().id, 1);
    let single = SingletonThreadPool::new(ScriptedManager::new());
    assert_eq!(single.try_get_owned().unwrap().id, 1);
}

#[test]
fn owned_guards_of_every_kind_are_static() {
    fn is_static<T: 'static>(_: &T) {}
    let null = NullPool::new(ScriptedManager::new());
    let c = null.get_owned().unwrap();
    is_static(&c);
    std::thread::spawn(move || assert_eq!(c.id, 1))
        .join()
        .unwrap();
    let assertion = AssertionPool::new(ScriptedManager::new());
    let c = assertion.get_owned().unwrap();
    std::thread::spawn(move || assert_eq!(c.id, 1))
        .join()
        .unwrap();
    let stat = StaticPool::new(ScriptedManager::new());
    is_static(&stat.get_owned().unwrap());
    let single = SingletonThreadPool::new(ScriptedManager::new());
    is_static(&single.get_owned().unwrap());
}

#[test]
fn invalidate_all_replaces_every_kinds_connection() {
    let manager = ScriptedManager::new();
    let assertion = AssertionPool::new(manager.clone());
    drop(assertion.get().unwrap());
    assertion.invalidate_all();
    assert_eq!(assertion.get().unwrap().id, 2);
    assert_eq!(manager.closed(), 1);

    let manager = ScriptedManager::new();
    let stat = StaticPool::new(manager.clone());
    drop(stat.get().unwrap());
    stat.invalidate_all();
    assert_eq!(stat.get().unwrap().id, 2);
    assert_eq!(manager.closed(), 1);

    let manager = ScriptedManager::new();
    let single = SingletonThreadPool::new(manager.clone());
    let out = single.get().unwrap();
    single.invalidate_all();
    drop(out);
    assert_eq!(
        single.get().unwrap().id,
        2,
        "replaced at the thread's next checkout"
    );
    assert_eq!(manager.closed(), 1);

    let manager = ScriptedManager::new();
    let null = NullPool::new(manager.clone());
    let out = null.get().unwrap();
    null.invalidate_all();
    drop(out);
    assert_eq!(manager.closed(), 1);
}

/// Issue 12.1: every kind takes a clock, so ages (recycle) can be driven in tests.
#[test]
fn every_kind_measures_recycle_on_its_clock() {
    use std::time::Duration;
    use tarn_core::testing::ManualClock;
    const MINUTE: usize = 60_000_000_000; // ns

    let (manager, clock) = (ScriptedManager::new(), ManualClock::new());
    let pool = Pool::builder(manager.clone())
        .recycle(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
        .unwrap();
    drop(pool.get().unwrap());
    assert_eq!(pool.get().unwrap().id, 1, "young: kept");
    clock.advance(MINUTE + 1);
    assert_eq!(
        pool.get().unwrap().id,
        2,
        "old on the pool's clock: replaced"
    );

    let (manager, clock) = (ScriptedManager::new(), ManualClock::new());
    let pool = AssertionPool::builder(manager.clone())
        .recycle(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    drop(pool.get().unwrap());
    clock.advance(MINUTE + 1);
    assert_eq!(pool.get().unwrap().id, 2);

    let (manager, clock) = (ScriptedManager::new(), ManualClock::new());
    let pool = StaticPool::builder(manager.clone())
        .recycle(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    drop(pool.get().unwrap());
    assert_eq!(pool.get().unwrap().id, 1);
    clock.advance(MINUTE + 1);
    assert_eq!(pool.get().unwrap().id, 2);

    let (manager, clock) = (ScriptedManager::new(), ManualClock::new());
    let pool = SingletonThreadPool::builder(manager.clone())
        .recycle(Duration::from_secs(60))
        .clock(clock.clone())
        .build();
    drop(pool.get().unwrap());
    assert_eq!(pool.get().unwrap().id, 1);
    clock.advance(MINUTE + 1);
    assert_eq!(pool.get().unwrap().id, 2);
    drop(pool);
    manager.assert_all_closed_once(0);
}

/// Issue 12.12: `recreate` needs no `Clone` manager: the new pool shares this one's.
#[test]
fn every_kind_recreates_over_a_manager_that_is_not_clone() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Counting(AtomicUsize);
    impl tarn_pool::Manager for Counting {
        type Connection = usize;
        type Error = std::convert::Infallible;
        fn connect(&self) -> Result<usize, Self::Error> {
            Ok(self.0.fetch_add(1, Ordering::SeqCst) + 1)
        }
        fn reset(&self, _: &mut usize, _: ResetMode) -> Result<(), Self::Error> {
            Ok(())
        }
        fn close(&self, _: usize) {}
    }
    let new = || Counting(AtomicUsize::new(0));
    let pool = Pool::builder(new()).logging_name("p").build().unwrap();
    drop(pool.get().unwrap());
    let fresh = pool.recreate();
    assert_eq!(fresh.logging_name(), "p");
    assert_eq!(*fresh.get().unwrap(), 2, "the same manager, shared");
    let null = NullPool::new(new()).recreate();
    assert_eq!(*null.get().unwrap(), 1);
    let stat = StaticPool::new(new()).recreate();
    assert_eq!(*stat.get().unwrap(), 1);
    let assertion = AssertionPool::new(new()).recreate();
    assert_eq!(*assertion.get().unwrap(), 1);
    let single = SingletonThreadPool::new(new()).recreate();
    assert_eq!(*single.get().unwrap(), 1);
}

/// Issue 13.4 (part): a failed reset is its own error, and every error's message carries
/// its cause.
#[test]
fn a_failed_reset_is_its_own_error_and_messages_carry_the_cause() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone()).build().unwrap();
    let c = pool.get().unwrap();
    manager.fail_resets(1);
    let err = PooledConnection::checkin(c).unwrap_err();
    assert!(matches!(err, Error::Reset(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "failed to reset a connection on return (it was invalidated): scripted reset failure"
    );
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("scripted reset failure"));
    assert_eq!(pool.state().open, 0, "invalidated");

    manager.fail_connects(1);
    let err = pool.get().unwrap_err();
    assert!(
        err.to_string().ends_with(": scripted connect failure"),
        "{err}"
    );
    manager.assert_all_closed_once(0);
}

/// Issue 13.5 (part): a guard of any kind dropped while its thread unwinds, with listeners
/// that panic as it closes the connection, neither aborts the process nor leaks: the
/// connection is invalidated (not reset: it may be mid-transaction) and closed once.
#[test]
fn a_guard_dropped_during_unwinding_with_panicking_listeners_does_not_abort() {
    struct PanicOnClose;
    impl<C> Events<C> for PanicOnClose {
        fn invalidate(&self, _: &mut C, _: tarn_pool::InvalidateReason) {
            panic!("invalidate listener boom");
        }
        fn close(&self, _: &mut C, _: tarn_pool::CloseReason) {
            panic!("close listener boom");
        }
    }
    fn unwind_holding<G>(get: impl FnOnce() -> G + Send) {
        let r = std::thread::scope(|s| {
            s.spawn(move || {
                let _held = get();
                panic!("the holder panics");
            })
            .join()
        });
        assert!(
            r.is_err(),
            "the holder's own panic reaches join, nothing else"
        );
    }
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .listener(PanicOnClose)
        .build()
        .unwrap();
    unwind_holding(|| pool.get().unwrap());
    let null = NullPool::builder(manager.clone())
        .listener(PanicOnClose)
        .build();
    unwind_holding(|| null.get().unwrap());
    let assertion = AssertionPool::builder(manager.clone())
        .listener(PanicOnClose)
        .build();
    unwind_holding(|| assertion.get().unwrap());
    let stat = StaticPool::builder(manager.clone())
        .listener(PanicOnClose)
        .build();
    unwind_holding(|| stat.get().unwrap());
    let single = SingletonThreadPool::builder(manager.clone())
        .listener(PanicOnClose)
        .build();
    let single_ref = &single;
    unwind_holding(move || drop(single_ref.get().unwrap()));
    assert_eq!(
        manager.resets(),
        1,
        "only the singleton's clean return reset"
    );
    assert_eq!(pool.state().open, 0);
    // Two panicking hooks in one operation, no holder panic: the invalidate listener's
    // panic unwinds through the core's drop guard, whose close event panics again.
    PooledConnection::invalidate(pool.get().unwrap());
    assert_eq!(pool.state().open, 0);
    assert_eq!(manager.opened(), 6);
    assert_eq!(manager.closed(), 6, "each closed once");
    manager.assert_all_closed_once(0);
}
