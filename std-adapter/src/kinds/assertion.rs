//! [`AssertionPool`]: one connection, at most one checkout at a time. Its policy over the
//! core: one slot and no overflow, so a second checkout finds the core exhausted; the pool
//! answers that with the first checkout's backtrace.

use std::backtrace::Backtrace;
use std::fmt;
use std::sync::{Arc, Mutex};

use tarn_core::{Events, Manager, Pooled};

use super::connection::KindConnection;
use crate::builder::Builder;
use crate::config::Config;
use crate::error::Error;
use crate::events::{ListenerList, Stats};
use crate::pool::{CorePtr, Guard, Inner, OwnedPooledConnection};
use crate::sync::lock_std;

/// A pool of one connection that allows at most one checkout at a time: a second checkout
/// is an error carrying the backtrace of the checkout that holds the connection. For
/// finding code that uses more connections than it should.
///
/// # Examples
///
/// ```
/// use tarn_pool::{AssertionPool, Error};
/// # use tarn_core::testing::ScriptedManager;
///
/// let pool = AssertionPool::new(ScriptedManager::new());
/// let first = pool.get()?;
/// match pool.get() {
///     Err(Error::AlreadyCheckedOut { backtrace }) => assert!(backtrace.is_some()),
///     other => panic!("expected an error, got {other:?}"),
/// }
/// drop(first);
/// assert!(pool.get().is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AssertionPool<M: Manager> {
    inner: Arc<Inner<M>>,
    /// Where the connection now out was checked out. Written under the lock by the
    /// checkout that got it, so a checkout that finds it out reads that one's.
    out: Arc<Mutex<Option<Arc<Backtrace>>>>,
}

impl<M: Manager> Clone for AssertionPool<M> {
    fn clone(&self) -> Self {
        AssertionPool {
            inner: Arc::clone(&self.inner),
            out: Arc::clone(&self.out),
        }
    }
}

// Manual impl: no `M: Debug` bound, and managers may hold secrets.
impl<M: Manager> fmt::Debug for AssertionPool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionPool")
            .field("logging_name", &self.logging_name())
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Builder<M, AssertionPool<M>> {
    /// Records a backtrace at every checkout, for the error of a second one. Defaults to
    /// `true` (as the reference's `store_traceback`).
    ///
    /// ```
    /// # use tarn_pool::AssertionPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = AssertionPool::builder(ScriptedManager::new()).store_backtrace(false).build();
    /// let _held = pool.get()?;
    /// assert!(pool.get().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store_backtrace(mut self, on: bool) -> Self {
        self.cfg.store_backtrace = on;
        self
    }

    /// Builds the pool. Opens nothing.
    pub fn build(self) -> AssertionPool<M> {
        AssertionPool::from_parts(Arc::new(self.manager), self.cfg, self.listeners)
    }
}

impl<M: Manager> AssertionPool<M> {
    fn from_parts(manager: Arc<M>, cfg: Config, listeners: ListenerList<M::Connection>) -> Self {
        let settings = cfg.core.pool_size(1).max_overflow(0);
        let inner = Inner::new(manager, cfg, listeners, "assertion", settings)
            .expect("one slot and no overflow is a valid configuration");
        AssertionPool {
            inner: Arc::new(inner),
            out: Arc::new(Mutex::new(None)),
        }
    }

    /// A pool with the defaults.
    pub fn new(manager: M) -> Self {
        Self::builder(manager).build()
    }

    /// A builder for the reset mode, backtraces, logging name, echo and listeners.
    pub fn builder(manager: M) -> Builder<M, AssertionPool<M>> {
        Builder::new(manager)
    }

