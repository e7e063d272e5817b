//! [`Pool`] (the reference's `QueuePool`), its [`Builder`], and its guards.

use std::cell::Cell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tarn_core::{CheckoutError, Hint, IdleOrder, InvalidateReason, Manager, Pooled, ResetMode};

use crate::adapt::{panic_message, Mgr, MgrError, Tracked};
use crate::error::Error;
use crate::events::{CheckoutEvent, Ev, Listener, ListenerList, Stats};
use crate::wait::{Attempt, Fairness, WaitError, WaitQueue};
use crate::BuildError;

/// The reference pool's default checkout timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many connections the core keeps idle when `pool_size` is 0 ("no idle limit") with
/// unlimited overflow: the core is bounded, so beyond this many the adapter opens extra
/// connections and closes them when they are returned.
pub const UNBOUNDED_IDLE_CAP: usize = 1024;

/// Time for the core's recycle check: nanoseconds since the pool was built. Read by the core
/// only when a recycle age is set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StdClock {
    start: Instant,
}

impl tarn_core::Clock for StdClock {
    #[inline]
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

pub(crate) type CorePool<M> =
    tarn_core::Pool<Mgr<M>, Ev<<M as Manager>::Connection>, StdClock, (), Arc<WaitQueue>>;

/// The configuration a pool was built with (kept for `recreate`, `state` and errors).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) pool_size: usize,
    /// `None`: unlimited.
    pub(crate) max_overflow: Option<usize>,
    pub(crate) timeout: Duration,
    pub(crate) recycle: Option<Duration>,
    pub(crate) reset: ResetMode,
    pub(crate) pre_ping: bool,
    pub(crate) order: IdleOrder,
    pub(crate) name: Option<String>,
    pub(crate) echo: bool,
    pub(crate) fairness: Fairness,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pool_size: 5,
            max_overflow: Some(10),
            timeout: DEFAULT_TIMEOUT,
            recycle: None,
            reset: ResetMode::Rollback,
            pre_ping: false,
            order: IdleOrder::Fifo,
            name: None,
            echo: false,
            fairness: Fairness::Strict,
        }
    }
}

static POOL_IDS: AtomicUsize = AtomicUsize::new(1);

/// A default logging name: unique per pool in this process.
pub(crate) fn default_name(kind: &str) -> Arc<str> {
    let id = POOL_IDS.fetch_add(1, Ordering::Relaxed);
    Arc::from(format!("tarn.{kind}.{id:#x}"))
}

pub(crate) struct Inner<M: Manager> {
    /// In an `Arc` of its own, so that an owned guard holds the core pool itself (the core
    /// accepts only pointers that always lead to the same pool: `tarn_core::PoolPtr`).
    pub(crate) core: Arc<CorePool<M>>,
    pub(crate) cfg: Config,
    /// Core capacity (`pool_size + max_overflow` as given to the core).
    capacity: usize,
    /// Connections open outside the core (unlimited overflow only).
    extra: AtomicUsize,
}

thread_local! {
    /// The slot of this thread's last checkout: where its next one starts looking under
    /// the affinity order (the queue orders ignore it). One per thread for every pool: a
    /// hint from another pool only costs a longer scan (`tarn_core::Hint`).
    static HINT: Cell<Hint> = const { Cell::new(Hint::new()) };
}

/// How a guard reaches its pool's `Inner`: borrowed (`&Inner`, for [`PooledConnection`]) or
/// shared (`Arc<Inner>`, for [`OwnedPooledConnection`]), with the matching pointer to the core
/// pool for the core's guard.
pub(crate) trait InnerRef<M: Manager>: Deref<Target = Inner<M>> + Clone {
    /// The core guard's pointer to the core pool.
    type Core: tarn_core::PoolPtr + Deref<Target = CorePool<M>>;
    /// That pointer.
    fn core_ptr(&self) -> Self::Core;
}

impl<'a, M: Manager> InnerRef<M> for &'a Inner<M> {
    type Core = &'a CorePool<M>;
    #[inline(always)]
    fn core_ptr(&self) -> &'a CorePool<M> {
        let inner: &'a Inner<M> = self;
        &inner.core
    }
}

impl<M: Manager> InnerRef<M> for Arc<Inner<M>> {
    type Core = Arc<CorePool<M>>;
    #[inline(always)]
    fn core_ptr(&self) -> Arc<CorePool<M>> {
        Arc::clone(&self.core)
    }
}

/// A connection pool with a size limit and overflow: the reference's `QueuePool`.
///
/// A cheap handle: cloning it clones an `Arc`, and every clone uses the same pool.
/// `Send + Sync` when the manager is, and its connections are `Send`.
///
/// # Sizing (as the reference)
///
/// - up to `pool_size` connections are kept idle; up to `max_overflow` more may be open
///   under load, and are closed when returned while `pool_size` are idle;
/// - `pool_size(0)` means no idle limit: every connection is kept (the adapter gives the
///   core `pool_size = max_overflow`, `max_overflow = 0`);
/// - [`unlimited_overflow`](Builder::unlimited_overflow): the core holds `pool_size`
///   connections (or [`UNBOUNDED_IDLE_CAP`] when `pool_size` is 0); when it is full the
///   adapter opens extra connections outside it, counted in [`State::overflow`], and closes
///   them when they are returned.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tarn_pool::Pool;
/// # use tarn_core::testing::ScriptedManager;
///
/// let pool = Pool::builder(ScriptedManager::new())
///     .pool_size(2)
///     .max_overflow(1)
///     .timeout(Duration::from_millis(100))
///     .build()?;
/// let a = pool.get()?;
/// let b = pool.get()?;
/// let c = pool.get()?; // overflow
/// assert!(pool.get().unwrap_err().is_timeout());
/// drop((a, b, c));
/// assert_eq!(pool.state().idle, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool<M: Manager> {
    inner: Arc<Inner<M>>,
}

/// The reference's name for the default pool.
pub type QueuePool<M> = Pool<M>;

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            inner: Arc::clone(&self.inner),
        }
    }
}

