//! [`Inner`]: what one [`Pool`](crate::Pool) is (the core pool, with the adapter's events
//! and manager wrapper, and the configuration), how it is built from a [`Config`], and how
//! a guard reaches it ([`InnerRef`]).
//!
//! Sizing as the reference means it, translated for the core:
//!
//! - `pool_size(0)` means no idle limit: the core gets `pool_size = max_overflow` and no
//!   overflow, so every connection it may open is also kept;
//! - unlimited overflow (`max_overflow == usize::MAX`): the core holds `pool_size`
//!   connections (or [`UNBOUNDED_IDLE_CAP`] when `pool_size` is 0); when it is full the
//!   adapter opens extra connections outside it (`extra` counts them) and closes them when
//!   they are returned.

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tarn_core::{BuildError, Manager};

use super::state::State;
use crate::adapt::Mgr;
use crate::config::Config;
use crate::events::{Ev, ListenerList};
use crate::wait::WaitQueue;

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

/// One pool: the core pool and the configuration it was built from.
pub(crate) struct Inner<M: Manager> {
    /// In an `Arc` of its own, so that an owned guard holds the core pool itself (the core
    /// accepts only pointers that always lead to the same pool: `tarn_core::PoolPtr`).
    pub(crate) core: Arc<tarn_core::Pool<Mgr<M>, Ev<M::Connection>, StdClock, (), Arc<WaitQueue>>>,
    pub(crate) cfg: Config,
    /// Core capacity (`pool_size + max_overflow` as given to the core).
    pub(super) capacity: usize,
    /// Connections open outside the core (unlimited overflow only).
    pub(super) extra: AtomicUsize,
}

/// How a guard reaches its pool's `Inner`: borrowed (`&Inner`, for
/// [`PooledConnection`](crate::PooledConnection)) or shared (`Arc<Inner>`, for
/// [`OwnedPooledConnection`](crate::OwnedPooledConnection)), with the matching pointer to
/// the core pool for the core's guard.
pub(crate) trait InnerRef<M: Manager>: Deref<Target = Inner<M>> + Clone {
    /// The core guard's pointer to the core pool.
    type Core: tarn_core::PoolPtr
        + Deref<Target = tarn_core::Pool<Mgr<M>, Ev<M::Connection>, StdClock, (), Arc<WaitQueue>>>;
    /// That pointer.
    fn core_ptr(&self) -> Self::Core;
}

impl<'a, M: Manager> InnerRef<M> for &'a Inner<M> {
    type Core = &'a tarn_core::Pool<Mgr<M>, Ev<M::Connection>, StdClock, (), Arc<WaitQueue>>;
    #[inline(always)]
    fn core_ptr(&self) -> Self::Core {
        let inner: &'a Inner<M> = self;
        &inner.core
    }
}

impl<M: Manager> InnerRef<M> for Arc<Inner<M>> {
    type Core = Arc<tarn_core::Pool<Mgr<M>, Ev<M::Connection>, StdClock, (), Arc<WaitQueue>>>;
    #[inline(always)]
    fn core_ptr(&self) -> Self::Core {
        Arc::clone(&self.core)
    }
}

impl<M: Manager> Inner<M> {
    /// Validates `cfg` and builds the core pool. Opens no connection.
    pub(crate) fn new(
        manager: M,
        cfg: Config,
        listeners: ListenerList<M::Connection>,
    ) -> Result<Self, BuildError> {
        let s = cfg.core;
        let (core_size, core_over) = match (s.pool_size, s.max_overflow) {
            (0, Some(0)) => return Err(BuildError::ZeroCapacity),
            (0, None) => (UNBOUNDED_IDLE_CAP, 0),
            (0, Some(m)) => (m, 0),
            (p, None) => (p, 0),
            (p, Some(m)) => (p, m),
        };
        let start = Instant::now();
        let epoch = Arc::new(AtomicUsize::new(0));
        let mut events = Ev::new(
            listeners,
            cfg.echo,
            cfg.logging_name("pool"),
            s.recycle,
            Arc::clone(&epoch),
            start,
        );
        events.wait = Arc::new(WaitQueue::new(cfg.fairness));
        let waiters = Arc::clone(&events.wait);
        let core = tarn_core::Builder::new(Mgr::new(manager, start, epoch))
            .settings(s.pool_size(core_size).max_overflow(core_over))
            .events(events)
            .waiters(waiters)
            .clock(StdClock { start })
            .build()?;
        Ok(Inner {
            core: Arc::new(core),
            cfg,
            capacity: core_size.saturating_add(core_over),
            extra: AtomicUsize::new(0),
        })
    }

    /// The adapter's events: listeners, logging name, counters, the wait queue.
    #[inline]
    pub(crate) fn ev(&self) -> &Ev<M::Connection> {
        self.core.events()
    }

    /// Unlimited overflow.
    #[inline]
    pub(crate) fn unlimited(&self) -> bool {
        self.cfg.core.max_overflow.is_none()
    }

    /// The core's counters in the user's sizing (`pool_size` and `max_overflow` as
    /// configured, `usize::MAX`: unlimited), connections open outside the core counted in.
    pub(crate) fn state(&self) -> State {
        let cs = self.core.state();
        let open = cs.open + self.extra.load(Ordering::Relaxed);
        let pool_size = self.cfg.core.pool_size;
        State {
            pool_size,
            max_overflow: self.cfg.core.max_overflow.unwrap_or(usize::MAX),
            open,
            idle: cs.idle,
            checked_out: open.saturating_sub(cs.idle),
            overflow: open.saturating_sub(pool_size),
            waiting: self.ev().wait.waiting(),
        }
    }
}
