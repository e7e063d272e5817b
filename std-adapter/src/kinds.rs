//! The reference's other pool kinds: [`NullPool`], [`StaticPool`], [`AssertionPool`] and
//! [`SingletonThreadPool`].

use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tarn_core::{InvalidateReason, Manager};

use crate::adapt::Tracked;
use crate::base::{lock_std, Base, KindBuilder};
use crate::events::{Listener, Stats};
use crate::Error;

// ---- NullPool -----------------------------------------------------------------------------

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

impl<M: Manager> KindBuilder<M, NullPool<M>> {
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
    pub fn builder(manager: M) -> KindBuilder<M, NullPool<M>> {
        KindBuilder::new(manager)
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
            home: Home::Close,
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

// ---- StaticPool ---------------------------------------------------------------------------

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

impl<M: Manager> KindBuilder<M, StaticPool<M>> {
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
    pub fn builder(manager: M) -> KindBuilder<M, StaticPool<M>> {
        KindBuilder::new(manager)
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

// ---- AssertionPool ------------------------------------------------------------------------

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
    state: Mutex<AssertionState<M::Connection>>,
}

struct AssertionState<C> {
    conn: Option<Tracked<C>>,
    /// `Some` while the connection is out: where it was checked out.
    out: Option<Arc<Backtrace>>,
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

impl<M: Manager> KindBuilder<M, AssertionPool<M>> {
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
                state: Mutex::new(AssertionState {
                    conn: None,
                    out: None,
                }),
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
    pub fn builder(manager: M) -> KindBuilder<M, AssertionPool<M>> {
        KindBuilder::new(manager)
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
        if let Some(bt) = &st.out {
            return Err(Error::AlreadyCheckedOut {
                backtrace: Some(Arc::clone(bt)),
            });
        }
        let t = match st.conn.take() {
            Some(t) => base.hand_out(t, false)?,
            None => base.open_and_hand_out()?,
        };
        st.out = Some(Arc::new(if base.cfg.store_backtrace {
            Backtrace::force_capture()
        } else {
            Backtrace::disabled()
        }));
        Ok(KindConnection {
            base,
            conn: Some(t),
            home: Home::Assertion(&self.inner.state),
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
        let mut b = Self::builder(self.inner.base.mgr.inner.clone());
        b.cfg = cfg;
        b.listeners = listeners;
        b.build()
    }
}

// ---- SingletonThreadPool ------------------------------------------------------------------

static SINGLETON_IDS: AtomicUsize = AtomicUsize::new(1);

/// A pool that keeps one connection per thread, never moving a connection to another
/// thread, for at most `pool_size` threads at once (default 5).
///
/// - **Clean-up rule** (the reference's): when a thread opens its connection while
///   `pool_size` threads' connections are kept, the oldest kept ones are closed first (one
///   that is checked out is closed when it is returned, instead of under its user's feet).
/// - **Thread exit**: a thread's connection is closed when the thread exits (its
///   thread-local slot is reached with `LocalKey::try_with`, so a checkout during
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
    /// Every thread's slot, oldest first.
    all: Mutex<Vec<Arc<ThreadSlot<M>>>>,
}

struct ThreadSlot<M: Manager + 'static> {
    pool: Weak<SingletonInner<M>>,
    state: Mutex<SlotState<M::Connection>>,
}

struct SlotState<C> {
    conn: Option<Tracked<C>>,
    out: bool,
    /// Dropped by the pool (clean-up, dispose, thread exit): close the connection on return.
    evicted: bool,
}

/// A thread's slot, as the thread-local list sees it (type-erased).
trait ThreadExit {
    fn as_any(&self) -> &dyn std::any::Any;
    fn exit(&self);
}

impl<M: Manager + 'static> ThreadExit for Arc<ThreadSlot<M>> {
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

/// The thread-local list of a thread's slots; closes them when the thread exits.
struct Locals(Vec<(usize, Box<dyn ThreadExit>)>);

impl Drop for Locals {
    fn drop(&mut self) {
        for (_, slot) in self.0.drain(..) {
            slot.exit();
        }
    }
}

thread_local! {
    static LOCALS: RefCell<Locals> = const { RefCell::new(Locals(Vec::new())) };
}

impl<M: Manager + 'static> Drop for SingletonInner<M> {
    fn drop(&mut self) {
        let all = std::mem::take(&mut *lock_std(&self.all));
        for slot in all {
            let conn = lock_std(&slot.state).conn.take();
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

impl<M: Manager + 'static> KindBuilder<M, SingletonThreadPool<M>> {
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
        self.cfg.pool_size = n;
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
    pub fn builder(manager: M) -> KindBuilder<M, SingletonThreadPool<M>> {
        KindBuilder::new(manager)
    }

    /// This thread's slot: `None` if thread-local storage is gone (thread exit),
    /// `Some(None)` if this thread has none yet.
    fn find_local(&self) -> Option<Option<Arc<ThreadSlot<M>>>> {
        let id = self.inner.id;
        LOCALS
            .try_with(|l| {
                let l = l.borrow();
                l.0.iter()
                    .find(|(pid, _)| *pid == id)
                    .and_then(|(_, s)| s.as_any().downcast_ref::<Arc<ThreadSlot<M>>>().cloned())
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
                home: Home::Close,
            });
        };
        if let Some(slot) = found {
            let mut st = lock_std(&slot.state);
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
                    home: Home::Thread(slot),
                });
            }
        }
        // This thread has no (live) slot: open one, applying the clean-up rule.
        let t = base.open_and_hand_out()?;
        let slot = Arc::new(ThreadSlot {
            pool: Arc::downgrade(&self.inner),
            state: Mutex::new(SlotState {
                conn: None,
                out: true,
                evicted: false,
            }),
        });
        let evicted: Vec<_> = {
            let mut all = lock_std(&self.inner.all);
            let keep = base.cfg.pool_size.max(1);
            let n = (all.len() + 1).saturating_sub(keep);
            let old: Vec<_> = all.drain(..n).collect();
            all.push(Arc::clone(&slot));
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
        let dyn_slot: Box<dyn ThreadExit> = Box::new(Arc::clone(&slot));
        let _ = LOCALS.try_with(|l| {
            let mut l = l.borrow_mut();
            l.0.retain(|(pid, _)| *pid != id);
            l.0.push((id, dyn_slot));
        });
        Ok(KindConnection {
            base,
            conn: Some(t),
            home: Home::Thread(slot),
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
        for slot in all {
            let conn = {
                let mut st = lock_std(&slot.state);
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
        let mut b = Self::builder(self.inner.base.mgr.inner.clone());
        b.cfg = cfg;
        b.listeners = listeners;
        b.build()
    }
}

// ---- the simple kinds' guard --------------------------------------------------------------

enum Home<'a, M: Manager + 'static> {
    /// Close on return (NullPool, or a SingletonThreadPool checkout at thread exit).
    Close,
    Assertion(&'a Mutex<AssertionState<M::Connection>>),
    Thread(Arc<ThreadSlot<M>>),
}

/// A connection checked out of a [`NullPool`], [`AssertionPool`] or
/// [`SingletonThreadPool`]. Derefs to the connection; dropping it checks it in (reset on
/// return, `checkin` event) and then closes it (NullPool) or keeps it for the next checkout.
///
/// ```
/// use tarn_pool::{KindConnection, NullPool};
/// # use tarn_core::testing::ScriptedManager;
/// let manager = ScriptedManager::new();
/// let pool = NullPool::new(manager.clone());
/// let conn = pool.get()?;
/// KindConnection::invalidate(conn);
/// assert_eq!(pool.stats().invalidated, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the guard immediately returns the connection to the pool"]
pub struct KindConnection<'a, M: Manager + 'static> {
    base: &'a Base<M>,
    conn: Option<Tracked<M::Connection>>,
    home: Home<'a, M>,
}

impl<M: Manager + 'static> KindConnection<'_, M> {
    fn take(&mut self) -> Tracked<M::Connection> {
        self.conn
            .take()
            .expect("a guard holds its connection until consumed")
    }

    /// Puts a connection (or nothing, if it was closed) back where it lives.
    fn go_home(&mut self, kept: Option<Tracked<M::Connection>>) {
        match &self.home {
            Home::Close => {
                if let Some(t) = kept {
                    self.base.close(t);
                }
            }
            Home::Assertion(state) => {
                let mut st = lock_std(state);
                st.out = None;
                if let Some(t) = kept {
                    if t.soft {
                        drop(st);
                        self.base.close(t);
                    } else {
                        st.conn = Some(t);
                    }
                }
            }
            Home::Thread(slot) => {
                let mut st = lock_std(&slot.state);
                st.out = false;
                if let Some(t) = kept {
                    if st.evicted || t.soft {
                        drop(st);
                        self.base.close(t);
                    } else {
                        st.conn = Some(t);
                    }
                }
            }
        }
    }

    /// Closes the connection as broken.
    pub fn invalidate(mut this: Self) {
        let t = this.take();
        this.base.invalidate(t, InvalidateReason::User);
        this.go_home(None);
    }

    /// Marks the connection to be closed when returned.
    ///
    /// ```
    /// # use tarn_pool::SingletonThreadPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = SingletonThreadPool::new(manager.clone());
    /// let mut c = pool.get()?;
    /// tarn_pool::KindConnection::soft_invalidate(&mut c);
    /// drop(c);
    /// assert_eq!(manager.closed(), 1, "closed on return, not kept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn soft_invalidate(this: &mut Self) {
        if let Some(t) = this.conn.as_mut() {
            this.base.soft_invalidate(t);
        }
    }

    /// Removes the connection from the pool for good.
    ///
    /// ```
    /// # use tarn_pool::NullPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = NullPool::new(manager.clone());
    /// let raw = tarn_pool::KindConnection::detach(pool.get()?);
    /// assert_eq!((raw.id, manager.closed()), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn detach(mut this: Self) -> M::Connection {
        let t = this.take();
        let conn = this.base.detach(t);
        this.go_home(None);
        conn
    }
}

impl<M: Manager + 'static> Drop for KindConnection<'_, M> {
    fn drop(&mut self) {
        if let Some(t) = self.conn.take() {
            let kept = self.base.release(t);
            self.go_home(kept);
        }
    }
}

impl<M: Manager + 'static> Deref for KindConnection<'_, M> {
    type Target = M::Connection;
    fn deref(&self) -> &M::Connection {
        &self
            .conn
            .as_ref()
            .expect("a guard holds its connection")
            .conn
    }
}

impl<M: Manager + 'static> DerefMut for KindConnection<'_, M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        &mut self
            .conn
            .as_mut()
            .expect("a guard holds its connection")
            .conn
    }
}

// Manual impl: show the connection, not the pool.
impl<M: Manager + 'static> fmt::Debug for KindConnection<'_, M>
where
    M::Connection: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KindConnection")
            .field("conn", &**self)
            .finish_non_exhaustive()
    }
}