// Manual impl: no `M: Debug` bound, and managers may hold secrets.
impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("logging_name", &self.logging_name())
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Pool`]. Every setting defaults to the reference pool's; [`build`]
/// validates.
///
/// [`build`]: Builder::build
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tarn_pool::{IdleOrder, Pool, ResetMode};
/// # use tarn_core::testing::ScriptedManager;
///
/// let pool = Pool::builder(ScriptedManager::new())
///     .pool_size(4)
///     .max_overflow(2)
///     .timeout(Duration::from_secs(5))
///     .recycle(Duration::from_secs(3600))
///     .reset_on_return(ResetMode::Rollback)
///     .pre_ping(true)
///     .idle_order(IdleOrder::Lifo)
///     .logging_name("orders")
///     .build()?;
/// assert_eq!(pool.logging_name(), "orders");
/// # Ok::<(), tarn_pool::BuildError>(())
/// ```
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct Builder<M: Manager> {
    manager: M,
    cfg: Config,
    listeners: ListenerList<M::Connection>,
}

// Manual impl: no `M: Debug` bound, and managers may hold secrets.
impl<M: Manager> fmt::Debug for Builder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.cfg)
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Builder<M> {
    /// How many connections the pool keeps idle. Defaults to 5; 0 means no idle limit
    /// (every connection is kept, as the reference).
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(2).build()?;
    /// let held: Vec<_> = (0..4).map(|_| pool.get().unwrap()).collect();
    /// drop(held);
    /// assert_eq!(pool.state().idle, 2, "two kept, the overflow closed");
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn pool_size(mut self, n: usize) -> Self {
        self.cfg.pool_size = n;
        self
    }

    /// How many connections may be open beyond `pool_size` under load. Defaults to 10.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(1).max_overflow(1).build()?;
    /// let (_a, _b) = (pool.get()?, pool.get()?);
    /// assert!(pool.try_get().is_err(), "1 + 1 is the limit");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_overflow(mut self, n: usize) -> Self {
        self.cfg.max_overflow = Some(n);
        self
    }

    /// No limit on overflow (the reference's `max_overflow = -1`): a checkout never waits
    /// for capacity. See [`Pool`] for how the adapter does it.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(1).unlimited_overflow().build()?;
    /// let held: Vec<_> = (0..100).map(|_| pool.try_get().unwrap()).collect();
    /// assert_eq!(pool.state().overflow, 99);
    /// # drop(held);
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn unlimited_overflow(mut self) -> Self {
        self.cfg.max_overflow = None;
        self
    }

    /// How long [`Pool::get`] waits for a connection. Defaults to 30 s. Sub-second and zero
    /// timeouts work (zero: try once, then fail with [`Error::Timeout`]).
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new())
    ///     .timeout(std::time::Duration::from_millis(250))
    ///     .build()?;
    /// assert_eq!(pool.timeout().as_millis(), 250);
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.cfg.timeout = timeout;
        self
    }

    /// Replaces a connection at checkout once it is older than `age`. Defaults to never.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new())
    ///     .recycle(std::time::Duration::from_millis(1))
    ///     .build()?;
    /// drop(pool.get()?);
    /// std::thread::sleep(std::time::Duration::from_millis(5));
    /// assert_eq!(pool.get()?.id, 2, "too old: replaced");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recycle(mut self, age: Duration) -> Self {
        self.cfg.recycle = Some(age);
        self
    }

    /// What to do with a returned connection. Defaults to [`ResetMode::Rollback`].
    ///
    /// ```
    /// # use tarn_pool::{Pool, ResetMode};
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = Pool::builder(manager.clone()).reset_on_return(ResetMode::None).build()?;
    /// drop(pool.get()?);
    /// assert_eq!(manager.resets(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset_on_return(mut self, mode: ResetMode) -> Self {
        self.cfg.reset = mode;
        self
    }

    /// Pings an idle connection before handing it out (not one just opened), replacing it
    /// silently if the ping fails. A ping failure the manager classifies as a disconnect also
    /// invalidates every older connection. Defaults to `false`.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = Pool::builder(manager.clone()).pre_ping(true).build()?;
    /// drop(pool.get()?);
    /// manager.fail_pings(1);
    /// assert_eq!(pool.get()?.id, 2, "replaced without an error");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pre_ping(mut self, on: bool) -> Self {
        self.cfg.pre_ping = on;
        self
    }

    /// FIFO (the reference's queue) or LIFO hand-out of idle connections, or
    /// [`IdleOrder::Affinity`]: each thread gets back the connection it used last, with no
    /// shared queue (the pool keeps a hint per thread). Defaults to [`IdleOrder::Fifo`].
    ///
    /// Affinity is the order for several threads on several cores that each check out and
    /// return often: a queue's cache lines travel between cores on every operation, which
    /// costs more than the rest of the cycle (BENCHMARKS.md). Give it `max_overflow(0)` for
    /// the full effect: with overflow the pool counts its idle connections in one shared
    /// counter. It has no order among idle connections.
    ///
    /// ```
    /// # use tarn_pool::{IdleOrder, Pool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).idle_order(IdleOrder::Lifo).build()?;
    /// let (a, b) = (pool.get()?, pool.get()?);
    /// drop(a);
    /// drop(b);
    /// assert_eq!(pool.get()?.id, 2, "the most recently returned first");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn idle_order(mut self, order: IdleOrder) -> Self {
        self.cfg.order = order;
        self
    }

    /// How the pool shares connections among threads that wait for one. Defaults to
    /// [`Fairness::Strict`]: first come, first served, no barging.
    ///
    /// [`Fairness::Eventual`] lets a running thread take a returned connection while others
    /// wait, as long as the longest waiter has not been passed over for the given turn.
    /// When threads outnumber cores and hold connections briefly, strict order costs a
    /// thread switch per checkout (the returned connection must go to a parked thread);
    /// eventual fairness keeps the running thread running and serves waiters turn by turn.
    /// `BENCHMARKS.md` measures both.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tarn_pool::{Fairness, Pool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new())
    ///     .fairness(Fairness::Eventual(Duration::from_micros(200)))
    ///     .build()?;
    /// assert_eq!(pool.fairness(), Fairness::Eventual(Duration::from_micros(200)));
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn fairness(mut self, fairness: Fairness) -> Self {
        self.cfg.fairness = fairness;
        self
    }

    /// The name the pool logs under (the `pool` field of its `tracing` events). Defaults to
    /// a name unique in the process. A password in it (a URL's, or a `password=` pair) is
    /// stored redacted, so it can never reach a log.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).logging_name("orders").build()?;
    /// assert_eq!(pool.logging_name(), "orders");
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn logging_name(mut self, name: impl Into<String>) -> Self {
        self.cfg.name = Some(name.into());
        self
    }

    /// Logs every checkout and checkin at debug level (the reference's `echo`). Defaults to
    /// `false`, and then no such event is even built.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).echo(true).build()?;
    /// drop(pool.get()?); // logs "Connection checked out from pool" at debug level
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn echo(mut self, on: bool) -> Self {
        self.cfg.echo = on;
        self
    }

    /// Registers a listener. Any number may be registered; they run in registration order.
    ///
    /// See [`Listener`] for an example.
    pub fn listener(mut self, listener: impl Listener<M::Connection> + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Validates the configuration and builds the pool. Opens no connection.
    ///
    /// # Errors
    ///
    /// - [`BuildError::ZeroCapacity`] if `pool_size` and `max_overflow` are both 0;
    /// - [`BuildError::TooLarge`] if the core cannot hold `pool_size + max_overflow` slots;
    /// - [`BuildError::FifoUnavailable`] for FIFO order where the FIFO queue does not exist.
    ///
    /// ```
    /// # use tarn_pool::{BuildError, Pool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let err = Pool::builder(ScriptedManager::new()).pool_size(0).max_overflow(0).build();
    /// assert_eq!(err.unwrap_err(), BuildError::ZeroCapacity);
    /// ```
    pub fn build(self) -> Result<Pool<M>, BuildError> {
        let Builder {
            manager,
            cfg,
            listeners,
        } = self;
        Ok(Pool {
            inner: Arc::new(Inner::new(manager, cfg, listeners)?),
        })
    }
}

