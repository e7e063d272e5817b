//! [`SingletonThreadPool`]: one connection per thread.
//!
//! Each pool keeps, per thread, a place ([`Kept`]) shared by three holders: the pool's list
//! of every thread's place (oldest first, for the clean-up rule), the thread's thread-local
//! list (so the thread finds its place again and closes its connection when it exits), and
//! the guard while the connection is out. A place the pool let go of (`evicted`) is never
//! handed out again; its connection is closed when it comes back.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tarn_core::Manager;

use super::base::Base;
use super::connection::{Kept, KindConnection, Return};
use crate::builder::Builder;
use crate::error::Error;
use crate::events::{Listener, Stats};
use crate::sync::lock_std;

static SINGLETON_IDS: AtomicUsize = AtomicUsize::new(1);

/// A pool that keeps one connection per thread, never moving a connection to another
/// thread, for at most `pool_size` threads at once (default 5).
///
/// - **Clean-up rule** (the reference's): when a thread opens its connection while
///   `pool_size` threads' connections are kept, the oldest kept ones are closed first (one
///   that is checked out is closed when it is returned, instead of under its user's feet).
/// - **Thread exit**: a thread's connection is closed when the thread exits (its
///   thread-local place is reached with `LocalKey::try_with`, so a checkout during
///   thread-local destruction still works: it gets a connection that is closed on return).
/// - **Nested checkout**: a second checkout on a thread whose connection is out fails with
///   [`Error::AlreadyCheckedOut`] (`backtrace: None`): Rust cannot hand out two `&mut` to one
///   connection. Pass the guard down instead.
///
/// # Examples
///
/// ```
/// use tarn_pool::{Error, SingletonThreadPool};
/// # use tarn_core::testing::ScriptedManager;
///
/// let pool = SingletonThreadPool::new(ScriptedManager::new());
/// let id = pool.get()?.id;
/// assert_eq!(pool.get()?.id, id, "same thread, same connection");
/// let other = std::thread::scope(|s| s.spawn(|| pool.get().map(|c| c.id)).join().unwrap())?;
/// assert_ne!(other, id);
///
/// let held = pool.get()?;
/// assert!(matches!(pool.get(), Err(Error::AlreadyCheckedOut { .. })));
/// # drop(held);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SingletonThreadPool<M: Manager + 'static> {
    inner: Arc<SingletonInner<M>>,
}

struct SingletonInner<M: Manager + 'static> {
    id: usize,
    base: Base<M>,
    /// Every thread's place, oldest first.
    all: Mutex<Vec<Arc<ThreadPlace<M>>>>,
}

struct ThreadPlace<M: Manager + 'static> {
    pool: Weak<SingletonInner<M>>,
    state: Arc<Mutex<Kept<M::Connection>>>,
}

/// A thread's place, as the thread-local list sees it (type-erased).
trait ThreadExit {
    fn as_any(&self) -> &dyn std::any::Any;
    fn exit(&self);
}

impl<M: Manager + 'static> ThreadExit for Arc<ThreadPlace<M>> {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn exit(&self) {
        let Some(pool) = self.pool.upgrade() else {
            return;
        };
        let conn = {
            let mut st = lock_std(&self.state);
            st.evicted = true;
            st.conn.take()
        };
        lock_std(&pool.all).retain(|s| !Arc::ptr_eq(s, self));
        if let Some(t) = conn {
            pool.base.close(t);
        }
    }
}

/// The thread-local list of a thread's places; closes them when the thread exits.
struct Locals(Vec<(usize, Box<dyn ThreadExit>)>);

impl Drop for Locals {
    fn drop(&mut self) {
        for (_, place) in self.0.drain(..) {
            place.exit();
        }
    }
}

thread_local! {
    static LOCALS: RefCell<Locals> = const { RefCell::new(Locals(Vec::new())) };
}

impl<M: Manager + 'static> Drop for SingletonInner<M> {
    fn drop(&mut self) {
        let all = std::mem::take(&mut *lock_std(&self.all));
        for place in all {
            let conn = lock_std(&place.state).conn.take();
            if let Some(t) = conn {
                self.base.close(t);
            }
        }
    }
}

impl<M: Manager + 'static> Clone for SingletonThreadPool<M> {
    fn clone(&self) -> Self {
        SingletonThreadPool {
            inner: Arc::clone(&self.inner),
        }
    }
}

// Manual impl: no `M: Debug` bound, and managers may hold secrets.
impl<M: Manager + 'static> fmt::Debug for SingletonThreadPool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingletonThreadPool")
            .field("logging_name", &&*self.inner.base.ev.name)
            .field("threads", &lock_std(&self.inner.all).len())
            .finish_non_exhaustive()
    }
}

impl<M: Manager + 'static> Builder<M, SingletonThreadPool<M>> {
    /// How many threads' connections are kept at once. Defaults to 5; 0 counts as 1.
    ///
    /// ```
    /// # use tarn_pool::SingletonThreadPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = SingletonThreadPool::builder(ScriptedManager::new()).pool_size(1).build();
    /// drop(pool.get()?);
    /// assert_eq!(pool.size(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pool_size(mut self, n: usize) -> Self {
        self.cfg.core.pool_size = n;
        self
    }

    /// Builds the pool. Opens nothing.
    pub fn build(self) -> SingletonThreadPool<M> {
        SingletonThreadPool {
            inner: Arc::new(SingletonInner {
                id: SINGLETON_IDS.fetch_add(1, Ordering::Relaxed),
                base: Base::new(self.manager, self.cfg, self.listeners, "singleton"),
                all: Mutex::new(Vec::new()),
            }),
        }
    }
}

