//! The pool every server test uses, and the few operations the tests need from it: a
//! checkout that waits (bounded), and the application's answer to a disconnect error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tarn_core::{CheckoutError, Events, InvalidateReason, Manager, Pooled, ResetMode};

/// Counts what the pool did, through its events.
#[derive(Debug, Default)]
pub struct Counts {
    /// Connections invalidated (by the user, a failed reset, a failed pre-ping, ...).
    pub invalidated: AtomicUsize,
    /// Of those, the ones whose pre-ping failed.
    pub ping_failed: AtomicUsize,
    /// Connections opened.
    pub connected: AtomicUsize,
    /// Connections closed.
    pub closed: AtomicUsize,
}

impl Counts {
    /// Reads a counter.
    pub fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }
}

impl<C> Events<C> for Counts {
    fn connect(&self, _conn: &mut C) {
        self.connected.fetch_add(1, Ordering::SeqCst);
    }
    fn invalidate(&self, _conn: &mut C, reason: InvalidateReason) {
        self.invalidated.fetch_add(1, Ordering::SeqCst);
        if reason == InvalidateReason::PingFailed {
            self.ping_failed.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn close(&self, _conn: &mut C) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

/// The pool type of the tests.
pub type TestPool<M> = tarn_core::Pool<M, Arc<Counts>>;

/// A checked-out connection of a [`TestPool`].
pub type Conn<'a, M> = Pooled<&'a TestPool<M>>;

/// How a test pool is set up.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `pool_size`.
    pub size: usize,
    /// `max_overflow`.
    pub overflow: usize,
    /// Pre-ping on checkout.
    pub pre_ping: bool,
    /// Reset on return.
    pub reset: ResetMode,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            size: 2,
            overflow: 0,
            pre_ping: false,
            reset: ResetMode::Rollback,
        }
    }
}

/// Builds a test pool and hands back its counters.
///
/// # Panics
///
/// If the options are invalid (zero capacity).
pub fn build<M: Manager>(manager: M, o: Options) -> (TestPool<M>, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let pool = tarn_core::Builder::new(manager)
        .pool_size(o.size)
        .max_overflow(o.overflow)
        .pre_ping(o.pre_ping)
        .reset_on_return(o.reset)
        .events(Arc::clone(&counts))
        .build()
        .expect("valid test pool options");
    (pool, counts)
}

/// Why [`get`] gave no connection.
#[derive(Debug)]
pub enum GetError<E> {
    /// No connection came free within the timeout.
    Timeout(Duration),
    /// The pool failed to provide one (connect error, two disconnects in a row).
    Checkout(CheckoutError<E>),
}

impl<E: std::fmt::Display> std::fmt::Display for GetError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout(d) => write!(f, "timed out after {d:?} waiting for a connection"),
            Self::Checkout(CheckoutError::Connect(e)) => {
                write!(f, "failed to open a new connection: {e}")
            }
            Self::Checkout(e) => write!(f, "{e}"),
        }
    }
}

/// Checks a connection out, waiting at most `timeout` for one to come free.
///
/// # Errors
///
/// [`GetError::Timeout`] when none came free in time; [`GetError::Checkout`] when the pool
/// failed to open one (returned at once: the caller sees the cause, never a hang).
pub fn get<M: Manager>(
    pool: &TestPool<M>,
    timeout: Duration,
) -> Result<Conn<'_, M>, GetError<M::Error>> {
    let start = Instant::now();
    loop {
        match pool.try_checkout() {
            Ok(c) => return Ok(c),
            Err(CheckoutError::WouldBlock) if start.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(CheckoutError::WouldBlock) => return Err(GetError::Timeout(start.elapsed())),
            Err(e) => return Err(GetError::Checkout(e)),
        }
    }
}

/// What an application does with an error from a pooled connection: a disconnect
/// invalidates this connection and every older one in the pool. Returns whether it was a
/// disconnect.
pub fn handle_error<M: Manager>(conn: Conn<'_, M>, error: &M::Error) -> bool {
    let pool = Pooled::pool(&conn);
    if pool.manager().is_disconnect(error) {
        pool.invalidate_all();
        Pooled::invalidate(conn);
        true
    } else {
        false
    }
}
