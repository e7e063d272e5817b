//! The pool every server test uses (`tarn_pool::Pool`, the `QueuePool`), a listener that counts
//! what it did, and the application's answer to a disconnect error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tarn_pool::{
    CloseReason, Events, InvalidateReason, Manager, Pool, PooledConnection, ResetMode,
};

/// Counts what the pool did, through its listener hooks.
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
    fn close(&self, _conn: &mut C, _reason: CloseReason) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

/// The pool type of the tests.
pub type TestPool<M> = Pool<M>;

/// A checked-out connection of a [`TestPool`].
pub type Conn<'a, M> = PooledConnection<'a, M>;

/// The checkout error of a [`TestPool`].
pub type GetError<E> = tarn_pool::Error<E>;

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

/// Builds a test pool (checkout timeout 10 s) and hands back its counters.
///
/// # Panics
///
/// If the options are invalid (zero capacity).
pub fn build<M>(manager: M, o: Options) -> (TestPool<M>, Arc<Counts>)
where
    M: Manager + Send + Sync + 'static,
    M::Connection: Send + 'static,
    M::Error: 'static,
{
    let counts = Arc::new(Counts::default());
    let pool = Pool::builder(manager)
        .pool_size(o.size)
        .max_overflow(o.overflow)
        .pre_ping(o.pre_ping)
        .reset_on_return(o.reset)
        .timeout(Duration::from_secs(10))
        .listener(Arc::clone(&counts))
        .build()
        .expect("valid test pool options");
    (pool, counts)
}

/// Checks a connection out, waiting at most `timeout` for one to come free.
///
/// # Errors
///
/// [`tarn_pool::Error::Timeout`] when none came free in time; [`tarn_pool::Error::Connect`] at once
/// when the pool failed to open one (the caller sees the cause, never a hang).
pub fn get<M: Manager>(
    pool: &TestPool<M>,
    timeout: Duration,
) -> Result<Conn<'_, M>, GetError<M::Error>> {
    pool.get_timeout(timeout)
}

/// What an application does with an error from a pooled connection: a disconnect
/// invalidates this connection and every older one in the pool. Returns whether it was a
/// disconnect.
pub fn handle_error<M: Manager>(pool: &TestPool<M>, conn: Conn<'_, M>, error: &M::Error) -> bool {
    if pool.manager().is_disconnect(error) {
        pool.invalidate_all();
        PooledConnection::invalidate(conn);
        true
    } else {
        false
    }
}
