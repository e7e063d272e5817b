//! Point 5: listeners, their order, first_connect once, and panicking listeners.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tarn_core::testing::ScriptedManager;
use tarn_pool::{
    CheckoutEvent, CloseReason, Disconnected, Error, Events, InvalidateReason, Pool,
    PooledConnection, ResetMode,
};

#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl<C> Events<C> for Log {
    fn first_connect(&self, _: &mut C) {
        self.push("first_connect");
    }
    fn connect(&self, _: &mut C) {
        self.push("connect");
    }
    fn checkout(&self, _: &mut C, e: &CheckoutEvent) -> Result<(), Disconnected> {
        self.push(format!("checkout fresh={}", e.fresh));
        Ok(())
    }
    fn reset(&self, _: &mut C, mode: ResetMode) {
        self.push(format!("reset {mode:?}"));
    }
    fn checkin(&self, _: &mut C) {
        self.push("checkin");
    }
    fn invalidate(&self, _: &mut C, reason: InvalidateReason) {
        self.push(format!("invalidate {reason}"));
    }
    fn soft_invalidate(&self, _: &mut C) {
        self.push("soft_invalidate");
    }
    fn close(&self, _: &mut C, _: CloseReason) {
        self.push("close");
    }
    fn detach(&self, _: &mut C) {
        self.push("detach");
    }
    fn close_detached(&self, _: &mut C) {
        self.push("close_detached");
    }
}

#[test]
fn all_ten_events_fire_in_the_references_order() {
    let log = Arc::new(Log::default());
    let pool = Pool::builder(ScriptedManager::new())
        .pool_size(1)
        .max_overflow(0)
        .listener(Arc::clone(&log))
        .build()
        .unwrap();
    drop(pool.get().unwrap());
    assert_eq!(
        log.take(),
        [
            "first_connect",
            "connect",
            "checkout fresh=true",
            "reset Rollback",
            "checkin"
        ]
    );
    let mut c = pool.get().unwrap();
    PooledConnection::soft_invalidate(&mut c);
    drop(c);
    assert_eq!(
        log.take(),
        [
            "checkout fresh=false",
            "soft_invalidate",
            "reset Rollback",
            "checkin",
            "close"
        ]
    );
    let c = pool.get().unwrap();
    PooledConnection::invalidate(c);
    assert_eq!(
        log.take(),
        [
            "connect",
            "checkout fresh=true",
            "invalidate invalidated by the user",
            "checkin",
            "close"
        ]
    );
    let raw = PooledConnection::detach(pool.get().unwrap());
    pool.close_detached(raw);
    assert_eq!(
        log.take(),
        [
            "connect",
            "checkout fresh=true",
            "detach",
            "reset Rollback",
            "close_detached"
        ],
        "a detached connection is reset before it is closed (_finalize_fairy)"
    );
}

#[test]
fn listeners_can_be_added_later_and_many_run_in_order() {
    let log = Arc::new(Log::default());
    let pool = Pool::builder(ScriptedManager::new()).build().unwrap();
    drop(pool.get().unwrap());
    assert!(log.take().is_empty());
    struct Tag(Arc<Log>, &'static str);
    impl<C> Events<C> for Tag {
        fn checkin(&self, _: &mut C) {
            self.0.push(self.1);
        }
    }
    pool.add_listener(Tag(Arc::clone(&log), "a"));
    pool.add_listener(Tag(Arc::clone(&log), "b"));
    drop(pool.get().unwrap());
    assert_eq!(log.take(), ["a", "b"]);
}

#[test]
fn first_connect_runs_once_and_the_others_wait_for_it() {
    struct Slow {
        first: AtomicUsize,
        running: AtomicBool,
        overlapped: AtomicBool,
    }
    impl<C> Events<C> for Slow {
        fn first_connect(&self, _: &mut C) {
            self.first.fetch_add(1, Ordering::SeqCst);
            self.running.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            self.running.store(false, Ordering::SeqCst);
        }
        fn checkout(&self, _: &mut C, _: &CheckoutEvent) -> Result<(), Disconnected> {
            if self.running.load(Ordering::SeqCst) {
                self.overlapped.store(true, Ordering::SeqCst);
            }
            Ok(())
        }
    }
    let slow = Arc::new(Slow {
        first: AtomicUsize::new(0),
        running: AtomicBool::new(false),
        overlapped: AtomicBool::new(false),
    });
    let pool = Pool::builder(ScriptedManager::new())
        .pool_size(8)
        .listener(Arc::clone(&slow))
        .build()
        .unwrap();
    let barrier = std::sync::Barrier::new(8);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                barrier.wait();
                let c = pool.get().expect("served after first_connect");
                std::thread::sleep(Duration::from_millis(5));
                drop(c);
            });
        }
    });
    assert_eq!(slow.first.load(Ordering::SeqCst), 1, "exactly once");
    assert!(
        !slow.overlapped.load(Ordering::SeqCst),
        "nobody got a connection during it"
    );
}

