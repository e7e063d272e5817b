//! [`SingletonThreadPool`]: one connection per thread. Its policy over the core: no limit
//! on connections open at once and nothing kept idle (`Retain::Nothing`); each thread's
//! connection, between two of its checkouts, is checked in where it is (the core's in-place
//! checkin: reset and `checkin` event) and kept in the thread's [`Place`], so no other
//! thread can get it. While it is out, the thread's list also points at the checkout, so a
//! nested checkout on the thread shares it ([`ThreadConnection`]).
//!
//! A place is shared by three holders: the pool's list of every thread's place (oldest
//! first, for the clean-up rule), the thread's thread-local list (so the thread finds its
//! place again, and its connection is closed when the thread exits), and the guard while
//! the connection is out. A place the pool let go of (`evicted`) is never handed out again;
//! its connection goes back to the core, which closes it.

use std::cell::RefCell;
use std::fmt;
use std::rc::{Rc, Weak as RcWeak};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tarn_core::{CheckedIn, Events, Manager, Pooled, Retain};

use super::thread_connection::{Out, Place, SharedCore, ThreadConnection};

use crate::builder::Builder;
use crate::config::Config;
use crate::error::Error;
use crate::events::{ListenerList, Stats};
use crate::pool::{Inner, TimeLeft};
use crate::sync::lock_std;
use crate::wait::Attempt;

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
/// - **Nested checkout** (the reference's): a checkout on a thread whose connection is out
///   returns the thread's connection. Rust cannot hand out two `&mut` to one connection, so
///   a checkout gives a [`ThreadConnection`], which derefs to `&M::Connection` (shared
///   access, as [`StaticPool`](crate::StaticPool)'s; use a connection type whose methods
///   take `&self`, as rusqlite's do, or interior mutability). Only the outermost return (the
///   last handle dropped) resets the connection and checks it in. A handle is neither `Send`
///   nor `Sync`: the connection never leaves its thread.
///
/// # Examples
///
/// ```
/// use tarn_pool::SingletonThreadPool;
/// # use tarn_core::testing::ScriptedManager;
///
/// let pool = SingletonThreadPool::new(ScriptedManager::new());
/// let id = pool.get()?.id;
/// assert_eq!(pool.get()?.id, id, "same thread, same connection");
/// let other = std::thread::scope(|s| s.spawn(|| pool.get().map(|c| c.id)).join().unwrap())?;
/// assert_ne!(other, id);
///
/// let held = pool.get()?;
/// assert_eq!(pool.get()?.id, held.id, "a nested checkout shares it");
/// # drop(held);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SingletonThreadPool<M: Manager + 'static> {
    inner: Arc<SingletonInner<M>>,
}

struct SingletonInner<M: Manager + 'static> {
    id: usize,
    pool: Inner<M>,
    /// Every thread's place, oldest first.
    all: Mutex<Vec<Arc<Place<M>>>>,
}

/// A thread's place, as the thread-local list sees it (type-erased).
trait ThreadExit {
    fn as_any(&self) -> &dyn std::any::Any;
    fn exit(&self);
}

/// A thread's entry in its thread-local list: its place, the pool that holds it, and the
/// checkout while the connection is out (for nested checkouts).
struct Local<M: Manager + 'static> {
    place: Arc<Place<M>>,
    pool: Weak<SingletonInner<M>>,
    out: RefCell<RcWeak<Out<M>>>,
}

impl<M: Manager + 'static> ThreadExit for Local<M> {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn exit(&self) {
        self.place.evict();
        if let Some(pool) = self.pool.upgrade() {
            lock_std(&pool.all).retain(|p| !Arc::ptr_eq(p, &self.place));
        }
    }
}

/// The thread-local list of a thread's places; closes their connections when the thread
/// exits.
struct Locals(Vec<(usize, Box<dyn ThreadExit>)>);