impl<M: Manager + 'static> SingletonThreadPool<M> {
    /// A pool with the defaults (5 threads).
    pub fn new(manager: M) -> Self {
        Self::builder(manager).build()
    }

    /// A builder for `pool_size`, the reset mode, logging name, echo and listeners.
    pub fn builder(manager: M) -> Builder<M, SingletonThreadPool<M>> {
        Builder::new(manager)
    }

    /// This thread's place: `None` if thread-local storage is gone (thread exit),
    /// `Some(None)` if this thread has none yet.
    fn find_local(&self) -> Option<Option<Arc<ThreadPlace<M>>>> {
        let id = self.inner.id;
        LOCALS
            .try_with(|l| {
                let l = l.borrow();
                l.0.iter()
                    .find(|(pid, _)| *pid == id)
                    .and_then(|(_, s)| s.as_any().downcast_ref::<Arc<ThreadPlace<M>>>().cloned())
            })
            .ok()
    }

    /// Checks out this thread's connection, opening it on the thread's first checkout.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyCheckedOut`] for a nested checkout on one thread; otherwise as
    /// [`Pool::get`](crate::Pool::get).
    pub fn get(&self) -> Result<KindConnection<'_, M>, Error<M::Error>> {
        let base = &self.inner.base;
        let found = self.find_local();
        let Some(found) = found else {
            // Thread-local storage is being torn down: a connection just for this checkout.
            let t = base.open_and_hand_out()?;
            return Ok(KindConnection {
                base,
                conn: Some(t),
                home: Return::Close,
            });
        };
        if let Some(place) = found {
            let mut st = lock_std(&place.state);
            if !st.evicted {
                if st.out {
                    return Err(Error::AlreadyCheckedOut { backtrace: None });
                }
                let t = match st.conn.take() {
                    Some(t) => base.hand_out(t, false)?,
                    None => base.open_and_hand_out()?,
                };
                st.out = true;
                drop(st);
                return Ok(KindConnection {
                    base,
                    conn: Some(t),
                    home: Return::ToShared(Arc::clone(&place.state)),
                });
            }
        }
        // This thread has no (live) place: open one, applying the clean-up rule.
        let t = base.open_and_hand_out()?;
        let place = Arc::new(ThreadPlace {
            pool: Arc::downgrade(&self.inner),
            state: Arc::new(Mutex::new(Kept {
                out: true,
                ..Kept::new()
            })),
        });
        let evicted: Vec<_> = {
            let mut all = lock_std(&self.inner.all);
            let keep = base.cfg.core.pool_size.max(1);
            let n = (all.len() + 1).saturating_sub(keep);
            let old: Vec<_> = all.drain(..n).collect();
            all.push(Arc::clone(&place));
            old
        };
        for old in evicted {
            let conn = {
                let mut st = lock_std(&old.state);
                st.evicted = true;
                st.conn.take()
            };
            if let Some(t) = conn {
                base.close(t);
            }
        }
        let id = self.inner.id;
        let dyn_place: Box<dyn ThreadExit> = Box::new(Arc::clone(&place));
        let _ = LOCALS.try_with(|l| {
            let mut l = l.borrow_mut();
            l.0.retain(|(pid, _)| *pid != id);
            l.0.push((id, dyn_place));
        });
        Ok(KindConnection {
            base,
            conn: Some(t),
            home: Return::ToShared(Arc::clone(&place.state)),
        })
    }

    /// `"SingletonThreadPool id:<id> size: <threads kept>"`, as the reference.
    ///
    /// ```
    /// # use tarn_pool::SingletonThreadPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = SingletonThreadPool::new(ScriptedManager::new());
    /// drop(pool.get()?);
    /// assert!(pool.status().ends_with("size: 1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn status(&self) -> String {
        format!(
            "SingletonThreadPool id:{} size: {}",
            self.inner.id,
            lock_std(&self.inner.all).len()
        )
    }

    /// How many threads' connections are kept now.
    pub fn size(&self) -> usize {
        lock_std(&self.inner.all).len()
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

    /// Closes every kept connection (ones out are closed when returned).
    ///
    /// ```
    /// # use tarn_pool::SingletonThreadPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = SingletonThreadPool::new(manager.clone());
    /// drop(pool.get()?);
    /// pool.dispose();
    /// assert_eq!((manager.closed(), pool.size()), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dispose(&self) {
        let all = std::mem::take(&mut *lock_std(&self.inner.all));
        for place in all {
            let conn = {
                let mut st = lock_std(&place.state);
                st.evicted = true;
                st.conn.take()
            };
            if let Some(t) = conn {
                self.inner.base.close(t);
            }
        }
        tracing::info!(pool = %self.inner.base.ev.name, "Pool disposed. {}", self.status());
    }
}

impl<M: Manager + Clone + 'static> SingletonThreadPool<M> {
    /// A new pool with the same configuration, manager and listeners.
    pub fn recreate(&self) -> Self {
        let (cfg, listeners) = self.inner.base.recreate_parts();
        Builder::<M, Self>::with_parts(self.inner.base.mgr.inner.clone(), cfg, listeners).build()
    }
}