struct PanicOn {
    checkout: AtomicUsize,
    checkin: AtomicUsize,
}

impl<C> Events<C> for PanicOn {
    fn checkout(&self, _: &mut C, _: &CheckoutEvent) -> Result<(), Disconnected> {
        if self.checkout.fetch_sub(1, Ordering::SeqCst) == 1 {
            panic!("listener boom at checkout");
        }
        Ok(())
    }
    fn checkin(&self, _: &mut C) {
        if self.checkin.fetch_sub(1, Ordering::SeqCst) == 1 {
            panic!("listener boom at checkin");
        }
    }
}

#[test]
fn a_panicking_listener_gives_an_error_and_closes_the_connection() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pool_size(1)
        .max_overflow(0)
        .listener(PanicOn {
            checkout: AtomicUsize::new(1),
            checkin: AtomicUsize::new(1),
        })
        .build()
        .unwrap();
    let err = pool.get().unwrap_err();
    match &err {
        Error::Panicked { what } => assert!(what.contains("listener boom at checkout"), "{what}"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(manager.closed(), 1, "the connection it handled was closed");
    let st = pool.state();
    assert_eq!(
        (st.open, st.checked_out, st.idle),
        (0, 0, 0),
        "counts intact"
    );

    // A panic at checkin: reported by `checkin`, connection closed, capacity back.
    let c = pool.get().unwrap();
    let err = PooledConnection::checkin(c).unwrap_err();
    assert!(matches!(err, Error::Panicked { .. }));
    assert_eq!(pool.state().open, 0);
    // The pool keeps working.
    drop(pool.get().unwrap());
    drop(pool);
    manager.assert_all_closed_once(0);
}

#[test]
fn a_panicking_manager_gives_an_error() {
    let manager = ScriptedManager::new();
    manager.panic_connects(1);
    let pool = Pool::builder(manager.clone()).build().unwrap();
    assert!(matches!(pool.get(), Err(Error::Panicked { .. })));
    assert_eq!(pool.state().open, 0);
    manager.panic_resets(1);
    drop(pool.get().unwrap()); // the reset panics: invalidated, not kept
    assert_eq!((pool.state().open, manager.closed()), (0, 1));
    assert!(pool.get().is_ok());
}

#[test]
fn a_guard_dropped_while_panicking_is_invalidated_not_reset() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone()).build().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _c = pool.get().unwrap();
        panic!("user code failed mid-transaction");
    }));
    assert!(r.is_err());
    assert_eq!(manager.resets(), 0, "not reset");
    assert_eq!(
        (manager.closed(), pool.state().open),
        (1, 0),
        "closed instead"
    );
}

#[test]
fn a_listener_answering_disconnected_gets_a_fresh_connection() {
    struct RejectFirst(AtomicUsize);
    impl<C> Events<C> for RejectFirst {
        fn checkout(&self, _: &mut C, _: &CheckoutEvent) -> Result<(), Disconnected> {
            if self.0.fetch_sub(1, Ordering::SeqCst) > 0 {
                Err(Disconnected)
            } else {
                Ok(())
            }
        }
    }
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .listener(RejectFirst(AtomicUsize::new(1)))
        .build()
        .unwrap();
    assert_eq!(pool.get().unwrap().id, 2);
    let pool2 = Pool::builder(ScriptedManager::new())
        .listener(RejectFirst(AtomicUsize::new(5)))
        .build()
        .unwrap();
    assert!(matches!(pool2.get(), Err(Error::Disconnected)));
}