impl<M: Manager> Inner<M> {
    fn new(
        manager: M,
        cfg: Config,
        listeners: ListenerList<M::Connection>,
    ) -> Result<Self, BuildError> {
        let (core_size, core_over) = match (cfg.pool_size, cfg.max_overflow) {
            (0, Some(0)) => return Err(BuildError::ZeroCapacity),
            (0, Some(m)) => (m, 0),
            (0, None) => (UNBOUNDED_IDLE_CAP, 0),
            (p, Some(m)) => (p, m),
            (p, None) => (p, 0),
        };
        let start = Instant::now();
        let epoch = Arc::new(AtomicUsize::new(0));
        let name: Arc<str> = match &cfg.name {
            Some(n) => Arc::from(crate::registry::redact(n).as_str()),
            None => default_name("pool"),
        };
        let mut events = Ev::new(
            listeners,
            cfg.echo,
            name,
            cfg.recycle,
            Arc::clone(&epoch),
            start,
        );
        events.wait = Arc::new(WaitQueue::new(cfg.fairness));
        let waiters = Arc::clone(&events.wait);
        let mut b = tarn_core::Builder::new(Mgr::new(manager, start, epoch))
            .pool_size(core_size)
            .max_overflow(core_over)
            .reset_on_return(cfg.reset)
            .pre_ping(cfg.pre_ping)
            .idle_order(cfg.order)
            .events(events)
            .waiters(waiters)
            .clock(StdClock { start });
        if let Some(age) = cfg.recycle {
            b = b.recycle(u64::try_from(age.as_nanos()).unwrap_or(u64::MAX));
        }
        let core = b.build()?;
        Ok(Inner {
            core: Arc::new(core),
            cfg,
            capacity: core_size.saturating_add(core_over),
            extra: AtomicUsize::new(0),
        })
    }

    #[inline]
    fn ev(&self) -> &Ev<M::Connection> {
        self.core.events()
    }

    /// The core's checkout, from this thread's hint. Read and written for every order: a
    /// branch on the order made the compiler keep the FIFO queue's pop out of line
    /// (callgrind: 7 more instructions per cycle than these two thread-local accesses).
    #[inline(always)]
    fn core_checkout<R>(r: &R) -> Result<Pooled<R::Core>, CheckoutError<MgrError<M::Error>>>
    where
        R: InnerRef<M>,
    {
        let mut hint = HINT.with(Cell::get);
        let res = CorePool::<M>::try_checkout_in_hinted(r.core_ptr(), &mut hint);
        HINT.with(|cell| cell.set(hint));
        res
    }