    /// Checks out the pool's one connection, opening it if needed.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyCheckedOut`] (with the first checkout's backtrace) if it is out;
    /// otherwise as [`Pool::get`](crate::Pool::get).
    pub fn get(&self) -> Result<KindConnection<'_, M>, Error<M::Error>> {
        self.checkout(&*self.inner.core, |p| KindConnection::lent(Guard::new(p)))
    }

    /// Like [`get`](Self::get), for a guard that owns a handle to the pool (`'static`).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// ```
    /// # use tarn_pool::{AssertionPool, Error};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = AssertionPool::new(ScriptedManager::new());
    /// let conn = pool.get_owned()?;
    /// assert!(matches!(pool.get_owned(), Err(Error::AlreadyCheckedOut { .. })));
    /// std::thread::spawn(move || assert_eq!(conn.id, 1)).join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_owned(&self) -> Result<OwnedPooledConnection<M>, Error<M::Error>> {
        self.checkout(Arc::clone(&self.inner.core), OwnedPooledConnection::new)
    }

    /// Like [`get_owned`](Self::get_owned), answering [`Error::WouldBlock`] (not
    /// [`Error::AlreadyCheckedOut`]) when the connection is out: for a caller that means to
    /// try again.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] as above; otherwise as [`get`](Self::get).
    ///
    /// ```
    /// # use tarn_pool::{AssertionPool, Error};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = AssertionPool::new(ScriptedManager::new());
    /// let conn = pool.try_get_owned()?;
    /// assert!(matches!(pool.try_get_owned(), Err(Error::WouldBlock)));
    /// # drop(conn);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get_owned(&self) -> Result<OwnedPooledConnection<M>, Error<M::Error>> {
        match self.checkout(Arc::clone(&self.inner.core), OwnedPooledConnection::new) {
            Err(Error::AlreadyCheckedOut { .. }) => Err(Error::WouldBlock),
            other => other,
        }
    }

    /// Marks the connection to be replaced: at its next checkout if it is in, when
    /// returned if it is out.
    pub fn invalidate_all(&self) {
        self.inner.invalidate_all();
    }

    /// Closes a detached connection: reset first (per the reset mode), then the
    /// `close_detached` event, then closed.
    ///
    /// ```
    /// # use tarn_pool::{AssertionPool, KindConnection};
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = AssertionPool::new(manager.clone());
    /// let raw = KindConnection::detach(pool.get()?);
    /// assert_eq!(pool.get()?.id, 2, "the slot is free again");
    /// pool.close_detached(raw);
    /// assert_eq!(manager.closed(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_detached(&self, conn: M::Connection) {
        self.inner.close_detached(conn);
    }

    /// The one checkout, recording where it was made.
    fn checkout<P: CorePtr<M>, T>(
        &self,
        ptr: P,
        wrap: impl FnOnce(Pooled<P>) -> T,
    ) -> Result<T, Error<M::Error>> {
        let mut out = lock_std(&self.out);
        match self.inner.try_checkout(ptr, wrap) {
            Ok(conn) => {
                *out = Some(Arc::new(if self.inner.cfg.store_backtrace {
                    Backtrace::force_capture()
                } else {
                    Backtrace::disabled()
                }));
                Ok(conn)
            }
            Err(Error::WouldBlock) => Err(Error::AlreadyCheckedOut {
                backtrace: out.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    /// `"AssertionPool"`, as the reference.
    pub fn status(&self) -> String {
        "AssertionPool".to_owned()
    }

    /// Cumulative counters.
    pub fn stats(&self) -> Stats {
        self.inner.ev().counters.snapshot()
    }

    /// The name the pool logs under.
    pub fn logging_name(&self) -> &str {
        &self.inner.ev().name
    }

    /// Registers a listener.
    pub fn add_listener(&self, listener: impl Events<M::Connection> + Send + Sync + 'static) {
        self.inner.ev().add(Arc::new(listener));
    }

    /// The pool's manager.
    pub fn manager(&self) -> &M {
        &self.inner.core.manager().inner
    }

    /// Closes the idle connection (one that is out is closed when returned).
    ///
    /// ```
    /// # use tarn_pool::AssertionPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = AssertionPool::new(manager.clone());
    /// drop(pool.get()?);
    /// pool.dispose();
    /// assert_eq!(manager.closed(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dispose(&self) {
        self.inner.dispose();
        tracing::info!(pool = %self.logging_name(), "Pool disposed. AssertionPool");
    }
}

impl<M: Manager> AssertionPool<M> {
    /// A new pool with the same configuration, manager and listeners.
    pub fn recreate(&self) -> Self {
        let (manager, cfg, listeners) = self.inner.recreate_parts();
        AssertionPool::from_parts(manager, cfg, listeners)
    }
}
