//! [`Settings`]: what a pool is told at construction, with `const` setters so that a
//! [`FixedPool`](crate::FixedPool) can be configured in a `static`.

use crate::manager::ResetMode;
use crate::storage::IdleOrder;

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
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// How many idle connections the pool keeps. Default 5 (as the reference pool).
    pub pool_size: usize,
    /// How many connections may be open beyond `pool_size` under load. Default 10.
    pub max_overflow: usize,
    /// Replace a connection at checkout once it is older than this many clock ticks.
    /// Default `None` (never).
    pub recycle: Option<u64>,
    /// What to do with a returned connection. Default [`ResetMode::Rollback`].
    pub reset: ResetMode,
    /// Ping an idle connection before handing it out, replacing it if the ping fails.
    /// Default `false`.
    pub pre_ping: bool,
    /// FIFO, LIFO or affinity hand-out of idle connections. Default [`IdleOrder::Fifo`]. A
    /// [`FixedPool`](crate::FixedPool) is always LIFO.
    pub order: IdleOrder,
}

impl Default for Settings {
    fn default() -> Self {
        Self::new()
    }
}

impl Settings {
    /// The defaults: `pool_size` 5, `max_overflow` 10, no recycle, rollback on return, no
    /// pre-ping, FIFO.
    pub const fn new() -> Self {
        Settings {
            pool_size: 5,
            max_overflow: 10,
            recycle: None,
            reset: ResetMode::Rollback,
            pre_ping: false,
            order: IdleOrder::Fifo,
        }
    }

    /// Sets [`pool_size`](Self::pool_size).
    #[must_use]
    pub const fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n;
        self
    }

    /// Sets [`max_overflow`](Self::max_overflow).
    #[must_use]
    pub const fn max_overflow(mut self, n: usize) -> Self {
        self.max_overflow = n;
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
}