    /// One try at the core (and, with unlimited overflow, outside it).
    #[inline]
    fn attempt<R>(r: &R) -> Attempt<Guard<M, R>, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        // Only listeners can unwind out of the core here (the manager is wrapped in `Mgr`,
        // which catches its panics): without listeners, skip the catch.
        let res = if r.ev().has_listeners() {
            catch_unwind(AssertUnwindSafe(|| Self::core_checkout(r)))
        } else {
            Ok(Self::core_checkout(r))
        };
        match res {
            Ok(Ok(p)) => {
                if r.cfg.echo {
                    tracing::debug!(pool = %r.ev().name, "Connection checked out from pool");
                }
                Attempt::Got(Guard::core(p))
            }
            Ok(Err(CheckoutError::WouldBlock)) if r.cfg.max_overflow.is_some() => Attempt::Busy,
            Ok(Err(e)) => Self::core_failed(r, e),
            Err(payload) => Attempt::Failed(Error::Panicked {
                what: format!("a listener panicked: {}", panic_message(&*payload)),
            }),
        }
    }

    /// A core checkout that failed, as the caller sees it: an error (logged as the reference
    /// logs it), a connection opened outside the core (unlimited overflow), or busy.
    #[cold]
    fn core_failed<R>(
        r: &R,
        e: CheckoutError<MgrError<M::Error>>,
    ) -> Attempt<Guard<M, R>, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        match e {
            CheckoutError::WouldBlock if r.cfg.max_overflow.is_none() => Self::attempt_extra(r),
            CheckoutError::Connect(MgrError::Manager(e)) => {
                tracing::debug!(pool = %r.ev().name, "Error on connect()");
                Attempt::Failed(Error::Connect(e))
            }
            CheckoutError::Connect(MgrError::Panicked(what)) => {
                Attempt::Failed(Error::Panicked { what })
            }
            CheckoutError::Disconnected => {
                tracing::info!(pool = %r.ev().name, "Reconnection attempts exhausted on checkout");
                Attempt::Failed(Error::Disconnected)
            }
            _ => Attempt::Busy,
        }
    }

    /// Unlimited overflow: opens a connection outside the core when the core is full.
    #[cold]
    fn attempt_extra<R>(r: &R) -> Attempt<Guard<M, R>, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        if r.core.state().open < r.capacity {
            // Not full: the first connect is running (or a slot is being given back).
            return Attempt::Busy;
        }
        let res = catch_unwind(AssertUnwindSafe(
            || -> Result<Extra<M, R>, Error<M::Error>> {
                let mut attempt = 0u8;
                loop {
                    let conn = match r.core.manager().connect() {
                        Ok(c) => c,
                        Err(MgrError::Manager(e)) => return Err(Error::Connect(e)),
                        Err(MgrError::Panicked(what)) => return Err(Error::Panicked { what }),
                    };
                    r.extra.fetch_add(1, Ordering::Relaxed);
                    let mut extra = Extra {
                        pool: r.clone(),
                        conn: Some(conn),
                    };
                    let t = extra.conn.as_mut().expect("just set");
                    r.ev().on_connect(t);
                    let ev = CheckoutEvent {
                        fresh: true,
                        attempt,
                    };
                    match r.ev().on_checkout(t, &ev) {
                        Ok(()) => return Ok(extra),
                        Err(_) => {
                            r.ev().on_invalidate(t, InvalidateReason::Disconnected);
                            drop(extra);
                            if attempt >= 1 {
                                return Err(Error::Disconnected);
                            }
                            attempt += 1;
                        }
                    }
                }
            },
        ));
        match res {
            Ok(Ok(extra)) => Attempt::Got(Guard {
                slot: Slot::Extra(Some(Box::new(extra))),
            }),
            Ok(Err(e)) => Attempt::Failed(e),
            Err(payload) => Attempt::Failed(Error::Panicked {
                what: format!("a listener panicked: {}", panic_message(&*payload)),
            }),
        }
    }

    /// The whole checkout: fast path, then waiting in line. `timeout` is `None` for the
    /// configured one, read only once the fast path has failed: read up front, it was a load
    /// and a spill on every checkout.
    ///
    /// `wrap` makes the public guard: the fast path builds the caller's `Result` with it
    /// directly. Mapping a returned `Result<Guard, _>` instead copied the guard between two
    /// stack slots as one 16-byte value just after it was written as two 8-byte words, a
    /// store-forwarding stall that cost more than everything else in the cycle.
    #[inline(always)]
    fn checkout<R, T>(
        r: R,
        timeout: Option<Duration>,
        wrap: impl FnOnce(Guard<M, R>) -> T,
    ) -> Result<T, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        let ev = r.ev();
        if ev.wait.open_to_newcomers() {
            if ev.plain() {
                // The fast path: nothing to catch, nothing to log; the guard is built in place.
                match Self::core_checkout(&r) {
                    Ok(p) => return Ok(wrap(Guard::core(p))),
                    Err(CheckoutError::WouldBlock) if r.cfg.max_overflow.is_some() => {}
                    Err(e) => return Self::checkout_failed(&r, e, timeout).map(wrap),
                }
            } else {
                match Self::attempt(&r) {
                    Attempt::Got(g) => return Ok(wrap(g)),
                    Attempt::Failed(e) => return Err(e),
                    Attempt::Busy => {}
                }
            }
        }
        Self::wait_for(r, timeout).map(wrap)
    }

    /// The fast path's failures: an error, or (unlimited overflow) an extra connection.
    #[cold]
    fn checkout_failed<R>(
        r: &R,
        e: CheckoutError<MgrError<M::Error>>,
        timeout: Option<Duration>,
    ) -> Result<Guard<M, R>, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        match Self::core_failed(r, e) {
            Attempt::Got(g) => Ok(g),
            Attempt::Failed(e) => Err(e),
            Attempt::Busy => Self::wait_for(r.clone(), timeout),
        }
    }

    #[cold]
    fn wait_for<R>(r: R, timeout: Option<Duration>) -> Result<Guard<M, R>, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        let timeout = timeout.unwrap_or(r.cfg.timeout);
        let deadline = Instant::now().checked_add(timeout);
        match r.ev().wait.wait(deadline, || Self::attempt(&r)) {
            Ok(g) => Ok(g),
            Err(WaitError::Failed(e)) => Err(e),
            Err(WaitError::TimedOut { waiters }) => {
                r.ev().counters.timeouts.fetch_add(1, Ordering::Relaxed);
                let state = r.state();
                let err = Error::Timeout {
                    waited: timeout,
                    pool_size: state.pool_size,
                    overflow: state.overflow,
                    max_overflow: state.max_overflow,
                    waiters,
                };
                tracing::debug!(pool = %r.ev().name, "{err}");
                Err(err)
            }
        }
    }

    #[inline]
    fn try_checkout<R, T>(r: R, wrap: impl FnOnce(Guard<M, R>) -> T) -> Result<T, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        let ev = r.ev();
        if !ev.wait.open_to_newcomers() {
            return Err(Error::WouldBlock);
        }
        let attempt = if ev.plain() {
            // As `checkout`'s fast path: nothing to catch or log, the caller's `Result` built
            // in place, an exhausted pool answered inline (through `attempt`, whose result
            // carries a whole guard or error, it took twice the instructions).
            match Self::core_checkout(&r) {
                Ok(p) => return Ok(wrap(Guard::core(p))),
                Err(CheckoutError::WouldBlock) if r.cfg.max_overflow.is_some() => {
                    return Err(Error::WouldBlock)
                }
                Err(e) => Self::core_failed(&r, e),
            }
        } else {
            Self::attempt(&r)
        };
        match attempt {
            Attempt::Got(g) => Ok(wrap(g)),
            Attempt::Failed(e) => Err(e),
            Attempt::Busy => Err(Error::WouldBlock),
        }
    }

    pub(crate) fn state(&self) -> State {
        let cs = self.core.state();
        let extra = self.extra.load(Ordering::Relaxed);
        let open = cs.open + extra;
        let pool_size = self.cfg.pool_size;
        State {
            pool_size,
            max_overflow: self.cfg.max_overflow.unwrap_or(usize::MAX),
            open,
            idle: cs.idle,
            checked_out: open.saturating_sub(cs.idle),
            overflow: open.saturating_sub(pool_size),
            waiting: self.ev().wait.waiting(),
        }
    }
}

