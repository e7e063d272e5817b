//! Listeners: hooks on every step of a connection's life, registered when the pool is built
//! or later (the reference's `event.listen`), and the forwarder that calls them, logs, and
//! counts.
//!
//! The order is the reference's:
//!
//! ```text
//! open:     connect → first_connect (once per pool) → connect event
//! checkout: [stale / recycled / soft-invalidated / pre-ping failed → close → open] → checkout
//! checkin:  reset event → reset on return → checkin → back to the pool (or close)
//! close:    close event → Manager::close
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use tarn_core::{Events, InvalidateReason, ResetMode};

use crate::adapt::Tracked;
use crate::wait::WaitQueue;

pub use tarn_core::Disconnected;

/// What the pool knows about a connection being checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckoutEvent {
    /// The connection was opened by this very checkout.
    pub fresh: bool,
    /// How many times this checkout already replaced a connection a listener reported as
    /// disconnected (0 or 1).
    pub attempt: u8,
}

/// Hooks called as connections are opened, lent, returned and closed: the ten events of the
/// reference pool. Every method defaults to doing nothing.
///
/// Hooks run on the thread that triggered the event, with exclusive use of the connection.
/// A hook should not panic; if one does, the connection it was handling is closed, every
/// count stays right, and the caller gets [`Error::Panicked`](crate::Error::Panicked)
/// (or, on checkin, the panic is logged).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use tarn_pool::{CheckoutEvent, Disconnected, Listener, Pool};
/// # use tarn_core::testing::ScriptedManager;
///
/// #[derive(Default)]
/// struct Checkouts(AtomicUsize);
///
/// impl<C> Listener<C> for Checkouts {
///     fn checkout(&self, _conn: &mut C, _event: &CheckoutEvent) -> Result<(), Disconnected> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Ok(())
///     }
/// }
///
/// let counter = Arc::new(Checkouts::default());
/// let pool = Pool::builder(ScriptedManager::new()).listener(Arc::clone(&counter)).build()?;
/// drop(pool.get()?);
/// assert_eq!(counter.0.load(Ordering::Relaxed), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[allow(unused_variables)]
pub trait Listener<C>: Send + Sync {
    /// Right after the pool's first connection opened, exactly once per pool, before
    /// [`connect`](Listener::connect). Other checkouts wait until it returns.
    fn first_connect(&self, conn: &mut C) {}
    /// Right after any connection opened.
    fn connect(&self, conn: &mut C) {}
    /// When a connection is about to be handed out. Answering [`Disconnected`] makes the
    /// pool replace it (at most twice per checkout).
    fn checkout(&self, conn: &mut C, event: &CheckoutEvent) -> Result<(), Disconnected> {
        Ok(())
    }
    /// When a returned connection is about to be reset (also for [`ResetMode::None`]).
    fn reset(&self, conn: &mut C, mode: ResetMode) {}
    /// When a returned connection has been reset and goes back to the pool.
    fn checkin(&self, conn: &mut C) {}
    /// When a connection is invalidated; it is closed right after.
    fn invalidate(&self, conn: &mut C, reason: InvalidateReason) {}
    /// When a connection is soft-invalidated: closed when returned instead of kept.
    fn soft_invalidate(&self, conn: &mut C) {}
    /// Right before a connection is closed.
    fn close(&self, conn: &mut C) {}
    /// When a connection leaves the pool for good (`detach`).
    fn detach(&self, conn: &mut C) {}
    /// When a detached connection is closed through the pool.
    fn close_detached(&self, conn: &mut C) {}
}

impl<C, L: Listener<C> + ?Sized> Listener<C> for Arc<L> {
    fn first_connect(&self, conn: &mut C) {
        (**self).first_connect(conn)
    }
    fn connect(&self, conn: &mut C) {
        (**self).connect(conn)
    }
    fn checkout(&self, conn: &mut C, event: &CheckoutEvent) -> Result<(), Disconnected> {
        (**self).checkout(conn, event)
    }
    fn reset(&self, conn: &mut C, mode: ResetMode) {
        (**self).reset(conn, mode)
    }
    fn checkin(&self, conn: &mut C) {
        (**self).checkin(conn)
    }
    fn invalidate(&self, conn: &mut C, reason: InvalidateReason) {
        (**self).invalidate(conn, reason)
    }
    fn soft_invalidate(&self, conn: &mut C) {
        (**self).soft_invalidate(conn)
    }
    fn close(&self, conn: &mut C) {
        (**self).close(conn)
    }
    fn detach(&self, conn: &mut C) {
        (**self).detach(conn)
    }
    fn close_detached(&self, conn: &mut C) {
        (**self).close_detached(conn)
    }
}

