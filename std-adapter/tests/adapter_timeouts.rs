//! A timeout says why no connection came free: the pool busy, or connections (the first
//! one among them) still being opened.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tarn_core::testing::{ScriptedConn, ScriptedError, ScriptedManager};
use tarn_core::{Manager, ResetMode};
use tarn_pool::{Error, Pool, TimeoutCause};

/// A manager whose `held`-th connect (1-based) waits at a gate until the test opens it.
#[derive(Clone)]
struct SlowConnect {
    inner: ScriptedManager,
    held: usize,
    calls: Arc<Mutex<usize>>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl SlowConnect {
    fn new(held: usize) -> Self {
        SlowConnect {
            inner: ScriptedManager::new(),
            held,
            calls: Arc::default(),
            gate: Arc::new((Mutex::new(false), Condvar::new())),
        }
    }

    fn open_gate(&self) {
        let (lock, cv) = &*self.gate;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
}

impl Manager for SlowConnect {
    type Connection = ScriptedConn;
    type Error = ScriptedError;
    fn connect(&self) -> Result<ScriptedConn, ScriptedError> {
        let call = {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            *calls
        };
        if call == self.held {
            let (lock, cv) = &*self.gate;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
        }
        self.inner.connect()
    }
    fn reset(&self, c: &mut ScriptedConn, m: ResetMode) -> Result<(), ScriptedError> {
        self.inner.reset(c, m)
    }
    fn close(&self, c: ScriptedConn) {
        self.inner.close(c)
    }
}

fn cause<E: std::fmt::Debug>(err: &Error<E>) -> TimeoutCause {
    match err {
        Error::Timeout { cause, .. } => *cause,
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn every_connection_checked_out_is_busy() {
    let pool = Pool::builder(ScriptedManager::new())
        .pool_size(1)
        .max_overflow(0)
        .build()
        .unwrap();
    let _held = pool.get().unwrap();
    let err = pool.get_timeout(Duration::from_millis(20)).unwrap_err();
    assert_eq!(cause(&err), TimeoutCause::Busy);
    assert!(err.to_string().starts_with("pool limit of size 1"), "{err}");
}

#[test]
fn a_hung_first_connect_is_named_not_the_pool_limit() {
    let manager = SlowConnect::new(1);
    let pool = Pool::builder(manager.clone())
        .pool_size(1)
        .max_overflow(0)
        .build()
        .unwrap();
    std::thread::scope(|s| {
        let first = s.spawn(|| pool.get().map(drop));
        while pool.state().open < 1 {
            std::thread::yield_now();
        }
        let err = pool.get_timeout(Duration::from_millis(20)).unwrap_err();
        assert_eq!(cause(&err), TimeoutCause::FirstConnectPending);
        let text = err.to_string();
        assert!(
            text.contains("first connection is still being opened") && !text.contains("limit"),
            "{text}"
        );
        manager.open_gate();
        first.join().unwrap().unwrap();
    });
}

#[test]
fn a_hung_later_connect_counts_what_is_pending() {
    let manager = SlowConnect::new(2);
    let pool = Pool::builder(manager.clone())
        .pool_size(2)
        .max_overflow(0)
        .build()
        .unwrap();
    let held = pool.get().unwrap();
    std::thread::scope(|s| {
        let second = s.spawn(|| pool.get().map(drop));
        while pool.state().open < 2 {
            std::thread::yield_now();
        }
        let err = pool.get_timeout(Duration::from_millis(20)).unwrap_err();
        assert_eq!(cause(&err), TimeoutCause::Connecting { pending: 1 });
        assert!(
            err.to_string()
                .starts_with("1 connection(s) still being opened, pool limit"),
            "{err}"
        );
        manager.open_gate();
        second.join().unwrap().unwrap();
    });
    drop(held);
}
