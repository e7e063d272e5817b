//! [`NullPool`]: a pool that does not pool.

use std::fmt;
use std::sync::Arc;

use tarn_core::Manager;

use super::base::Base;
use super::connection::{KindConnection, Return};
use crate::builder::Builder;
use crate::error::Error;
use crate::events::{Listener, Stats};

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
    base: Arc<Base<M>>,
}

impl<M: Manager> Clone for NullPool<M> {
    fn clone(&self) -> Self {
        NullPool {
            base: Arc::clone(&self.base),
        }
    }
}

// Manual impl: no `M: Debug` bound, and managers may hold secrets.
impl<M: Manager> fmt::Debug for NullPool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NullPool")
            .field("logging_name", &&*self.base.ev.name)
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Builder<M, NullPool<M>> {
    /// Builds the pool. Opens nothing.
    pub fn build(self) -> NullPool<M> {
        NullPool {
            base: Arc::new(Base::new(self.manager, self.cfg, self.listeners, "null")),
        }
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
        let t = self.base.open_and_hand_out()?;
        Ok(KindConnection {
            base: &self.base,
            conn: Some(t),
            home: Return::Close,
        })
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
        self.base.stats()
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
        &self.base.ev.name
    }

    /// Registers a listener.
    pub fn add_listener(&self, listener: impl Listener<M::Connection> + 'static) {
        self.base.ev.add(Arc::new(listener));
    }

    /// Nothing to do: a null pool keeps no connection.
    pub fn dispose(&self) {
        tracing::info!(pool = %self.base.ev.name, "Pool disposed. NullPool");
    }
}

impl<M: Manager + Clone> NullPool<M> {
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
        let (cfg, listeners) = self.base.recreate_parts();
        NullPool {
            base: Arc::new(Base::new(
                self.base.mgr.inner.clone(),
                cfg,
                listeners,
                "null",
            )),
        }
    }
}