impl Drop for Locals {
    fn drop(&mut self) {
        for (_, local) in self.0.drain(..) {
            local.exit();
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
            place.evict();
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
            .field("logging_name", &self.logging_name())
            .field("threads", &self.size())
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
        SingletonThreadPool::from_parts(Arc::new(self.manager), self.cfg, self.listeners)
    }
}

impl<M: Manager + 'static> SingletonThreadPool<M> {
    fn from_parts(manager: Arc<M>, cfg: Config, listeners: ListenerList<M::Connection>) -> Self {
        // The kept connections are the threads' (in their places), not the core's idle set.
        let settings = cfg
            .core
            .pool_size(1)
            .unlimited_overflow()
            .retain(Retain::Nothing);
        let pool = Inner::new(manager, cfg, listeners, "singleton", settings)
            .expect("one slot and unlimited overflow is a valid configuration");
        SingletonThreadPool {
            inner: Arc::new(SingletonInner {
                id: SINGLETON_IDS.fetch_add(1, Ordering::Relaxed),
                pool,
                all: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A pool with the defaults (5 threads).
    pub fn new(manager: M) -> Self {
        Self::builder(manager).build()
    }

    /// A builder for `pool_size`, the reset mode, logging name, echo and listeners.
    pub fn builder(manager: M) -> Builder<M, SingletonThreadPool<M>> {
        Builder::new(manager)
    }

    /// This thread's place and its checkout if the connection is out: `None` if
    /// thread-local storage is gone (thread exit), `Some(None)` if this thread has none yet.
    fn find_local(&self) -> Option<Option<(Arc<Place<M>>, Option<Rc<Out<M>>>)>> {
        let id = self.inner.id;
        LOCALS
            .try_with(|l| {
                let l = l.borrow();
                l.0.iter()
                    .find(|(pid, _)| *pid == id)
                    .and_then(|(_, s)| s.as_any().downcast_ref::<Local<M>>())
                    .map(|local| (Arc::clone(&local.place), local.out.borrow().upgrade()))
            })
            .ok()
    }

    /// Records `c` as this thread's checkout, for nested checkouts to share.
    fn set_out(&self, c: &ThreadConnection<M>) {
        let id = self.inner.id;
        let _ = LOCALS.try_with(|l| {
            let l = l.borrow();
            if let Some(local) =
                l.0.iter()
                    .find(|(pid, _)| *pid == id)
                    .and_then(|(_, s)| s.as_any().downcast_ref::<Local<M>>())
            {
                *local.out.borrow_mut() = ThreadConnection::downgrade(c);
            }
        });
    }

    /// A connection from the core, for this thread; `wait`: wait while another thread runs
    /// the pool's very first connect, or answer [`Error::WouldBlock`].
    fn open(&self, wait: bool) -> Result<Pooled<SharedCore<M>>, Error<M::Error>> {
        let pool = &self.inner.pool;
        // Never short of capacity; only the pool's very first connect makes others wait.
        if wait {
            pool.checkout(|| Arc::clone(&pool.core), None, |p| p)
        } else {
            pool.try_checkout(Arc::clone(&pool.core), |p| p)
        }
    }

    /// Checks out this thread's connection, opening it on the thread's first checkout; a
    /// nested checkout (the thread's connection is out) shares it.
    ///
    /// # Errors
    ///
    /// As [`Pool::get`](crate::Pool::get).
    ///
    /// ```
    /// # use tarn_pool::SingletonThreadPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = SingletonThreadPool::new(manager.clone());
    /// let outer = pool.get()?;
    /// let inner = pool.get()?;
    /// assert_eq!((inner.id, manager.opened()), (outer.id, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<ThreadConnection<M>, Error<M::Error>> {
        self.thread_connection(true)
    }

    /// The same as [`get`](Self::get) (a [`ThreadConnection`] owns its handle to the pool
    /// already), for the surface every kind has.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn get_owned(&self) -> Result<ThreadConnection<M>, Error<M::Error>> {
        self.thread_connection(true)
    }

    /// Like [`get`](Self::get) without waiting: [`Error::WouldBlock`] while another thread
    /// runs the pool's very first connect (the pool is never short of capacity).
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] as above; otherwise as [`get`](Self::get).
    ///
    /// ```
    /// # use tarn_pool::SingletonThreadPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = SingletonThreadPool::new(ScriptedManager::new());
    /// assert_eq!(pool.try_get_owned()?.id, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get_owned(&self) -> Result<ThreadConnection<M>, Error<M::Error>> {
        self.thread_connection(false)
    }

