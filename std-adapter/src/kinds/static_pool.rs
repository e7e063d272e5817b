//! [`StaticPool`]: one connection shared by every caller. Its policy over the core: one
//! slot (and no limit, so that a connection can open while the one a `dispose` let go of is
//! still shared); the pool checks the connection out once and shares that guard
//! among every caller (an `Arc`), so the core sees one checkout; when the pool lets go of
//! it (dispose, or the pool dropped) the last handle's drop returns it to the core: reset,
//! `checkin` event, and closed if the pool was disposed.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use tarn_core::{Events, Manager};

use crate::builder::Builder;
use crate::config::Config;
use crate::error::Error;
use crate::events::{ListenerList, Stats};
use crate::pool::{Guard, Inner, Shared};
use crate::sync::lock_std;

/// A pool of exactly one connection, shared by every caller at once.
///
/// Rust's ownership shapes this pool: many callers cannot each hold `&mut` to one
/// connection, so a checkout gives a [`StaticConnection`], a cheap clone of an `Arc` that
/// derefs to `&M::Connection` (shared access only). Use a connection type with interior
/// mutability (or a `Mutex` inside) for writes. Because several callers may be mid-use,
/// the shared connection is not reset while the pool shares it; it is reset when it goes
/// back to the core (after [`dispose`](StaticPool::dispose), when the last handle is
/// dropped), and then closed: exactly once.
///
/// # Examples
///
/// ```
/// use tarn_pool::StaticPool;
/// # use tarn_core::testing::ScriptedManager;
///
/// let manager = ScriptedManager::new();
/// let pool = StaticPool::new(manager.clone());
/// let a = pool.get()?;
/// let b = pool.get()?;
/// assert_eq!(a.id, b.id, "one connection for everyone");
/// drop((a, b));
/// pool.dispose();
/// assert_eq!(manager.closed(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StaticPool<M: Manager> {
    inner: Arc<StaticInner<M>>,
}

struct StaticInner<M: Manager> {
    pool: Inner<M>,
    /// The shared connection while the pool shares it.
    conn: Mutex<Option<StaticConnection<M>>>,
}

/// The shared connection of a [`StaticPool`]: derefs to `&M::Connection`; cloning it is
/// cheap (an `Arc`).
pub struct StaticConnection<M: Manager> {
    shared: Arc<Guard<M, Shared>>,
}

impl<M: Manager> Clone for StaticConnection<M> {
    fn clone(&self) -> Self {
        StaticConnection {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M: Manager> Deref for StaticConnection<M> {
    type Target = M::Connection;
    fn deref(&self) -> &M::Connection {
        &self.shared
    }
}

// Manual impl: show the connection only.
impl<M: Manager> fmt::Debug for StaticConnection<M>
where
    M::Connection: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticConnection")
            .field("conn", &**self)
            .finish()
    }
}

impl<M: Manager> Clone for StaticPool<M> {
    fn clone(&self) -> Self {
        StaticPool {
            inner: Arc::clone(&self.inner),
        }
    }
}

// Manual impl: no `M: Debug` bound, and managers may hold secrets.
impl<M: Manager> fmt::Debug for StaticPool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticPool")
            .field("logging_name", &self.logging_name())
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Builder<M, StaticPool<M>> {
    /// Builds the pool. Opens nothing.
    pub fn build(self) -> StaticPool<M> {
        StaticPool::from_parts(self.manager, self.cfg, self.listeners)
    }
}

impl<M: Manager> StaticPool<M> {
    fn from_parts(manager: M, cfg: Config, listeners: ListenerList<M::Connection>) -> Self {
        // Unlimited: after `dispose` a new connection opens while handles to the old one
        // may still be out.
        let settings = cfg.core.pool_size(1).unlimited_overflow();
        let pool = Inner::new(manager, cfg, listeners, "static", settings)
            .expect("one slot and unlimited overflow is a valid configuration");
        StaticPool {
            inner: Arc::new(StaticInner {
                pool,
                conn: Mutex::new(None),
            }),
        }
    }

    /// A pool with the defaults.
    pub fn new(manager: M) -> Self {
        Self::builder(manager).build()
    }

    /// A builder for the logging name, echo, reset mode and listeners.
    pub fn builder(manager: M) -> Builder<M, StaticPool<M>> {
        Builder::new(manager)
    }

    /// A handle to the shared connection, opening it on first use.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] if opening it failed (the next checkout tries again);
    /// [`Error::Disconnected`] or [`Error::Panicked`] as for [`Pool::get`](crate::Pool::get).
    ///
    /// ```
    /// # use tarn_pool::StaticPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = StaticPool::new(ScriptedManager::new());
    /// let (a, b) = (pool.get()?, pool.get()?);
    /// assert_eq!(a.id, b.id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<StaticConnection<M>, Error<M::Error>> {
        let mut shared = lock_std(&self.inner.conn);
        if let Some(c) = shared.as_ref() {
            return Ok(c.clone());
        }
        let pool = &self.inner.pool;
        let c = pool.checkout(
            || Arc::clone(&pool.core),
            None,
            |p| StaticConnection {
                shared: Arc::new(Guard::new(p)),
            },
        )?;
        *shared = Some(c.clone());
        Ok(c)
    }

    /// `"StaticPool"`, as the reference.
    pub fn status(&self) -> String {
        "StaticPool".to_owned()
    }

    /// Cumulative counters.
    pub fn stats(&self) -> Stats {
        self.inner.pool.ev().counters.snapshot()
    }

    /// The name the pool logs under.
    pub fn logging_name(&self) -> &str {
        &self.inner.pool.ev().name
    }

    /// Registers a listener.
    pub fn add_listener(&self, listener: impl Events<M::Connection> + Send + Sync + 'static) {
        self.inner.pool.ev().add(Arc::new(listener));
    }

    /// The pool's manager.
    pub fn manager(&self) -> &M {
        &self.inner.pool.core.manager().inner
    }

    /// Lets go of the shared connection: it is closed when the last handle is dropped (now,
    /// if none is out). The next checkout opens a new one.
    ///
    /// ```
    /// # use tarn_pool::StaticPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = StaticPool::new(manager.clone());
    /// drop(pool.get()?);
    /// pool.dispose();
    /// assert_eq!(manager.closed(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dispose(&self) {
        let old = lock_std(&self.inner.conn).take();
        // Marks the shared connection stale first, so that its return closes it.
        self.inner.pool.dispose();
        drop(old);
        tracing::info!(pool = %self.logging_name(), "Pool disposed. StaticPool");
    }
}

impl<M: Manager + Clone> StaticPool<M> {
    /// A new pool with the same configuration, manager and listeners.
    pub fn recreate(&self) -> Self {
        let (cfg, listeners) = self.inner.pool.recreate_parts();
        StaticPool::from_parts(self.manager().clone(), cfg, listeners)
    }
}
