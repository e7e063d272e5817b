//! [`StaticPool`]: one connection shared by every caller. Its policy over the core: one
//! slot (and no limit, so that a connection can open while the one a `dispose` let go of is
//! still shared). The pool checks the connection out of the core once for every caller who
//! holds it at the same time: the callers' [`StaticConnection`]s share one checkout (an
//! `Arc<Out>`), which the pool finds again through a `Weak` while any is out. When the last
//! handle goes, the connection is returned to the core as any checkout is (reset on return,
//! `checkin` event) and kept idle there for the next checkout (`checkout` event, recycle,
//! pre-ping), or closed if a handle invalidated it or the pool was disposed.
//!
//! While that return runs, the pool's `busy` flag is still set: a checkout waits for it
//! (bounded by the pool's timeout) rather than open a second connection.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use tarn_core::{Events, Manager};

use crate::builder::Builder;
use crate::config::Config;
use crate::error::Error;
use crate::events::{ListenerList, Stats};
use crate::info::Info;
use crate::pool::{Guard, Inner, Shared};
use crate::sync::lock_std;

/// A pool of exactly one connection, shared by every caller at once.
///
/// Rust's ownership shapes this pool: many callers cannot each hold `&mut` to one
/// connection, so a checkout gives a [`StaticConnection`], a cheap clone of an `Arc` that
/// derefs to `&M::Connection` (shared access only). Use a connection type with interior
/// mutability (or a `Mutex` inside) for writes. The callers holding it at one time share
/// one checkout: when the last of them drops its handle, the connection is reset (rolled
/// back, per the reset mode) and checked in, as every kind's connection is on return, and
/// the next checkout checks it out again. [`dispose`](StaticPool::dispose) closes it (when
/// the last handle is dropped, if one is out): exactly once.
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
/// assert_eq!(manager.resets(), 1, "reset when the last caller is done");
/// pool.dispose();
/// assert_eq!(manager.closed(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StaticPool<M: Manager> {
    inner: Arc<StaticInner<M>>,
}

struct StaticInner<M: Manager> {
    pool: Inner<M>,
    state: Mutex<StaticState<M>>,
}

struct StaticState<M: Manager> {
    /// The checkout the callers share while any holds it.
    out: Weak<Out<M>>,
    /// A checkout of this generation exists (shared, or being returned).
    busy: bool,
    /// Bumped by `dispose`: a checkout of an older generation no longer touches the state.
    generation: u64,
}

/// One checkout of the shared connection, shared by every handle out at the same time.
struct Out<M: Manager> {
    /// `None` only once detached or while dropping.
    guard: Option<Guard<M, Shared>>,
    home: Arc<StaticInner<M>>,
    generation: u64,
    /// A handle invalidated the connection: closed as broken when the last handle goes.
    invalidated: AtomicBool,
    /// A handle soft-invalidated the connection: closed when the last handle goes.
    soft: AtomicBool,
    /// The connection's info while the handles share it (a lock: they may be on several
    /// threads); taken from its slot at checkout and put back at the return.
    info: Mutex<Info>,
}

impl<M: Manager> Drop for Out<M> {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            *guard.info_mut() = std::mem::take(
                self.info
                    .get_mut()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            if self.invalidated.load(Ordering::Acquire) {
                guard.invalidate();
            } else {
                if self.soft.load(Ordering::Acquire) {
                    guard.soft_invalidate();
                }
                // The guard's drop: reset, `checkin` event, kept idle in the core or closed.
                drop(guard);
            }
        }
        self.release();
    }
}

impl<M: Manager> Out<M> {
    /// This checkout is over: the next checkout may take the connection from the core.
    fn release(&self) {
        let mut st = lock_std(&self.home.state);
        if st.generation == self.generation {
            st.busy = false;
        }
    }
}

/// The shared connection of a [`StaticPool`]: derefs to `&M::Connection`; cloning it is
/// cheap (an `Arc`). Every handle out at one time is the same checkout; the last one
/// dropped returns the connection (reset, `checkin` event).
///
/// ```
/// # use tarn_pool::{StaticConnection, StaticPool};
/// # use tarn_core::testing::ScriptedManager;
/// let manager = ScriptedManager::new();
/// let pool = StaticPool::new(manager.clone());
/// let a = pool.get()?;
/// StaticConnection::invalidate(a);
/// assert_eq!(manager.closed(), 1, "the only handle: closed now");
/// assert_eq!(pool.get()?.id, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StaticConnection<M: Manager> {
    out: Arc<Out<M>>,
}

impl<M: Manager> StaticConnection<M> {
    /// How many handles to this checkout are out (1 for this one alone).
    pub fn handles(this: &Self) -> usize {
        Arc::strong_count(&this.out)
    }

    /// Closes the connection as broken: now if this is the only handle out, otherwise when
    /// the last handle is dropped (the others keep their access until then). The next
    /// checkout after that opens a new connection.
    pub fn invalidate(this: Self) {
        this.out.invalidated.store(true, Ordering::Release);
    }

