//! [`Pool`]: the reference's `QueuePool` (`pool_size` kept, `max_overflow` more under load,
//! waiting with a timeout), over one tarn-core pool, which implements every step of a
//! connection's life. The adapter adds waiting (the wait queue is the core pool's
//! `Waiters`), panic safety and logging.
//!
//! - `inner.rs`: what a pool is and how it is built from its configuration;
//! - `builder.rs`: the builder settings only this kind has;
//! - `checkout.rs`: the fast path, the core's failures, waiting in line, deadlines;
//! - `guard.rs`: the guards and what returning a connection does.
//!
//! Dependencies run one way: `mod.rs` (the public API) uses `checkout.rs` and `guard.rs`,
//! which use `inner.rs`.

mod builder;
mod checkout;
mod guard;
mod inner;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tarn_core::{Events, Manager, State};

use crate::error::Error;
use crate::events::Stats;
use crate::wait::Fairness;

pub(crate) use checkout::TimeLeft;
pub(crate) use guard::Guard;
pub use guard::{OwnedPooledConnection, PooledConnection};
pub(crate) use inner::{Borrowed, CorePtr, Hold, Inner, Shared};

/// A connection pool with a size limit and overflow: the reference's `QueuePool`.
///
/// A cheap handle: cloning it clones an `Arc`, and every clone uses the same pool.
/// `Send + Sync` when the manager is, and its connections are `Send`.
///
/// # Sizing (as the reference)
///
/// - up to `pool_size` connections are kept idle; up to `max_overflow` more may be open
///   under load, and are closed when returned while `pool_size` are idle;
/// - `pool_size(0)` means no idle limit: every connection is kept;
/// - [`unlimited_overflow`](crate::Builder::unlimited_overflow): a checkout never waits for
///   capacity; a returned connection is closed only when `pool_size` connections are idle
///   (with `pool_size` 0, [`UNBOUNDED_IDLE_CAP`](crate::UNBOUNDED_IDLE_CAP)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tarn_pool::Pool;
/// # use tarn_core::testing::ScriptedManager;
///
/// let pool = Pool::builder(ScriptedManager::new())
///     .pool_size(2)
///     .max_overflow(1)
///     .timeout(Duration::from_millis(100))
///     .build()?;
/// let a = pool.get()?;
/// let b = pool.get()?;
/// let c = pool.get()?; // overflow
/// assert!(pool.get().unwrap_err().is_timeout());
/// drop((a, b, c));
/// assert_eq!(pool.state().idle, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "QueuePool")]
pub struct Pool<M: Manager> {
    inner: Arc<Inner<M>>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            inner: Arc::clone(&self.inner),
        }
    }
}