/// A snapshot of a pool's counters.
///
/// Read without a lock: under load the fields may disagree by a connection or two; at
/// quiescence `open = idle + checked_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct State {
    /// The configured `pool_size` (0: no idle limit).
    pub pool_size: usize,
    /// The configured `max_overflow`; `usize::MAX` when unlimited.
    pub max_overflow: usize,
    /// Connections open now (idle or checked out).
    pub open: usize,
    /// Idle connections in the pool.
    pub idle: usize,
    /// Connections checked out.
    pub checked_out: usize,
    /// Open connections beyond `pool_size`.
    pub overflow: usize,
    /// Threads waiting for a connection.
    pub waiting: usize,
}

impl State {
    /// The reference pool's signed overflow: `open - pool_size`, negative while fewer than
    /// `pool_size` connections are open.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(3).build()?;
    /// assert_eq!(pool.state().signed_overflow(), -3);
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn signed_overflow(&self) -> isize {
        self.open as isize - self.pool_size as isize
    }
}

/// Formats like the reference pool's `status()`.
impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pool size: {}  Connections in pool: {} Current Overflow: {} Current Checked out connections: {}",
            self.pool_size,
            self.idle,
            self.signed_overflow(),
            self.checked_out
        )
    }
}

impl<M: Manager> Pool<M> {
    /// A builder with the reference's defaults: `pool_size` 5, `max_overflow` 10, timeout
    /// 30 s, no recycle, rollback on return, no pre-ping, FIFO, no listeners.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// assert_eq!(pool.state().pool_size, 5);
    /// assert_eq!(pool.state().max_overflow, 10);
    /// assert_eq!(pool.timeout(), std::time::Duration::from_secs(30));
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn builder(manager: M) -> Builder<M> {
        Builder {
            manager,
            cfg: Config::default(),
            listeners: Vec::new(),
        }
    }

    /// Checks out a connection, waiting up to the configured timeout (default 30 s).
    ///
    /// Waiters are served first come, first served (or, with [`Fairness::Eventual`], turn by
    /// turn: see [`Builder::fairness`]).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] after the timeout; [`Error::Connect`] if opening a connection
    /// failed; [`Error::Disconnected`] if listeners rejected two fresh connections;
    /// [`Error::Panicked`] if a listener panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// let conn = pool.get()?;
    /// assert_eq!(conn.id, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get(&self) -> Result<PooledConnection<'_, M>, Error<M::Error>> {
        Inner::checkout(&*self.inner, None, |g| PooledConnection { g })
    }

    /// Like [`get`](Self::get), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(1).max_overflow(0).build()?;
    /// let held = pool.get()?;
    /// let err = pool.get_timeout(Duration::ZERO).unwrap_err();
    /// assert!(err.is_timeout());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get_timeout(
        &self,
        timeout: Duration,
    ) -> Result<PooledConnection<'_, M>, Error<M::Error>> {
        Inner::checkout(&*self.inner, Some(timeout), |g| PooledConnection { g })
    }

    /// Checks out a connection without waiting.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] if no connection is free (or others are waiting in line:
    /// `try_get` does not barge past them; with [`Fairness::Eventual`], only while a
    /// connection is reserved for the longest waiter); otherwise as [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # use tarn_pool::{Error, Pool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(1).max_overflow(0).build()?;
    /// let held = pool.try_get()?;
    /// assert!(matches!(pool.try_get(), Err(Error::WouldBlock)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_get(&self) -> Result<PooledConnection<'_, M>, Error<M::Error>> {
        Inner::try_checkout(&*self.inner, |g| PooledConnection { g })
    }

    /// Like [`get`](Self::get), for a guard that owns a handle to the pool (`'static`: it
    /// can be moved to another thread or kept in a struct).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// let conn = pool.get_owned()?;
    /// std::thread::spawn(move || assert_eq!(conn.id, 1)).join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_owned(&self) -> Result<OwnedPooledConnection<M>, Error<M::Error>> {
        Inner::checkout(Arc::clone(&self.inner), None, |g| OwnedPooledConnection {
            g,
        })
    }

    /// Like [`get_owned`](Self::get_owned), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// let conn = pool.get_owned_timeout(Duration::from_millis(5))?;
    /// # drop(conn);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_owned_timeout(
        &self,
        timeout: Duration,
    ) -> Result<OwnedPooledConnection<M>, Error<M::Error>> {
        Inner::checkout(Arc::clone(&self.inner), Some(timeout), |g| {
            OwnedPooledConnection { g }
        })
    }

    /// A snapshot of the pool's counters, with how many threads wait.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// let conn = pool.get()?;
    /// let state = pool.state();
    /// assert_eq!((state.open, state.checked_out, state.idle, state.waiting), (1, 1, 0, 0));
    /// # drop(conn);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state(&self) -> State {
        self.inner.state()
    }

    /// The reference's `status()` line.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(3).build()?;
    /// let _c = pool.get()?;
    /// assert_eq!(
    ///     pool.status(),
    ///     "Pool size: 3  Connections in pool: 0 Current Overflow: -2 Current Checked out connections: 1"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn status(&self) -> String {
        self.state().to_string()
    }

    /// Cumulative counters of rare events (opened, closed, recycled, invalidated, timeouts).
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// drop(pool.get()?);
    /// assert_eq!(pool.stats().opened, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.inner.ev().counters.snapshot()
    }

    /// The name the pool logs under.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).logging_name("db").build()?;
    /// assert_eq!(pool.logging_name(), "db");
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn logging_name(&self) -> &str {
        &self.inner.ev().name
    }

    /// The configured checkout timeout.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// assert_eq!(pool.timeout(), tarn_pool::DEFAULT_TIMEOUT);
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn timeout(&self) -> Duration {
        self.inner.cfg.timeout
    }

    /// The waiting policy the pool was built with ([`Builder::fairness`]).
    pub fn fairness(&self) -> Fairness {
        self.inner.cfg.fairness
    }

    /// Invalidates every connection opened so far: idle ones are replaced at their next
    /// checkout, checked-out ones are closed when returned. O(1).
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = Pool::builder(manager.clone()).build()?;
    /// drop(pool.get()?);
    /// pool.invalidate_all();
    /// assert_eq!(pool.get()?.id, 2, "the old connection was replaced");
    /// assert_eq!(manager.closed(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn invalidate_all(&self) {
        self.inner.ev().epoch.fetch_add(1, Ordering::Relaxed);
        self.inner.core.invalidate_all();
        tracing::info!(pool = %self.logging_name(), "Pool invalidated");
    }

    /// Closes every idle connection now and every checked-out one when it is returned. The
    /// pool stays usable.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = Pool::builder(manager.clone()).build()?;
    /// drop(pool.get()?);
    /// pool.dispose();
    /// assert_eq!((manager.closed(), pool.state().open), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dispose(&self) {
        self.inner.ev().epoch.fetch_add(1, Ordering::Relaxed);
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.inner.core.dispose())) {
            tracing::error!(pool = %self.logging_name(), "a listener panicked while disposing: {}", panic_message(&*p));
        }
        tracing::info!(pool = %self.logging_name(), "Pool disposed. {}", self.status());
    }

    /// Registers a listener on a running pool (the reference's `event.listen`).
    ///
    /// While a pool has no listener its checkouts skip the panic catching that listeners
    /// need; a checkout already under way when the first listener is registered may run it
    /// without that net (a panic in it then reaches that caller as a panic; the pool's
    /// counts stay right either way).
    ///
    /// ```
    /// # use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
    /// # use tarn_pool::{Listener, Pool};
    /// # use tarn_core::testing::ScriptedManager;
    /// struct Opened(AtomicUsize);
    /// impl<C> Listener<C> for Opened {
    ///     fn connect(&self, _: &mut C) { self.0.fetch_add(1, Ordering::Relaxed); }
    /// }
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// let opened = Arc::new(Opened(AtomicUsize::new(0)));
    /// pool.add_listener(Arc::clone(&opened));
    /// drop(pool.get()?);
    /// assert_eq!(opened.0.load(Ordering::Relaxed), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_listener(&self, listener: impl Listener<M::Connection> + 'static) {
        self.inner.ev().add(Arc::new(listener));
    }

    /// Closes a connection that left the pool through [`PooledConnection::detach`], firing
    /// the `close_detached` event.
    ///
    /// ```
    /// # use tarn_pool::{Pool, PooledConnection};
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = Pool::builder(manager.clone()).build()?;
    /// let raw = PooledConnection::detach(pool.get()?);
    /// pool.close_detached(raw);
    /// assert_eq!(manager.closed(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_detached(&self, conn: M::Connection) {
        let mgr = self.inner.core.manager();
        let mut t = Tracked {
            conn,
            born: 0,
            epoch: 0,
            soft: false,
        };
        let ev = self.inner.ev();
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| ev.on_close_detached(&mut t))) {
            tracing::error!(pool = %ev.name, "a listener panicked: {}", panic_message(&*p));
        }
        mgr.close(t);
    }

    /// The pool's manager.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = Pool::builder(manager.clone()).build()?;
    /// drop(pool.get()?);
    /// assert_eq!(pool.manager().opened(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn manager(&self) -> &M {
        &self.inner.core.manager().inner
    }
}