    /// Marks the connection to be closed, instead of kept, when the last handle is dropped.
    ///
    /// ```
    /// # use tarn_pool::{StaticConnection, StaticPool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = StaticPool::new(manager.clone());
    /// let a = pool.get()?;
    /// StaticConnection::soft_invalidate(&a);
    /// drop(a);
    /// assert_eq!(manager.closed(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn soft_invalidate(this: &Self) {
        this.out.soft.store(true, Ordering::Release);
    }

    /// Removes the connection from the pool for good, if this is the only handle out; the
    /// next checkout opens a new one.
    ///
    /// # Errors
    ///
    /// Gives the handle back when other handles are out: the connection cannot leave while
    /// they use it.
    ///
    /// ```
    /// # use tarn_pool::{StaticConnection, StaticPool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = StaticPool::new(manager.clone());
    /// let (a, b) = (pool.get()?, pool.get()?);
    /// let a = StaticConnection::detach(a).expect_err("b is out");
    /// drop(b);
    /// let raw = StaticConnection::detach(a).ok().expect("the only handle");
    /// assert_eq!((raw.id, manager.closed()), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn detach(this: Self) -> Result<M::Connection, Self> {
        match Arc::try_unwrap(this.out) {
            Ok(mut out) => {
                let guard = out
                    .guard
                    .take()
                    .expect("a checkout holds its connection until it is consumed");
                let conn = guard.detach();
                drop(out); // releases the pool's busy flag
                Ok(conn)
            }
            Err(out) => Err(StaticConnection { out }),
        }
    }

    /// [`detach`](Self::detach), handing over the connection's [`Info`] with it.
    ///
    /// # Errors
    ///
    /// Gives the handle back when other handles are out, as `detach` does.
    ///
    /// ```
    /// # use tarn_pool::{StaticConnection, StaticPool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = StaticPool::new(ScriptedManager::new());
    /// let a = pool.get()?;
    /// StaticConnection::info(&a).insert(1_u8);
    /// let (raw, info) = StaticConnection::detach_with_info(a).ok().expect("the only handle");
    /// assert_eq!(info.get::<u8>(), Some(&1));
    /// pool.close_detached(raw);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn detach_with_info(this: Self) -> Result<(M::Connection, Info), Self> {
        match Arc::try_unwrap(this.out) {
            Ok(mut out) => {
                let guard = out
                    .guard
                    .take()
                    .expect("a checkout holds its connection until it is consumed");
                let info = std::mem::take(
                    out.info
                        .get_mut()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                );
                let conn = guard.detach();
                drop(out); // releases the pool's busy flag
                Ok((conn, info))
            }
            Err(out) => Err(StaticConnection { out }),
        }
    }

    /// The connection's [`Info`], shared by every handle (so behind a lock: the handles may
    /// be on several threads): kept across checkouts of this connection, empty for a new
    /// one. Hold the lock briefly; asking for it again on the same thread while holding it
    /// (through any handle) deadlocks, as with any `Mutex`.
    ///
    /// ```
    /// # use tarn_pool::{StaticConnection, StaticPool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = StaticPool::new(ScriptedManager::new());
    /// let (a, b) = (pool.get()?, pool.get()?);
    /// StaticConnection::info(&a).insert(1_u8);
    /// assert_eq!(StaticConnection::info(&b).get::<u8>(), Some(&1), "shared");
    /// drop((a, b));
    /// assert_eq!(StaticConnection::info(&pool.get()?).get::<u8>(), Some(&1), "kept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn info(this: &Self) -> MutexGuard<'_, Info> {
        lock_std(&this.out.info)
    }
}

impl<M: Manager> Clone for StaticConnection<M> {
    fn clone(&self) -> Self {
        StaticConnection {
            out: Arc::clone(&self.out),
        }
    }
}

impl<M: Manager> Deref for StaticConnection<M> {
    type Target = M::Connection;
    fn deref(&self) -> &M::Connection {
        self.out
            .guard
            .as_ref()
            .expect("a checkout holds its connection until it is consumed")
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
            .field("handles", &Arc::strong_count(&self.out))
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
        StaticPool::from_parts(Arc::new(self.manager), self.cfg, self.listeners)
    }
}

