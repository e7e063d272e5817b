//! [`AssertionPool`]: one connection, at most one checkout at a time.

use std::backtrace::Backtrace;
use std::fmt;
use std::sync::{Arc, Mutex};

use tarn_core::Manager;

use super::base::Base;
use super::connection::{Kept, KindConnection, Return};
use crate::builder::Builder;
use crate::error::Error;
use crate::events::{Listener, Stats};
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
    inner: Arc<AssertionInner<M>>,
}

struct AssertionInner<M: Manager> {
    base: Base<M>,
    state: Mutex<Kept<M::Connection>>,
}

impl<M: Manager> Drop for AssertionInner<M> {
    fn drop(&mut self) {
        let conn = lock_std(&self.state).conn.take();
        if let Some(t) = conn {
            self.base.close(t);
        }
    }
}

impl<M: Manager> Clone for AssertionPool<M> {
    fn clone(&self) -> Self {
        AssertionPool {
            inner: Arc::clone(&self.inner),
        }
    }
}

// Manual impl: no `M: Debug` bound, and managers may hold secrets.
impl<M: Manager> fmt::Debug for AssertionPool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionPool")
            .field("logging_name", &&*self.inner.base.ev.name)
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
        AssertionPool {
            inner: Arc::new(AssertionInner {
                base: Base::new(self.manager, self.cfg, self.listeners, "assertion"),
                state: Mutex::new(Kept::new()),
            }),
        }
    }
}

impl<M: Manager> AssertionPool<M> {
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
        let base = &self.inner.base;
        let mut st = lock_std(&self.inner.state);
        if st.out {
            return Err(Error::AlreadyCheckedOut {
                backtrace: st.backtrace.clone(),
            });
        }
        let t = match st.conn.take() {
            Some(t) => base.hand_out(t, false)?,
            None => base.open_and_hand_out()?,
        };
        st.out = true;
        st.backtrace = Some(Arc::new(if base.cfg.store_backtrace {
            Backtrace::force_capture()
        } else {
            Backtrace::disabled()
        }));
        Ok(KindConnection {
            base,
            conn: Some(t),
            home: Return::To(&self.inner.state),
        })
    }

    /// `"AssertionPool"`, as the reference.
    pub fn status(&self) -> String {
        "AssertionPool".to_owned()
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
        let conn = lock_std(&self.inner.state).conn.take();
        if let Some(t) = conn {
            self.inner.base.close(t);
        }
        tracing::info!(pool = %self.inner.base.ev.name, "Pool disposed. AssertionPool");
    }
}

impl<M: Manager + Clone> AssertionPool<M> {
    /// A new pool with the same configuration, manager and listeners.
    pub fn recreate(&self) -> Self {
        let (cfg, listeners) = self.inner.base.recreate_parts();
        Builder::<M, Self>::with_parts(self.inner.base.mgr.inner.clone(), cfg, listeners).build()
    }
}