impl<M: Manager + Clone> Pool<M> {
    /// A new, empty pool with the same configuration, manager and listeners (the
    /// reference's `recreate`). Connects nothing; this pool is left as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(2).logging_name("a").build()?;
    /// let fresh = pool.recreate();
    /// assert_eq!((fresh.state().pool_size, fresh.state().open), (2, 0));
    /// assert_eq!(fresh.logging_name(), "a");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recreate(&self) -> Pool<M> {
        tracing::info!(pool = %self.logging_name(), "Pool recreating");
        let mut cfg = self.inner.cfg.clone();
        cfg.name = Some(self.logging_name().to_owned());
        let inner = Inner::new(self.manager().clone(), cfg, self.inner.ev().snapshot())
            .expect("the configuration was validated when this pool was built");
        Pool {
            inner: Arc::new(inner),
        }
    }
}

// ---- guards -------------------------------------------------------------------------------

/// A connection opened outside the core (unlimited overflow). Closed when dropped.
pub(crate) struct Extra<M: Manager, R: InnerRef<M>> {
    pool: R,
    conn: Option<Tracked<M::Connection>>,
}

impl<M: Manager, R: InnerRef<M>> Drop for Extra<M, R> {
    fn drop(&mut self) {
        if let Some(mut t) = self.conn.take() {
            let ev = self.pool.ev();
            let _ = catch_unwind(AssertUnwindSafe(|| ev.on_close(&mut t)));
            self.pool.core.manager().close(t);
            self.pool.extra.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What a guard holds. Two words, the size of the core's guard: `Core` uses both (two
/// non-null pointers), and `Extra` fits in the word beside the one whose zero tells the
/// variants apart (a size assertion below keeps it so). The consumed state is `Extra(None)`,
/// not an `Option` around the enum: an `Option` added a third word (a tag) that every
/// `deref` and every drop tested (`sidebyside --profile tarn`, callgrind: 258 → 233
/// instructions per cycle with the changes around it).
///
/// Beware of moving a guard between two places in memory on the hot path: with two variants
/// that carry data, the compiler copies this enum as one 16-byte value, and reading it so
/// right after it was written as two words stalls on store forwarding (it once cost more
/// than the rest of the cycle; see `Inner::checkout`'s `wrap`).
enum Slot<M: Manager, R: InnerRef<M>> {
    Core(Pooled<R::Core>),
    /// A connection opened outside the core, boxed: rare (unlimited overflow only), and
    /// inline it would make every guard as large as a connection. `None` once the guard has
    /// been consumed (`invalidate`, `detach`, `checkin`, the slow drop).
    Extra(Option<Box<Extra<M, R>>>),
}

/// The guard shared by [`PooledConnection`] and [`OwnedPooledConnection`].
pub(crate) struct Guard<M: Manager, R: InnerRef<M>> {
    slot: Slot<M, R>,
}

impl<M: Manager, R: InnerRef<M>> Guard<M, R> {
    /// Holds for every guard type that is built: `Slot` is two words (see there).
    const TWO_WORDS: () = assert!(
        std::mem::size_of::<Slot<M, R>>() == 2 * std::mem::size_of::<usize>(),
        "a guard's slot must stay two words"
    );

    /// A guard of the core's.
    #[inline(always)]
    fn core(p: Pooled<R::Core>) -> Self {
        let () = Self::TWO_WORDS;
        Guard {
            slot: Slot::Core(p),
        }
    }

    /// The slot, leaving the guard consumed.
    #[inline]
    fn take(&mut self) -> Slot<M, R> {
        std::mem::replace(&mut self.slot, Slot::Extra(None))
    }

    #[inline]
    fn tracked(&self) -> &Tracked<M::Connection> {
        match &self.slot {
            Slot::Core(p) => p,
            Slot::Extra(e) => Self::extra(e.as_deref()),
        }
    }

    #[inline]
    fn tracked_mut(&mut self) -> &mut Tracked<M::Connection> {
        match &mut self.slot {
            Slot::Core(p) => p,
            Slot::Extra(e) => Self::extra_mut(e.as_deref_mut()),
        }
    }

    // The connection of an extra guard, out of line so that `deref` inlines only the core
    // case. They take the box's contents, never a pointer into the guard: a pointer to the
    // guard passed to a call (even a cold one) keeps the whole guard in memory, and every
    // `deref` then reloads it.
    #[cold]
    #[inline(never)]
    fn extra(e: Option<&Extra<M, R>>) -> &Tracked<M::Connection> {
        e.and_then(|e| e.conn.as_ref())
            .expect("a guard holds its connection until it is consumed")
    }

    #[cold]
    #[inline(never)]
    fn extra_mut(e: Option<&mut Extra<M, R>>) -> &mut Tracked<M::Connection> {
        e.and_then(|e| e.conn.as_mut())
            .expect("a guard holds its connection until it is consumed")
    }

    fn invalidate(mut self) {
        match self.take() {
            Slot::Core(p) => {
                let name = Pooled::pool(&p).events().name.clone();
                if let Err(e) = catch_unwind(AssertUnwindSafe(|| Pooled::invalidate(p))) {
                    tracing::error!(pool = %name, "a listener panicked: {}", panic_message(&*e));
                }
            }
            Slot::Extra(Some(mut e)) => {
                if let Some(t) = e.conn.as_mut() {
                    let ev = e.pool.ev();
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        ev.on_invalidate(t, InvalidateReason::User)
                    }));
                }
            }
            Slot::Extra(None) => {}
        }
    }

