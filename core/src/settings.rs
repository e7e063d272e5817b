//! [`Settings`]: what a pool is told at construction, with `const` setters so that a
//! [`FixedPool`](crate::FixedPool) can be configured in a `static`. The defaults are written
//! once, in [`Settings::new`]; [`Builder`](crate::Builder) and the `tarn-pool` adapter wrap
//! this type instead of repeating them.

use core::time::Duration;

use crate::manager::ResetMode;
use crate::storage::IdleOrder;

/// How many idle slots a heap pool with unlimited overflow and `pool_size` 0 keeps (the
/// reference's `Queue(maxsize=0)` is unbounded; an allocation-bounded core needs a number).
/// Connections returned while this many are idle are closed. 1,024, or
/// [`MAX_CAPACITY`](crate::MAX_CAPACITY) where that is smaller.
pub const UNBOUNDED_IDLE_CAP: usize = if crate::MAX_CAPACITY < 1024 {
    crate::MAX_CAPACITY
} else {
    1024
};

/// Which returned connections a pool keeps idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Retain {
    /// Keep up to `pool_size` idle (`pool_size` 0: no limit, as the reference's queue); a
    /// connection returned while that many are idle is closed
    /// ([`CloseReason::IdleFull`](crate::CloseReason::IdleFull)). The default.
    #[default]
    PoolSize,
    /// Keep nothing idle: every returned connection is reset, checked in and closed
    /// ([`CloseReason::RetainNone`](crate::CloseReason::RetainNone)). The reference's
    /// `NullPool`.
    Nothing,
}

/// A pool's configuration. Validated by [`Builder::build`](crate::Builder::build); see
/// [`FixedPool::with_parts`](crate::FixedPool) for how a fixed pool reads it.
///
/// # Examples
///
/// ```
/// use tarn_core::{Settings, ResetMode, IdleOrder};
///
/// const SETTINGS: Settings = Settings::new()
///     .pool_size(4)
///     .max_overflow(2)
///     .reset_on_return(ResetMode::Commit)
///     .idle_order(IdleOrder::Lifo);
/// assert_eq!(SETTINGS.pool_size, 4);
/// assert_eq!(SETTINGS.max_overflow, Some(2));
/// assert_eq!(Settings::new().unlimited_overflow().max_overflow, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// How many idle connections the pool keeps. Default 5 (as the reference pool). 0 means
    /// no limit, as the reference's `Queue(maxsize=0)`: a bounded pool may then keep every
    /// connection idle; with unlimited overflow a heap pool keeps up to
    /// [`UNBOUNDED_IDLE_CAP`].
    pub pool_size: usize,
    /// How many connections may be open beyond `pool_size` under load; `None`: no limit
    /// (the reference's `max_overflow = -1`; heap pools only, see
    /// [`unlimited_overflow`](Self::unlimited_overflow)). Default `Some(10)`.
    pub max_overflow: Option<usize>,
    /// Replace a connection at checkout once it is older than this many clock ticks.
    /// Default `None` (never).
    pub recycle: Option<u64>,
    /// What to do with a returned connection. Default [`ResetMode::Rollback`].
    pub reset: ResetMode,
    /// The limit passed to [`Manager::reset_within`](crate::Manager::reset_within) when a
    /// guard is dropped (or checked in without a limit of its own). Default `None`.
    pub reset_limit: Option<Duration>,
    /// Ping an idle connection before handing it out, replacing it if the ping fails.
    /// Default `false`.
    pub pre_ping: bool,
    /// FIFO, LIFO or affinity hand-out of idle connections. Default [`IdleOrder::Fifo`]. A
    /// [`FixedPool`](crate::FixedPool) is always LIFO.
    pub order: IdleOrder,
    /// Which returned connections are kept idle. Default [`Retain::PoolSize`].
    pub retain: Retain,
}

impl Default for Settings {
    fn default() -> Self {
        Self::new()
    }
}