/// Cumulative counters of a pool's rare events. Only bumped off the checkout/checkin fast
/// path (opening, closing, invalidating, timing out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Connections opened.
    pub opened: u64,
    /// Connections closed (for any reason).
    pub closed: u64,
    /// Connections replaced at checkout because they were too old, stale after a pool-wide
    /// invalidation, or soft-invalidated.
    pub recycled: u64,
    /// Connections invalidated (closed as broken).
    pub invalidated: u64,
    /// Checkouts that timed out.
    pub timeouts: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) opened: AtomicU64,
    pub(crate) closed: AtomicU64,
    pub(crate) recycled: AtomicU64,
    pub(crate) invalidated: AtomicU64,
    pub(crate) timeouts: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            opened: self.opened.load(Ordering::Relaxed),
            closed: self.closed.load(Ordering::Relaxed),
            recycled: self.recycled.load(Ordering::Relaxed),
            invalidated: self.invalidated.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
        }
    }
}

pub(crate) type ListenerList<C> = Vec<Arc<dyn Listener<C>>>;

/// The core pool's `Events`: forwards to the listeners, logs, counts, and wakes waiters.
pub(crate) struct Ev<C> {
    listeners: RwLock<ListenerList<C>>,
    /// `true` once a listener is registered: with none, an event costs one relaxed load.
    has_listeners: AtomicBool,
    /// `!echo && !has_listeners`, kept as a flag of its own so that the guards' fast paths
    /// and the `reset` event test one load; `new` and `add` are the only writers.
    plain: AtomicBool,
    /// Shared with the core pool, which holds it as its `Waiters`.
    pub(crate) wait: std::sync::Arc<WaitQueue>,
    pub(crate) echo: bool,
    pub(crate) name: Arc<str>,
    /// Recycle age in nanoseconds, to tell why a connection is replaced.
    recycle: Option<u64>,
    /// Shared with `Mgr`: the adapter's pool-invalidation epoch.
    pub(crate) epoch: Arc<AtomicUsize>,
    pub(crate) start: std::time::Instant,
    pub(crate) counters: Counters,
    /// First-connect done (for connections opened outside the core).
    pub(crate) first_done: AtomicBool,
}

impl<C> Ev<C> {
    pub(crate) fn new(
        listeners: ListenerList<C>,
        echo: bool,
        name: Arc<str>,
        recycle: Option<u64>,
        epoch: Arc<AtomicUsize>,
        start: std::time::Instant,
    ) -> Self {
        let has = !listeners.is_empty();
        Ev {
            listeners: RwLock::new(listeners),
            has_listeners: AtomicBool::new(has),
            plain: AtomicBool::new(!has && !echo),
            wait: std::sync::Arc::default(),
            echo,
            name,
            recycle,
            epoch,
            start,
            counters: Counters::default(),
            first_done: AtomicBool::new(false),
        }
    }

    /// No listener and no echo: nothing to call, catch or log around a checkout or checkin.
    #[inline]
    pub(crate) fn plain(&self) -> bool {
        self.plain.load(Ordering::Acquire)
    }

    /// Whether any listener is registered (a relaxed-cost load). With none, no user code
    /// runs in the events, so the pool need not catch panics around them.
    #[inline]
    pub(crate) fn has_listeners(&self) -> bool {
        self.has_listeners.load(Ordering::Acquire)
    }

    pub(crate) fn add(&self, l: Arc<dyn Listener<C>>) {
        let mut list = match self.listeners.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        list.push(l);
        self.has_listeners.store(true, Ordering::Release);
        self.plain.store(false, Ordering::Release);
    }