    /// Marks every thread's connection to be replaced at its thread's next checkout (one
    /// that is out is reset and kept at its outermost return as usual, then replaced).
    ///
    /// ```
    /// # use tarn_pool::SingletonThreadPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = SingletonThreadPool::new(manager.clone());
    /// drop(pool.get()?);
    /// pool.invalidate_all();
    /// assert_eq!(pool.get()?.id, 2);
    /// assert_eq!(manager.closed(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn invalidate_all(&self) {
        self.inner.pool.invalidate_all();
    }

    /// Closes a detached connection: reset first (per the reset mode), then the
    /// `close_detached` event, then closed.
    pub fn close_detached(&self, conn: M::Connection) {
        self.inner.pool.close_detached(conn);
    }

    fn thread_connection(&self, wait: bool) -> Result<ThreadConnection<M>, Error<M::Error>> {
        let Some(found) = self.find_local() else {
            // Thread-local storage is being torn down: a connection just for this checkout,
            // in a place no one keeps (closed on return).
            let place = Arc::new(Place::out());
            place.evict();
            return Ok(ThreadConnection::new(self.open(wait)?, place));
        };
        if let Some((place, out)) = found {
            if let Some(out) = out {
                // A nested checkout: the thread's connection, even if the pool let go of
                // its place (it is then closed at the outermost return).
                return Ok(ThreadConnection::share(out));
            }
            let mut st = lock_std(&place.state);
            if !st.evicted {
                let p = match st.kept.take() {
                    Some(kept) => {
                        let left = TimeLeft::new(self.inner.pool.cfg.timeout);
                        let pool = &self.inner.pool;
                        match pool.caught(|| CheckedIn::checkout_within(kept, &left)) {
                            Attempt::Got(p) => p,
                            Attempt::Failed(e) => return Err(e),
                            // The kept connection was closed: open another.
                            Attempt::Busy => self.open(wait)?,
                        }
                    }
                    None => self.open(wait)?,
                };
                drop(st);
                let c = ThreadConnection::new(p, place);
                self.set_out(&c);
                return Ok(c);
            }
        }
        // This thread has no (live) place: open one, applying the clean-up rule.
        let p = self.open(wait)?;
        let place = Arc::new(Place::out());
        let evicted: Vec<_> = {
            let mut all = lock_std(&self.inner.all);
            let keep = self.inner.pool.cfg.core.pool_size.max(1);
            let n = (all.len() + 1).saturating_sub(keep);
            let old: Vec<_> = all.drain(..n).collect();
            all.push(Arc::clone(&place));
            old
        };
        for old in evicted {
            old.evict();
        }
        let c = ThreadConnection::new(p, Arc::clone(&place));
        let id = self.inner.id;
        let local: Box<dyn ThreadExit> = Box::new(Local {
            place,
            pool: Arc::downgrade(&self.inner),
            out: RefCell::new(ThreadConnection::downgrade(&c)),
        });
        let _ = LOCALS.try_with(|l| {
            let mut l = l.borrow_mut();
            l.0.retain(|(pid, _)| *pid != id);
            l.0.push((id, local));
        });
        Ok(c)
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
            self.size()
        )
    }

    /// How many threads' connections are kept now.
    pub fn size(&self) -> usize {
        lock_std(&self.inner.all).len()
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
            place.evict();
        }
        tracing::info!(pool = %self.logging_name(), "Pool disposed. {}", self.status());
    }
}

impl<M: Manager + 'static> SingletonThreadPool<M> {
    /// A new pool with the same configuration, manager and listeners.
    pub fn recreate(&self) -> Self {
        let (manager, cfg, listeners) = self.inner.pool.recreate_parts();
        SingletonThreadPool::from_parts(manager, cfg, listeners)
    }
}