impl<M: Manager> StaticPool<M> {
    fn from_parts(manager: Arc<M>, cfg: Config, listeners: ListenerList<M::Connection>) -> Self {
        // Unlimited: after `dispose` a new connection opens while handles to the old one
        // may still be out.
        let settings = cfg.core.pool_size(1).unlimited_overflow();
        let pool = Inner::new(manager, cfg, listeners, "static", settings)
            .expect("one slot and unlimited overflow is a valid configuration");
        StaticPool {
            inner: Arc::new(StaticInner {
                pool,
                state: Mutex::new(StaticState {
                    out: Weak::new(),
                    busy: false,
                    generation: 0,
                }),
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
    /// [`Error::Disconnected`] or [`Error::Panicked`] as for [`Pool::get`](crate::Pool::get);
    /// [`Error::Timeout`] if the return of the last handle (its reset) outlasts the pool's
    /// timeout.
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
        self.share(true)
    }

    /// The same as [`get`](Self::get) (a [`StaticConnection`] owns its handle to the pool
    /// already), for the surface every kind has.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn get_owned(&self) -> Result<StaticConnection<M>, Error<M::Error>> {
        self.share(true)
    }

    /// Like [`get`](Self::get) without waiting: [`Error::WouldBlock`] while the last
    /// handle's return (its reset) or the pool's very first connect runs on another thread.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] as above; otherwise as [`get`](Self::get).
    ///
    /// ```
    /// # use tarn_pool::StaticPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = StaticPool::new(ScriptedManager::new());
    /// let (a, b) = (pool.try_get_owned()?, pool.try_get_owned()?);
    /// assert_eq!(a.id, b.id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get_owned(&self) -> Result<StaticConnection<M>, Error<M::Error>> {
        self.share(false)
    }

    /// Lets go of the shared connection and marks it to be replaced: it is closed when the
    /// last handle now out is dropped (or at the next checkout, if none is out), and the
    /// next checkout opens a new one.
    ///
    /// ```
    /// # use tarn_pool::StaticPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = StaticPool::new(manager.clone());
    /// let old = pool.get()?;
    /// pool.invalidate_all();
    /// assert_eq!(pool.get()?.id, 2, "a new connection for new checkouts");
    /// drop(old);
    /// assert_eq!(manager.closed(), 1, "the old one closed when its last handle went");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn invalidate_all(&self) {
        self.let_go();
        self.inner.pool.invalidate_all();
    }

    /// Closes a detached connection: reset first (per the reset mode), then the
    /// `close_detached` event, then closed.
    ///
    /// ```
    /// # use tarn_pool::{StaticConnection, StaticPool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = StaticPool::new(manager.clone());
    /// let raw = StaticConnection::detach(pool.get()?).ok().expect("the only handle");
    /// pool.close_detached(raw);
    /// assert_eq!((manager.resets(), manager.closed()), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_detached(&self, conn: M::Connection) {
        self.inner.pool.close_detached(conn);
    }

    /// Forgets the shared checkout: a handle out no longer touches the pool's state, and
    /// the next checkout takes a connection from the core.
    fn let_go(&self) {
        let mut st = lock_std(&self.inner.state);
        st.out = Weak::new();
        st.busy = false;
        st.generation += 1;
    }

    /// A handle to the shared checkout; `wait`: wait for a return under way and for the
    /// pool's very first connect, or answer [`Error::WouldBlock`].
    fn share(&self, wait: bool) -> Result<StaticConnection<M>, Error<M::Error>> {
        let timeout = self.inner.pool.cfg.timeout;
        let start = Instant::now();
        loop {
            let mut st = lock_std(&self.inner.state);
            if let Some(out) = st.out.upgrade() {
                return Ok(StaticConnection { out });
            }
            if !st.busy {
                let pool = &self.inner.pool;
                let guard = if wait {
                    pool.checkout(|| Arc::clone(&pool.core), None, Guard::new)?
                } else {
                    pool.try_checkout(Arc::clone(&pool.core), Guard::new)?
                };
                let mut guard: Guard<M, Shared> = guard;
                let info = std::mem::take(guard.info_mut());
                let out = Arc::new(Out {
                    guard: Some(guard),
                    info: Mutex::new(info),
                    home: Arc::clone(&self.inner),
                    generation: st.generation,
                    invalidated: AtomicBool::new(false),
                    soft: AtomicBool::new(false),
                });
                st.out = Arc::downgrade(&out);
                st.busy = true;
                return Ok(StaticConnection { out });
            }
            // The last handle was just dropped and its return (the reset) is running.
            drop(st);
            if !wait {
                return Err(Error::WouldBlock);
            }
            if start.elapsed() >= timeout {
                return Err(Error::Timeout {
                    waited: timeout,
                    pool_size: 1,
                    overflow: 0,
                    max_overflow: 0,
                    waiters: 1,
                    cause: crate::TimeoutCause::Busy,
                });
            }
            std::thread::yield_now();
        }
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
        self.let_go();
        // Closes the idle connection now and marks one out stale, so that its return
        // closes it.
        self.inner.pool.dispose();
        tracing::info!(pool = %self.logging_name(), "Pool disposed. StaticPool");
    }
}

impl<M: Manager> StaticPool<M> {
    /// A new pool with the same configuration, manager and listeners.
    pub fn recreate(&self) -> Self {
        let (manager, cfg, listeners) = self.inner.pool.recreate_parts();
        StaticPool::from_parts(manager, cfg, listeners)
    }
}