    fn soft_invalidate(&mut self) {
        match &mut self.slot {
            Slot::Core(p) => Pooled::soft_invalidate(p),
            Slot::Extra(Some(e)) => {
                if let Some(t) = e.conn.as_mut() {
                    if !t.soft {
                        e.pool.ev().on_soft_invalidate(t);
                    }
                }
            }
            Slot::Extra(None) => {}
        }
    }

    fn is_soft_invalidated(&self) -> bool {
        self.tracked().soft
    }

    fn detach(mut self) -> M::Connection {
        match self.take() {
            Slot::Core(p) => Pooled::detach(p).conn,
            Slot::Extra(Some(mut e)) => {
                let mut t = e.conn.take().expect("an extra guard holds its connection");
                e.pool.extra.fetch_sub(1, Ordering::Relaxed);
                e.pool.ev().on_detach(&mut t);
                t.conn
            }
            Slot::Extra(None) => unreachable!("a guard is only empty while it is being consumed"),
        }
    }

    fn checkin(mut self) -> Result<(), Error<M::Error>> {
        Self::checkin_slot(self.take())
    }

    #[inline]
    fn checkin_slot(slot: Slot<M, R>) -> Result<(), Error<M::Error>> {
        match slot {
            Slot::Core(p) => {
                let ev = Pooled::pool(&p).events();
                if ev.echo {
                    tracing::debug!(pool = %ev.name, "Connection being returned to pool");
                }
                if std::thread::panicking() {
                    // The holder is unwinding: the connection may be mid-transaction in any
                    // state. Do not reset it; close it.
                    let name = ev.name.clone();
                    if catch_unwind(AssertUnwindSafe(|| Pooled::invalidate(p))).is_err() {
                        tracing::error!(pool = %name, "a listener panicked while invalidating");
                    }
                    return Ok(());
                }
                let res = if ev.has_listeners() {
                    catch_unwind(AssertUnwindSafe(|| Pooled::checkin(p)))
                } else {
                    Ok(Pooled::checkin(p))
                };
                match res {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(MgrError::Manager(e))) => {
                        tracing::info!("Exception during reset on return; connection invalidated");
                        Err(Error::Connect(e))
                    }
                    Ok(Err(MgrError::Panicked(what))) => {
                        tracing::error!("{what}; connection invalidated");
                        Err(Error::Panicked { what })
                    }
                    Err(payload) => {
                        let what = format!("a listener panicked: {}", panic_message(&*payload));
                        tracing::error!("{what}; connection closed");
                        Err(Error::Panicked { what })
                    }
                }
            }
            Slot::Extra(None) => Ok(()),
            Slot::Extra(Some(mut e)) => {
                let pool = &e.pool;
                let ev = pool.ev();
                let mut out = Ok(());
                if let Some(t) = e.conn.as_mut() {
                    if std::thread::panicking() {
                        return Ok(()); // `e` closes it
                    }
                    let reset = pool.cfg.reset;
                    let r = catch_unwind(AssertUnwindSafe(|| {
                        ev.on_reset(t, reset);
                        if reset != ResetMode::None {
                            if let Err(err) = pool.core.manager().reset(t, reset) {
                                ev.on_invalidate(t, InvalidateReason::ResetFailed);
                                return Err(err);
                            }
                        }
                        ev.on_checkin(t);
                        Ok(())
                    }));
                    out = match r {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(MgrError::Manager(err))) => Err(Error::Connect(err)),
                        Ok(Err(MgrError::Panicked(what))) => Err(Error::Panicked { what }),
                        Err(payload) => Err(Error::Panicked {
                            what: format!("a listener panicked: {}", panic_message(&*payload)),
                        }),
                    };
                }
                drop(e); // overflow beyond the core is closed on return
                out
            }
        }
    }
}

