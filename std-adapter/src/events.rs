//! Listeners, and the forwarder that calls them, logs, and counts.
//!
//! A listener is any implementation of tarn-core's [`Events`] trait on the user's connection
//! type, registered when the pool is built or later (the reference's `event.listen`); there
//! is no second listener trait. The core calls the adapter's `Ev` (its events parameter);
//! `Ev` counts, logs (why a connection is closed comes from the core's [`CloseReason`]), and
//! calls every listener in registration order. The order is the reference's:
//!
//! ```text
//! open:     connect → first_connect (once per pool) → connect event
//! checkout: [stale / recycled / soft-invalidated / pre-ping failed → close → open] → checkout
//! checkin:  reset event → reset on return → checkin → back to the pool (or close)
//! close:    close event (with its reason) → Manager::close
//! ```
//!
//! While no listener is registered and echo is off (`plain`), an event costs one load and
//! the guards skip the panic catching listeners need.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tarn_core::{CheckoutEvent, CloseReason, Disconnected, Events, InvalidateReason, ResetMode};

use crate::adapt::panic_message;

/// Cumulative counters of a pool's rare events. Only bumped off the checkout/checkin fast
/// path (opening, closing, invalidating, timing out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Connections opened.
    pub opened: u64,
    /// Connections closed (for any reason).
    pub closed: u64,
    /// Connections replaced or closed because they were too old, stale after a pool-wide
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

/// The registered listeners.
pub(crate) type ListenerList<C> = Vec<Arc<dyn Events<C> + Send + Sync>>;

/// The core pool's `Events`: forwards to the listeners, logs, counts.
pub(crate) struct Ev<C> {
    listeners: RwLock<ListenerList<C>>,
    /// `true` once a listener is registered: with none, an event costs one load.
    has_listeners: AtomicBool,
    /// `!echo && !has_listeners`, kept as a flag of its own so that the guards' fast paths
    /// and the `reset` event test one load; `new` and `add` are the only writers.
    plain: AtomicBool,
    pub(crate) echo: bool,
    pub(crate) name: Arc<str>,
    pub(crate) counters: Counters,
}

impl<C> Ev<C> {
    pub(crate) fn new(listeners: ListenerList<C>, echo: bool, name: Arc<str>) -> Self {
        let has = !listeners.is_empty();
        Ev {
            listeners: RwLock::new(listeners),
            has_listeners: AtomicBool::new(has),
            plain: AtomicBool::new(!has && !echo),
            echo,
            name,
            counters: Counters::default(),
        }
    }

    /// No listener and no echo: nothing to call, catch or log around a checkout or checkin.
    #[inline]
    pub(crate) fn plain(&self) -> bool {
        self.plain.load(Ordering::Acquire)
    }

    /// Whether any listener is registered. With none, no user code runs in the events, so
    /// the pool need not catch panics around them.
    #[inline]
    pub(crate) fn has_listeners(&self) -> bool {
        self.has_listeners.load(Ordering::Acquire)
    }

    pub(crate) fn add(&self, l: Arc<dyn Events<C> + Send + Sync>) {
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
    fn each(&self, f: impl FnMut(&dyn Events<C>)) {
        if self.has_listeners.load(Ordering::Acquire) {
            self.each_listener(f);
        }
    }

    #[inline(never)]
    fn each_listener(&self, mut f: impl FnMut(&dyn Events<C>)) {
        let list = match self.listeners.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if std::thread::panicking() {
            // Called while this thread unwinds (a drop guard of the core closing a
            // connection after a first panic): a second panic escaping here would abort the
            // process, so each listener's panic is caught and logged.
            for l in list.iter() {
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&**l))) {
                    tracing::error!(pool = %self.name, "a listener panicked while unwinding: {}", panic_message(&*p));
                }
            }
            return;
        }
        for l in list.iter() {
            f(&**l);
        }
    }

    #[inline(never)]
    fn checkout_listeners(&self, conn: &mut C, event: &CheckoutEvent) -> Result<(), Disconnected> {
        let list = match self.listeners.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for l in list.iter() {
            if let Err(d) = l.checkout(conn, event) {
                tracing::info!(pool = %self.name, "Disconnection detected on checkout: {d}");
                return Err(d);
            }
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn reset_slow(&self, conn: &mut C, mode: ResetMode) {
        if self.echo {
            let what = match mode {
                ResetMode::Rollback => "rollback-on-return",
                ResetMode::Commit => "commit-on-return",
                ResetMode::None => "no reset on return",
            };
            tracing::debug!(pool = %self.name, "Connection {what}");
        }
        self.each(|l| l.reset(conn, mode));
    }

    /// Logs why a connection is closed, as the reference does when it recycles one, and
    /// counts it.
    fn log_close(&self, reason: CloseReason) {
        self.counters.closed.fetch_add(1, Ordering::Relaxed);
        let recycled = match reason {
            CloseReason::SoftInvalidated => {
                Some("Connection invalidated due to local soft invalidation; recycling")
            }
            CloseReason::PoolInvalidated => {
                Some("Connection invalidated due to pool invalidation; recycling")
            }
            CloseReason::Recycled => Some("Connection exceeded timeout; recycling"),
            _ => None,
        };
        if let Some(msg) = recycled {
            self.counters.recycled.fetch_add(1, Ordering::Relaxed);
            tracing::info!(pool = %self.name, "{msg}");
        }
        tracing::debug!(pool = %self.name, "Closing connection ({reason})");
    }
}

impl<C> Events<C> for Ev<C> {
    fn first_connect(&self, conn: &mut C) {
        self.each(|l| l.first_connect(conn));
    }

    fn connect(&self, conn: &mut C) {
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(pool = %self.name, "Created new connection");
        self.each(|l| l.connect(conn));
    }

    #[inline]
    fn checkout(&self, conn: &mut C, event: &CheckoutEvent) -> Result<(), Disconnected> {
        if !self.has_listeners.load(Ordering::Acquire) {
            return Ok(());
        }
        self.checkout_listeners(conn, event)
    }

    #[inline]
    fn reset(&self, conn: &mut C, mode: ResetMode) {
        // One test for both echo and listeners. A listener registered while this runs may
        // miss this one event, as it may when `has_listeners` is read just before `add`.
        if !self.plain() {
            self.reset_slow(conn, mode);
        }
    }

    #[inline]
    fn checkin(&self, conn: &mut C) {
        self.each(|l| l.checkin(conn));
    }

    fn invalidate(&self, conn: &mut C, reason: InvalidateReason) {
        self.counters.invalidated.fetch_add(1, Ordering::Relaxed);
        tracing::info!(pool = %self.name, "Invalidate connection (reason: {reason})");
        self.each(|l| l.invalidate(conn, reason));
    }

    fn soft_invalidate(&self, conn: &mut C) {
        tracing::info!(pool = %self.name, "Soft invalidate connection");
        self.each(|l| l.soft_invalidate(conn));
    }

    fn close(&self, conn: &mut C, reason: CloseReason) {
        self.log_close(reason);
        self.each(|l| l.close(conn, reason));
    }

    fn detach(&self, conn: &mut C) {
        tracing::debug!(pool = %self.name, "Detaching connection");
        self.each(|l| l.detach(conn));
    }

    fn close_detached(&self, conn: &mut C) {
        tracing::debug!(pool = %self.name, "Closing detached connection");
        self.each(|l| l.close_detached(conn));
    }
}
