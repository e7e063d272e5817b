//! [`StaticPool`]: one connection shared by every caller.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use tarn_core::Manager;

use super::base::Base;
use crate::adapt::Tracked;
use crate::builder::Builder;
use crate::error::Error;
use crate::events::{Listener, Stats};
use crate::sync::lock_std;

/// A pool of exactly one connection, shared by every caller at once.
///
/// Rust's ownership shapes this pool: many callers cannot each hold `&mut` to one
/// connection, so a checkout gives a [`StaticConnection`], a cheap clone of an `Arc` that
/// derefs to `&M::Connection` (shared access only). Use a connection type with interior
/// mutability (or a `Mutex` inside) for writes. Because several callers may be mid-use,
/// a shared connection is **not** reset on return. The connection is opened at the first
/// checkout and closed once [`dispose`](StaticPool::dispose) was called (or the pool
/// dropped) *and* the last handle is dropped: exactly once.
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
    base: Arc<Base<M>>,
    conn: Mutex<Option<StaticConnection<M>>>,
}

/// The shared connection of a [`StaticPool`]: derefs to `&M::Connection`; cloning it is
/// cheap (an `Arc`).
pub struct StaticConnection<M: Manager> {
    shared: Arc<StaticConn<M>>,
}

struct StaticConn<M: Manager> {
    base: Arc<Base<M>>,
    conn: Option<Tracked<M::Connection>>,
}

impl<M: Manager> Drop for StaticConn<M> {
    fn drop(&mut self) {
        if let Some(t) = self.conn.take() {
            self.base.close(t);
        }
    }
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
        &self
            .shared
            .conn
            .as_ref()
            .expect("a static connection is present until dropped")
            .conn
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
            .field("logging_name", &&*self.inner.base.ev.name)
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Builder<M, StaticPool<M>> {
    /// Builds the pool. Opens nothing.
    pub fn build(self) -> StaticPool<M> {
        StaticPool {
            inner: Arc::new(StaticInner {
                base: Arc::new(Base::new(self.manager, self.cfg, self.listeners, "static")),
                conn: Mutex::new(None),
            }),
        }
    }
}

impl<M: Manager> StaticPool<M> {
    /// A pool with the defaults.
    pub fn new(manager: M) -> Self {
        Self::builder(manager).build()
    }

    /// A builder for the logging name, echo and listeners (the reset mode is not used: a
    /// shared connection is not reset).
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
        let mut slot = lock_std(&self.inner.conn);
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let t = self.inner.base.open_and_hand_out()?;
        let c = StaticConnection {
            shared: Arc::new(StaticConn {
                base: Arc::clone(&self.inner.base),
                conn: Some(t),
            }),
        };
        *slot = Some(c.clone());
        Ok(c)
    }

    /// `"StaticPool"`, as the reference.
    pub fn status(&self) -> String {
        "StaticPool".to_owned()
    }

    /// Cumulative counters.
    pub fn stats(&self) -> Stats {
        self.inner.base.stats()
    }

    /// The name the pool logs under.
    pub fn logging_name(&self) -> &str {
        &self.inner.base.ev.name
    }

    /// Registers a listener.
    pub fn add_listener(&self, listener: impl Listener<M::Connection> + 'static) {
        self.inner.base.ev.add(Arc::new(listener));
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
        drop(old);
        tracing::info!(pool = %self.inner.base.ev.name, "Pool disposed. StaticPool");
    }
}

impl<M: Manager + Clone> StaticPool<M> {
    /// A new pool with the same configuration, manager and listeners.
    pub fn recreate(&self) -> Self {
        let (cfg, listeners) = self.inner.base.recreate_parts();
        StaticPool {
            inner: Arc::new(StaticInner {
                base: Arc::new(Base::new(
                    self.inner.base.mgr.inner.clone(),
                    cfg,
                    listeners,
                    "static",
                )),
                conn: Mutex::new(None),
            }),
        }
    }
}