impl<M: Manager, R: InnerRef<M>> Drop for Guard<M, R> {
    #[inline]
    fn drop(&mut self) {
        if let Slot::Core(p) = &self.slot {
            let ev = Pooled::pool(p).events();
            if ev.plain() && !std::thread::panicking() {
                // The fast path: return, and the field's drop (the core's guard) checks the
                // connection in where it lies (a failed reset has invalidated it; there is
                // no one to tell).
                return;
            }
        }
        Self::drop_slow(self.take());
    }
}

impl<M: Manager, R: InnerRef<M>> Guard<M, R> {
    /// Everything but the fast path of a drop, out of line so that the fast path inlines
    /// into the caller without this path's stack frame. It takes the slot by value (two
    /// registers), not `&mut self`: a pointer to the guard would make the caller keep the
    /// guard in memory and reload it at every `deref`.
    #[cold]
    #[inline(never)]
    fn drop_slow(slot: Slot<M, R>) {
        let _ = Self::checkin_slot(slot);
    }
}

macro_rules! guard_api {
    ($name:ident $(<$lt:lifetime>)?, $example_get:literal) => {
        impl<$($lt,)? M: Manager> Deref for $name<$($lt,)? M> {
            type Target = M::Connection;
            #[inline]
            fn deref(&self) -> &M::Connection {
                &self.g.tracked().conn
            }
        }

        impl<$($lt,)? M: Manager> DerefMut for $name<$($lt,)? M> {
            #[inline]
            fn deref_mut(&mut self) -> &mut M::Connection {
                &mut self.g.tracked_mut().conn
            }
        }

        // Manual impl: show the connection, not the pool (whose manager may hold secrets).
        impl<$($lt,)? M: Manager> fmt::Debug for $name<$($lt,)? M>
        where
            M::Connection: fmt::Debug,
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("conn", &**self)
                    .finish_non_exhaustive()
            }
        }

        impl<$($lt,)? M: Manager> $name<$($lt,)? M> {
            /// Closes the connection as broken (the reference's `invalidate()`): the
            /// `invalidate` event, then it is closed and its capacity given back (a waiter
            /// is woken).
            ///
            /// ```
            /// # use tarn_pool::*;
            /// # use tarn_core::testing::ScriptedManager;
            /// let manager = ScriptedManager::new();
            /// let pool = Pool::builder(manager.clone()).build()?;
            #[doc = concat!(" ", $example_get)]
            #[doc = concat!(" ", stringify!($name), "::invalidate(conn);")]
            /// assert_eq!(manager.closed(), 1);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn invalidate(this: Self) {
                this.g.invalidate()
            }

            /// Soft invalidation: the connection keeps working for this holder and is closed
            /// instead of kept when returned.
            ///
            /// ```
            /// # use tarn_pool::*;
            /// # use tarn_core::testing::ScriptedManager;
            /// let manager = ScriptedManager::new();
            /// let pool = Pool::builder(manager.clone()).build()?;
            #[doc = concat!(" ", $example_get)]
            /// let mut conn = conn;
            #[doc = concat!(" ", stringify!($name), "::soft_invalidate(&mut conn);")]
            #[doc = concat!(" assert!(", stringify!($name), "::is_soft_invalidated(&conn));")]
            /// drop(conn);
            /// assert_eq!(manager.closed(), 1);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn soft_invalidate(this: &mut Self) {
                this.g.soft_invalidate()
            }

            /// Whether the connection was soft-invalidated.
            pub fn is_soft_invalidated(this: &Self) -> bool {
                this.g.is_soft_invalidated()
            }

            /// Removes the connection from the pool for good and hands it over; the pool's
            /// capacity is given back (a waiter is woken). Close it yourself, or with
            /// [`Pool::close_detached`].
            ///
            /// ```
            /// # use tarn_pool::*;
            /// # use tarn_core::testing::ScriptedManager;
            /// let pool = Pool::builder(ScriptedManager::new()).build()?;
            #[doc = concat!(" ", $example_get)]
            #[doc = concat!(" let raw = ", stringify!($name), "::detach(conn);")]
            /// assert_eq!(pool.state().open, 0);
            /// # pool.close_detached(raw);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn detach(this: Self) -> M::Connection {
                this.g.detach()
            }

            /// Checks the connection in now, reporting what dropping the guard would keep
            /// silent.
            ///
            /// # Errors
            ///
            /// [`Error::Connect`] with the manager's error if the reset on return failed (the
            /// connection was invalidated); [`Error::Panicked`] if a listener or the manager
            /// panicked (the connection was closed).
            ///
            /// ```
            /// # use tarn_pool::*;
            /// # use tarn_core::testing::ScriptedManager;
            /// let pool = Pool::builder(ScriptedManager::new()).build()?;
            #[doc = concat!(" ", $example_get)]
            #[doc = concat!(" ", stringify!($name), "::checkin(conn)?;")]
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn checkin(this: Self) -> Result<(), Error<M::Error>> {
                this.g.checkin()
            }
        }
    };
}

/// A checked-out connection, borrowing its pool. Derefs to the connection; dropping it
/// checks the connection in (reset, `checkin` event, back to the pool or closed).
///
/// Operations on the guard itself are associated functions
/// (`PooledConnection::invalidate(conn)`), so they never shadow the connection's methods.
/// If the guard is dropped while its thread panics, the connection is invalidated instead
/// of reset.
#[must_use = "dropping the guard immediately returns the connection to the pool"]
pub struct PooledConnection<'a, M: Manager> {
    g: Guard<M, &'a Inner<M>>,
}

guard_api!(PooledConnection<'a>, "let conn = pool.get()?;");

/// A checked-out connection that owns a handle to its pool: `'static`, so it can move to
/// another thread or live in a struct. Otherwise like [`PooledConnection`].
#[must_use = "dropping the guard immediately returns the connection to the pool"]
pub struct OwnedPooledConnection<M: Manager> {
    g: Guard<M, Arc<Inner<M>>>,
}

guard_api!(OwnedPooledConnection, "let conn = pool.get_owned()?;");