impl Settings {
    /// The defaults: `pool_size` 5, `max_overflow` 10, no recycle, rollback on return with
    /// no limit, no pre-ping, FIFO, keep up to `pool_size` idle.
    pub const fn new() -> Self {
        Settings {
            pool_size: 5,
            max_overflow: Some(10),
            recycle: None,
            reset: ResetMode::Rollback,
            reset_limit: None,
            pre_ping: false,
            order: IdleOrder::Fifo,
            retain: Retain::PoolSize,
        }
    }

    /// Sets [`pool_size`](Self::pool_size) (0: no idle limit).
    #[must_use]
    pub const fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n;
        self
    }

    /// Sets [`max_overflow`](Self::max_overflow) to `Some(n)`.
    #[must_use]
    pub const fn max_overflow(mut self, n: usize) -> Self {
        self.max_overflow = Some(n);
        self
    }

    /// No limit on overflow (the reference's `max_overflow = -1`): a checkout never reports
    /// [`WouldBlock`](crate::CheckoutError::WouldBlock) for lack of capacity.
    ///
    /// A heap pool then keeps each connection in an entry of its own on the heap (allocated
    /// when it opens, freed when it closes), with the same life cycle as any other; on
    /// return it is kept idle unless `pool_size` are idle already
    /// ([`UNBOUNDED_IDLE_CAP`] for `pool_size` 0), as the reference's
    /// `QueuePool._do_return_conn`. Its idle connections are handed out oldest first,
    /// whatever the [`order`](Self::order). It needs compare-and-swap (the queue is
    /// crossbeam's, [`BuildError::FifoUnavailable`](crate::BuildError::FifoUnavailable)
    /// otherwise). A [`FixedPool`](crate::FixedPool) cannot allocate: for it, unlimited
    /// means all of its `N` slots (as any `max_overflow`).
    #[must_use]
    pub const fn unlimited_overflow(mut self) -> Self {
        self.max_overflow = None;
        self
    }

    /// Sets [`recycle`](Self::recycle), in clock ticks.
    #[must_use]
    pub const fn recycle(mut self, ticks: u64) -> Self {
        self.recycle = Some(ticks);
        self
    }

    /// Sets [`reset`](Self::reset).
    #[must_use]
    pub const fn reset_on_return(mut self, mode: ResetMode) -> Self {
        self.reset = mode;
        self
    }

    /// Sets [`reset_limit`](Self::reset_limit).
    #[must_use]
    pub const fn reset_limit(mut self, limit: Option<Duration>) -> Self {
        self.reset_limit = limit;
        self
    }

    /// Sets [`pre_ping`](Self::pre_ping).
    #[must_use]
    pub const fn pre_ping(mut self, on: bool) -> Self {
        self.pre_ping = on;
        self
    }

    /// Sets [`order`](Self::order).
    #[must_use]
    pub const fn idle_order(mut self, order: IdleOrder) -> Self {
        self.order = order;
        self
    }

    /// Sets [`retain`](Self::retain).
    #[must_use]
    pub const fn retain(mut self, retain: Retain) -> Self {
        self.retain = retain;
        self
    }

    /// The shape of a heap pool with these settings: `(slots, how many slots may be idle,
    /// how many overflow entries may be idle)`. `None` if the slots overflow `usize`.
    ///
    /// A bounded pool has `pool_size + max_overflow` slots, of which `pool_size` (0: all)
    /// may be idle. A pool with unlimited overflow keeps every connection in an overflow
    /// entry and its idle ones in a queue of `pool_size` ([`UNBOUNDED_IDLE_CAP`] for 0); its
    /// one slot is never used.
    #[cfg(feature = "alloc")]
    pub(crate) const fn heap_shape(&self) -> Option<(usize, usize, usize)> {
        let keeps_nothing = matches!(self.retain, Retain::Nothing);
        match self.max_overflow {
            Some(m) => {
                let Some(slots) = self.pool_size.checked_add(m) else {
                    return None;
                };
                let bound = if keeps_nothing {
                    0
                } else if self.pool_size == 0 {
                    slots
                } else {
                    self.pool_size
                };
                Some((slots, bound, 0))
            }
            None => {
                let boxed = if keeps_nothing {
                    0
                } else if self.pool_size == 0 {
                    UNBOUNDED_IDLE_CAP
                } else {
                    self.pool_size
                };
                Some((1, 0, boxed))
            }
        }
    }
}