    pub(crate) fn snapshot(&self) -> ListenerList<C> {
        match self.listeners.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Runs `f` on every listener, in registration order.
    ///
    /// With no listener this is one load, inlined into every event; the loop is out of line.
    #[inline(always)]
    fn each(&self, f: impl FnMut(&dyn Listener<C>)) {
        if self.has_listeners.load(Ordering::Acquire) {
            self.each_listener(f);
        }
    }

    #[inline(never)]
    fn each_listener(&self, mut f: impl FnMut(&dyn Listener<C>)) {
        let list = match self.listeners.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for l in list.iter() {
            f(&**l);
        }
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    // ---- the events, callable by every pool kind --------------------------------------

    pub(crate) fn on_first_connect(&self, conn: &mut Tracked<C>) {
        self.first_done.store(true, Ordering::Release);
        self.each(|l| l.first_connect(&mut conn.conn));
    }

    pub(crate) fn on_connect(&self, conn: &mut Tracked<C>) {
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(pool = %self.name, "Created new connection");
        self.each(|l| l.connect(&mut conn.conn));
    }

    #[inline(never)]
    pub(crate) fn on_checkout(
        &self,
        conn: &mut Tracked<C>,
        event: &CheckoutEvent,
    ) -> Result<(), Disconnected> {
        if self.has_listeners.load(Ordering::Acquire) {
            let list = match self.listeners.read() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            for l in list.iter() {
                if let Err(d) = l.checkout(&mut conn.conn, event) {
                    tracing::info!(pool = %self.name, "Disconnection detected on checkout: {d}");
                    return Err(d);
                }
            }
        }
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn on_reset(&self, conn: &mut Tracked<C>, mode: ResetMode) {
        if self.echo {
            self.log_reset(mode);
        }
        self.each(|l| l.reset(&mut conn.conn, mode));
    }

    #[cold]
    #[inline(never)]
    fn reset_slow(&self, conn: &mut Tracked<C>, mode: ResetMode) {
        self.on_reset(conn, mode);
    }

    #[cold]
    fn log_reset(&self, mode: ResetMode) {
        {
            let what = match mode {
                ResetMode::Rollback => "rollback-on-return",
                ResetMode::Commit => "commit-on-return",
                ResetMode::None => "no reset on return",
            };
            tracing::debug!(pool = %self.name, "Connection {what}");
        }
    }

    #[inline(always)]
    pub(crate) fn on_checkin(&self, conn: &mut Tracked<C>) {
        self.each(|l| l.checkin(&mut conn.conn));
    }

    pub(crate) fn on_invalidate(&self, conn: &mut Tracked<C>, reason: InvalidateReason) {
        self.counters.invalidated.fetch_add(1, Ordering::Relaxed);
        tracing::info!(pool = %self.name, "Invalidate connection (reason: {reason})");
        conn.soft = false;
        self.each(|l| l.invalidate(&mut conn.conn, reason));
    }

    pub(crate) fn on_soft_invalidate(&self, conn: &mut Tracked<C>) {
        tracing::info!(pool = %self.name, "Soft invalidate connection");
        conn.soft = true;
        self.each(|l| l.soft_invalidate(&mut conn.conn));
    }

    pub(crate) fn on_close(&self, conn: &mut Tracked<C>) {
        self.counters.closed.fetch_add(1, Ordering::Relaxed);
        // Tell why, as the reference does when it recycles a connection.
        if conn.soft {
            self.counters.recycled.fetch_add(1, Ordering::Relaxed);
            tracing::info!(pool = %self.name,
                "Connection invalidated due to local soft invalidation; recycling");
        } else if conn.epoch != self.epoch.load(Ordering::Relaxed) {
            self.counters.recycled.fetch_add(1, Ordering::Relaxed);
            tracing::info!(pool = %self.name,
                "Connection invalidated due to pool invalidation; recycling");
        } else if self
            .recycle
            .is_some_and(|age| self.now_nanos().saturating_sub(conn.born) > age)
        {
            self.counters.recycled.fetch_add(1, Ordering::Relaxed);
            tracing::info!(pool = %self.name, "Connection exceeded timeout; recycling");
        }
        tracing::debug!(pool = %self.name, "Closing connection");
        self.each(|l| l.close(&mut conn.conn));
    }

    pub(crate) fn on_detach(&self, conn: &mut Tracked<C>) {
        tracing::debug!(pool = %self.name, "Detaching connection");
        self.each(|l| l.detach(&mut conn.conn));
    }

    pub(crate) fn on_close_detached(&self, conn: &mut Tracked<C>) {
        tracing::debug!(pool = %self.name, "Closing detached connection");
        self.each(|l| l.close_detached(&mut conn.conn));
    }
}

impl<C> Events<Tracked<C>> for Ev<C> {
    fn first_connect(&self, conn: &mut Tracked<C>) {
        self.on_first_connect(conn)
    }
    fn connect(&self, conn: &mut Tracked<C>) {
        self.on_connect(conn)
    }
    #[inline]
    fn checkout(
        &self,
        conn: &mut Tracked<C>,
        event: &tarn_core::CheckoutEvent,
    ) -> Result<(), Disconnected> {
        if !self.has_listeners.load(Ordering::Acquire) {
            return Ok(());
        }
        let ev = CheckoutEvent {
            fresh: event.fresh,
            attempt: event.attempt,
        };
        self.on_checkout(conn, &ev)
    }
    #[inline]
    fn reset(&self, conn: &mut Tracked<C>, mode: ResetMode) {
        // One test for both echo and listeners. A listener registered while this runs may
        // miss this one event, as it may when `has_listeners` is read just before `add`.
        if !self.plain() {
            self.reset_slow(conn, mode);
        }
    }
    #[inline]
    fn checkin(&self, conn: &mut Tracked<C>) {
        self.on_checkin(conn)
    }
    fn invalidate(&self, conn: &mut Tracked<C>, reason: InvalidateReason) {
        self.on_invalidate(conn, reason)
    }
    fn soft_invalidate(&self, conn: &mut Tracked<C>) {
        self.on_soft_invalidate(conn)
    }
    fn close(&self, conn: &mut Tracked<C>, _reason: tarn_core::CloseReason) {
        self.on_close(conn)
    }
    fn detach(&self, conn: &mut Tracked<C>) {
        self.on_detach(conn)
    }
    fn close_detached(&self, conn: &mut Tracked<C>) {
        self.on_close_detached(conn)
    }
}
