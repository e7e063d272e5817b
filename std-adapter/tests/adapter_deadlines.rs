//! Deadlines: a checkout gives the manager calls it makes the caller's time left, and a
//! return bounds its reset by the pool's timeout; a panic in user code is an error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tarn_core::testing::{ScriptedConn, ScriptedError, ScriptedManager};
use tarn_pool::{Error, Manager, NullPool, Pool, PooledConnection, ResetMode};

/// A manager whose connect takes `delay` and honours its limit (it gives up when the limit
/// is shorter, as a driver's connect timeout does), recording every limit it gets; its
/// ping panics while `panic_pings` is above zero. Everything else is `ScriptedManager`'s.
#[derive(Clone)]
struct Slow {
    inner: ScriptedManager,
    delay: Duration,
    limits: Arc<Mutex<Vec<Option<Duration>>>>,
    panic_pings: Arc<AtomicUsize>,
}

impl Slow {
    fn new(delay: Duration) -> Self {
        Slow {
            inner: ScriptedManager::new(),
            delay,
            limits: Arc::default(),
            panic_pings: Arc::default(),
        }
    }

    fn limits(&self) -> Vec<Option<Duration>> {
        self.limits.lock().unwrap().clone()
    }
}

impl Manager for Slow {
    type Connection = ScriptedConn;
    type Error = ScriptedError;

    fn connect(&self) -> Result<ScriptedConn, ScriptedError> {
        self.connect_within(None)
    }

    fn connect_within(&self, limit: Option<Duration>) -> Result<ScriptedConn, ScriptedError> {
        self.limits.lock().unwrap().push(limit);
        match limit {
            Some(limit) if limit < self.delay => {
                std::thread::sleep(limit);
                Err(ScriptedError::Connect)
            }
            _ => {
                std::thread::sleep(self.delay);
                self.inner.connect()
            }
        }
    }

    fn reset(&self, c: &mut ScriptedConn, m: ResetMode) -> Result<(), ScriptedError> {
        self.inner.reset(c, m)
    }

    fn ping(&self, c: &mut ScriptedConn) -> Result<(), ScriptedError> {
        if self
            .panic_pings
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("the driver's ping panicked");
        }
        self.inner.ping(c)
    }

    fn close(&self, c: ScriptedConn) {
        self.inner.close(c)
    }
}

#[test]
fn get_timeout_gives_connect_the_time_left_and_returns_by_its_deadline() {
    let manager = Slow::new(Duration::from_secs(5));
    let pool = Pool::builder(manager.clone()).build().unwrap();
    let started = Instant::now();
    let err = pool.get_timeout(Duration::from_millis(100)).unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, Error::Connect(ScriptedError::Connect)),
        "{err:?}"
    );
    let limits = manager.limits();
    assert_eq!(limits.len(), 1, "{limits:?}");
    let limit = limits[0].expect("connect got a limit");
    assert!(
        limit <= Duration::from_millis(100) && !limit.is_zero(),
        "{limit:?}"
    );
    // The connect gave up at its limit, not after the 5 s it would have taken.
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(
        pool.state().open,
        0,
        "the failed connect gave its capacity back"
    );
}

#[test]
fn get_gives_connect_the_pools_timeout() {
    let manager = Slow::new(Duration::ZERO);
    let pool = Pool::builder(manager.clone())
        .timeout(Duration::from_secs(7))
        .build()
        .unwrap();
    drop(pool.get().unwrap());
    let limit = manager.limits()[0].expect("connect got a limit");
    assert!(
        limit <= Duration::from_secs(7) && limit > Duration::from_secs(6),
        "{limit:?}"
    );
}

#[test]
fn a_waiter_that_opens_a_connection_gives_it_what_is_left_of_its_deadline() {
    let manager = Slow::new(Duration::ZERO);
    let pool = Pool::builder(manager.clone())
        .pool_size(1)
        .max_overflow(0)
        .build()
        .unwrap();
    let held = pool.get().unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| pool.get_timeout(Duration::from_secs(1)).map(|c| c.id));
        while pool.state().waiting < 1 {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(200));
        // Invalidating gives the capacity back: the waiter opens a new connection.
        PooledConnection::invalidate(held);
        assert_eq!(waiter.join().unwrap().unwrap(), 2);
    });
    let limits = manager.limits();
    assert_eq!(limits.len(), 2, "{limits:?}");
    let limit = limits[1].expect("the waiter's connect got a limit");
    assert!(
        limit < Duration::from_millis(850) && !limit.is_zero(),
        "{limit:?}"
    );
}

#[test]
fn a_return_bounds_its_reset_by_the_pools_timeout() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    drop(pool.get().unwrap());
    assert_eq!(
        manager.last_reset_limit(),
        Some(Some(Duration::from_secs(3)))
    );
    let null = NullPool::new(manager.clone());
    drop(null.get().unwrap());
    assert_eq!(
        manager.last_reset_limit(),
        Some(Some(tarn_pool::DEFAULT_TIMEOUT))
    );
}

#[test]
fn a_panicking_ping_closes_that_connection_and_the_checkout_goes_on() {
    let manager = Slow::new(Duration::ZERO);
    let pool = Pool::builder(manager.clone())
        .pre_ping(true)
        .build()
        .unwrap();
    drop(pool.get().unwrap());
    manager.panic_pings.store(1, Ordering::Relaxed);
    // The panic is the manager's: caught, the connection invalidated and replaced.
    let conn = pool.get().expect("a fresh connection");
    assert_eq!(conn.id, 2);
    drop(conn);
    assert_eq!(pool.stats().invalidated, 1);
    drop(pool);
    manager.inner.assert_all_closed_once(0);
}

#[test]
fn panics_in_the_simple_kinds_are_errors() {
    let manager = ScriptedManager::new();
    let pool = NullPool::new(manager.clone());
    manager.panic_connects(1);
    match pool.get() {
        Err(Error::Panicked { what }) => assert!(what.contains("connect"), "{what}"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    struct PanicAtCheckout;
    impl<C> tarn_pool::Events<C> for PanicAtCheckout {
        fn checkout(
            &self,
            _: &mut C,
            _: &tarn_pool::CheckoutEvent,
        ) -> Result<(), tarn_pool::Disconnected> {
            panic!("listener boom");
        }
    }
    pool.add_listener(PanicAtCheckout);
    match pool.get() {
        Err(Error::Panicked { what }) => assert!(what.contains("listener boom"), "{what}"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    drop(pool);
    manager.assert_all_closed_once(0);
}

#[test]
fn a_listener_panicking_while_a_threads_connection_closes_is_contained() {
    struct PanicAtClose;
    impl<C> tarn_pool::Events<C> for PanicAtClose {
        fn close(&self, _: &mut C, _: tarn_pool::CloseReason) {
            panic!("close boom");
        }
    }
    let manager = ScriptedManager::new();
    let pool = tarn_pool::SingletonThreadPool::builder(manager.clone())
        .listener(PanicAtClose)
        .build();
    drop(pool.get().unwrap());
    // The thread's kept connection closes here; the listener's panic does not escape.
    pool.dispose();
    assert_eq!((manager.opened(), manager.closed()), (1, 1));
    manager.assert_all_closed_once(0);
}
