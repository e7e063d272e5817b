//! [`NullPool`]: a pool that does not pool. Its policy over the core: no limit on
//! connections open at once, and nothing kept idle (`Retain::Nothing`), so every checkout
//! opens a connection and every return resets, checks in and closes it.

use std::fmt;
use std::sync::Arc;

use tarn_core::{Events, Manager, Retain};

use super::connection::KindConnection;
use crate::builder::Builder;
use crate::error::Error;
use crate::events::Stats;
use crate::pool::{Guard, Inner, OwnedPooledConnection};

/// A pool that does not pool: every checkout opens a connection and every checkin closes it
/// (after the reset on return and the `checkin` event). Listeners see every event.
///
/// Recycling and pool-wide invalidation do not apply: no connection outlives its checkout.
///
/// # Examples
///
/// ```
/// use tarn_pool::NullPool;
/// # use tarn_core::testing::ScriptedManager;
///
/// let manager = ScriptedManager::new();
/// let pool = NullPool::new(manager.clone());
/// drop(pool.get()?);
/// drop(pool.get()?);
/// assert_eq!((manager.opened(), manager.closed()), (2, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NullPool<M: Manager> {
    inner: Arc<Inner<M>>,
}

impl<M: Manager> Clone for NullPool<M> {
    fn clone(&self) -> Self {
        NullPool {
            inner: Arc::clone(&self.inner),
        }
    }
}

// Manual impl: no `M: Debug` bound, and managers may hold secrets.
impl<M: Manager> fmt::Debug for NullPool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NullPool")
            .field("logging_name", &self.logging_name())
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Builder<M, NullPool<M>> {
    /// Builds the pool. Opens nothing.
    pub fn build(self) -> NullPool<M> {
        NullPool::from_parts(Arc::new(self.manager), self.cfg, self.listeners)
    }
}

impl<M: Manager> NullPool<M> {
    /// A pool with the defaults (rollback on return, no listeners).
    ///
    /// ```
    /// # use tarn_pool::NullPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = NullPool::new(ScriptedManager::new());
    /// assert_eq!(pool.get()?.id, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(manager: M) -> Self {
        Self::builder(manager).build()
    }

    /// A builder for the reset mode, logging name, echo and listeners.
    pub fn builder(manager: M) -> Builder<M, NullPool<M>> {
        Builder::new(manager)
    }

    /// Opens a connection for the caller.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] if the manager failed; [`Error::Disconnected`] or
    /// [`Error::Panicked`] as for [`Pool::get`](crate::Pool::get).
    pub fn get(&self) -> Result<KindConnection<'_, M>, Error<M::Error>> {
        // Never short of capacity; only the pool's very first connect makes others wait.
        self.inner.checkout(
            || &*self.inner.core,
            None,
            |p| KindConnection::lent(Guard::new(p)),
        )
    }

    /// Like [`get`](Self::get), for a guard that owns a handle to the pool (`'static`).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// ```
    /// # use tarn_pool::NullPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = NullPool::new(ScriptedManager::new());
    /// let conn = pool.get_owned()?;
    /// std::thread::spawn(move || assert_eq!(conn.id, 1)).join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_owned(&self) -> Result<OwnedPooledConnection<M>, Error<M::Error>> {
        self.inner.checkout(
            || Arc::clone(&self.inner.core),
            None,
            OwnedPooledConnection::new,
        )
    }

    /// Like [`get_owned`](Self::get_owned) without waiting: [`Error::WouldBlock`] while
    /// another thread runs the pool's very first connect (a null pool is never short of
    /// capacity).
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] as above; otherwise as [`get`](Self::get).
    pub fn try_get_owned(&self) -> Result<OwnedPooledConnection<M>, Error<M::Error>> {
        self.inner
            .try_checkout(Arc::clone(&self.inner.core), OwnedPooledConnection::new)
    }

    /// Marks every connection now out to be closed when returned (a null pool closes every
    /// connection on return anyway; the method gives every kind the same surface).
    pub fn invalidate_all(&self) {
        self.inner.invalidate_all();
    }

    /// Closes a detached connection: reset first (per the reset mode), then the
    /// `close_detached` event, then closed.
    ///
    /// ```
    /// # use tarn_pool::{KindConnection, NullPool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = NullPool::new(manager.clone());
    /// let raw = KindConnection::detach(pool.get()?);
    /// pool.close_detached(raw);
    /// assert_eq!((manager.resets(), manager.closed()), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_detached(&self, conn: M::Connection) {
        self.inner.close_detached(conn);
    }

    /// `"NullPool"`, as the reference.
    pub fn status(&self) -> String {
        "NullPool".to_owned()
    }

    /// Cumulative counters of opened, closed and invalidated connections.
    ///
    /// ```
    /// # use tarn_pool::NullPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = NullPool::new(ScriptedManager::new());
    /// drop(pool.get()?);
    /// assert_eq!((pool.stats().opened, pool.stats().closed), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.inner.ev().counters.snapshot()
    }

    /// The name the pool logs under.
    ///
    /// ```
    /// # use tarn_pool::NullPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = NullPool::builder(ScriptedManager::new()).logging_name("n").build();
    /// assert_eq!(pool.logging_name(), "n");
    /// ```
    pub fn logging_name(&self) -> &str {
        &self.inner.ev().name
    }

    /// Registers a listener.
    pub fn add_listener(&self, listener: impl Events<M::Connection> + Send + Sync + 'static) {
        self.inner.ev().add(Arc::new(listener));
    }

    /// Nothing to do: a null pool keeps no connection.
    pub fn dispose(&self) {
        tracing::info!(pool = %self.logging_name(), "Pool disposed. NullPool");
    }
}

impl<M: Manager> NullPool<M> {
    /// A new pool with the same configuration, manager and listeners.
    ///
    /// ```
    /// # use tarn_pool::NullPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = NullPool::new(ScriptedManager::new());
    /// let fresh = pool.recreate();
    /// assert_eq!(fresh.logging_name(), pool.logging_name());
    /// ```
    pub fn recreate(&self) -> Self {
        let (manager, cfg, listeners) = self.inner.recreate_parts();
        NullPool::from_parts(manager, cfg, listeners)
    }
}

impl<M: Manager> NullPool<M> {
    fn from_parts(
        manager: Arc<M>,
        cfg: crate::config::Config,
        listeners: crate::events::ListenerList<M::Connection>,
    ) -> Self {
        let settings = cfg
            .core
            .pool_size(1)
            .unlimited_overflow()
            .retain(Retain::Nothing);
        let inner = Inner::new(manager, cfg, listeners, "null", settings)
            .expect("one slot and unlimited overflow is a valid configuration");
        NullPool {
            inner: Arc::new(inner),
        }
    }

    /// The pool's manager.
    pub fn manager(&self) -> &M {
        &self.inner.core.manager().inner
    }
}