// Manual impl: no `M: Debug` bound, and managers may hold secrets.
impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("logging_name", &self.logging_name())
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Pool<M> {
    /// Checks out a connection, waiting up to the configured timeout (default 30 s).
    ///
    /// Waiters are served first come, first served (or, with [`Fairness::Eventual`], turn by
    /// turn: see [`Builder::fairness`](crate::Builder::fairness)).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] after the timeout; [`Error::Connect`] if opening a connection
    /// failed; [`Error::Ping`] if pre-ping found an idle connection failing with an error
    /// that is not a disconnect; [`Error::Disconnected`] if listeners rejected two fresh
    /// connections; [`Error::Panicked`] if a listener panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// let conn = pool.get()?;
    /// assert_eq!(conn.id, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get(&self) -> Result<PooledConnection<'_, M>, Error<M::Error>> {
        self.inner.checkout(
            || &*self.inner.core,
            None,
            |p| PooledConnection { g: Guard::new(p) },
        )
    }

    /// Like [`get`](Self::get), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(1).max_overflow(0).build()?;
    /// let held = pool.get()?;
    /// let err = pool.get_timeout(Duration::ZERO).unwrap_err();
    /// assert!(err.is_timeout());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get_timeout(
        &self,
        timeout: Duration,
    ) -> Result<PooledConnection<'_, M>, Error<M::Error>> {
        self.inner.checkout(
            || &*self.inner.core,
            Some(timeout),
            |p| PooledConnection { g: Guard::new(p) },
        )
    }

    /// Checks out a connection without waiting.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] if no connection is free (or others are waiting in line:
    /// `try_get` does not barge past them; with [`Fairness::Eventual`], only while a
    /// connection is reserved for the longest waiter); otherwise as [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # use tarn_pool::{Error, Pool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(1).max_overflow(0).build()?;
    /// let held = pool.try_get()?;
    /// assert!(matches!(pool.try_get(), Err(Error::WouldBlock)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_get(&self) -> Result<PooledConnection<'_, M>, Error<M::Error>> {
        self.inner
            .try_checkout(&*self.inner.core, |p| PooledConnection { g: Guard::new(p) })
    }

    /// Like [`get`](Self::get), for a guard that owns a handle to the pool (`'static`: it
    /// can be moved to another thread or kept in a struct).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// let conn = pool.get_owned()?;
    /// std::thread::spawn(move || assert_eq!(conn.id, 1)).join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_owned(&self) -> Result<OwnedPooledConnection<M>, Error<M::Error>> {
        self.inner.checkout(
            || Arc::clone(&self.inner.core),
            None,
            |p| OwnedPooledConnection { g: Guard::new(p) },
        )
    }

    /// Like [`try_get`](Self::try_get), for an owned guard: answers
    /// [`Error::WouldBlock`] at once when no connection is free.
    ///
    /// # Errors
    ///
    /// As [`try_get`](Self::try_get).
    ///
    /// ```
    /// # use tarn_pool::{Error, Pool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(1).max_overflow(0).build()?;
    /// let held = pool.try_get_owned()?;
    /// assert!(matches!(pool.try_get_owned(), Err(Error::WouldBlock)));
    /// # drop(held);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get_owned(&self) -> Result<OwnedPooledConnection<M>, Error<M::Error>> {
        self.inner
            .try_checkout(Arc::clone(&self.inner.core), OwnedPooledConnection::new)
    }

    /// Like [`get_owned`](Self::get_owned), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// let conn = pool.get_owned_timeout(Duration::from_millis(5))?;
    /// # drop(conn);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_owned_timeout(
        &self,
        timeout: Duration,
    ) -> Result<OwnedPooledConnection<M>, Error<M::Error>> {
        self.inner.checkout(
            || Arc::clone(&self.inner.core),
            Some(timeout),
            |p| OwnedPooledConnection { g: Guard::new(p) },
        )
    }

    /// A snapshot of the pool's counters, with how many threads wait.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// let conn = pool.get()?;
    /// let state = pool.state();
    /// assert_eq!((state.open, state.checked_out, state.idle, state.waiting), (1, 1, 0, 0));
    /// # drop(conn);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state(&self) -> State {
        self.inner.core.state()
    }

    /// The reference's `status()` line.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(3).build()?;
    /// let _c = pool.get()?;
    /// assert_eq!(
    ///     pool.status(),
    ///     "Pool size: 3  Connections in pool: 0 Current Overflow: -2 Current Checked out connections: 1"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn status(&self) -> String {
        self.state().to_string()
    }

    /// Cumulative counters of rare events (opened, closed, recycled, invalidated, timeouts).
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// drop(pool.get()?);
    /// assert_eq!(pool.stats().opened, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.inner.ev().counters.snapshot()
    }

    /// The name the pool logs under.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).logging_name("db").build()?;
    /// assert_eq!(pool.logging_name(), "db");
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn logging_name(&self) -> &str {
        &self.inner.ev().name
    }

    /// The configured checkout timeout.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// assert_eq!(pool.timeout(), tarn_pool::DEFAULT_TIMEOUT);
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn timeout(&self) -> Duration {
        self.inner.cfg.timeout
    }

    /// The waiting policy the pool was built with
    /// ([`Builder::fairness`](crate::Builder::fairness)).
    pub fn fairness(&self) -> Fairness {
        self.inner.cfg.fairness
    }

    /// Invalidates every connection opened so far: idle ones are replaced at their next
    /// checkout, checked-out ones are closed when returned. O(1).
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = Pool::builder(manager.clone()).build()?;
    /// drop(pool.get()?);
    /// pool.invalidate_all();
    /// assert_eq!(pool.get()?.id, 2, "the old connection was replaced");
    /// assert_eq!(manager.closed(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn invalidate_all(&self) {
        self.inner.invalidate_all();
    }

    /// Closes every idle connection now and every checked-out one when it is returned. The
    /// pool stays usable.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = Pool::builder(manager.clone()).build()?;
    /// drop(pool.get()?);
    /// pool.dispose();
    /// assert_eq!((manager.closed(), pool.state().open), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dispose(&self) {
        self.inner.dispose();
        tracing::info!(pool = %self.logging_name(), "Pool disposed. {}", self.status());
    }

    /// Registers a listener on a running pool (the reference's `event.listen`).
    ///
    /// While a pool has no listener its checkouts skip the panic catching that listeners
    /// need; a checkout already under way when the first listener is registered may run it
    /// without that net (a panic in it then reaches that caller as a panic; the pool's
    /// counts stay right either way).
    ///
    /// ```
    /// # use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
    /// # use tarn_pool::{Events, Pool};
    /// # use tarn_core::testing::ScriptedManager;
    /// struct Opened(AtomicUsize);
    /// impl<C> Events<C> for Opened {
    ///     fn connect(&self, _: &mut C) { self.0.fetch_add(1, Ordering::Relaxed); }
    /// }
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// let opened = Arc::new(Opened(AtomicUsize::new(0)));
    /// pool.add_listener(Arc::clone(&opened));
    /// drop(pool.get()?);
    /// assert_eq!(opened.0.load(Ordering::Relaxed), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_listener(&self, listener: impl Events<M::Connection> + Send + Sync + 'static) {
        self.inner.ev().add(Arc::new(listener));
    }

    /// Closes a connection that left the pool through [`PooledConnection::detach`]: reset
    /// first (per the reset mode), then the `close_detached` event, then closed.
    ///
    /// ```
    /// # use tarn_pool::{Pool, PooledConnection};
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = Pool::builder(manager.clone()).build()?;
    /// let raw = PooledConnection::detach(pool.get()?);
    /// pool.close_detached(raw);
    /// assert_eq!(manager.closed(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_detached(&self, conn: M::Connection) {
        self.inner.close_detached(conn);
    }

    /// The pool's manager.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = Pool::builder(manager.clone()).build()?;
    /// drop(pool.get()?);
    /// assert_eq!(pool.manager().opened(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn manager(&self) -> &M {
        &self.inner.core.manager().inner
    }
}

impl<M: Manager> Pool<M> {
    /// A new, empty pool with the same configuration, manager and listeners (the
    /// reference's `recreate`). Connects nothing; this pool is left as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(2).logging_name("a").build()?;
    /// let fresh = pool.recreate();
    /// assert_eq!((fresh.state().pool_size, fresh.state().open), (2, 0));
    /// assert_eq!(fresh.logging_name(), "a");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recreate(&self) -> Pool<M> {
        let (manager, cfg, listeners) = self.inner.recreate_parts();
        let settings = cfg.core;
        let inner = Inner::new(manager, cfg, listeners, "pool", settings)
            .expect("the configuration was validated when this pool was built");
        Pool {
            inner: Arc::new(inner),
        }
    }
}
