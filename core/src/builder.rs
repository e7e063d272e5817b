//! [`Builder`]: configures and validates a heap [`Pool`].

use core::marker::PhantomData;

use crate::clock::{Clock, NoClock};
use crate::error::BuildError;
use crate::events::{Events, NopEvents};
use crate::manager::{Manager, ResetMode};
use crate::pool::RawPool;
use crate::settings::Settings;
use crate::stack::MAX_CAPACITY;
use crate::storage::{HeapStorage, IdleOrder};

/// A pool whose slots are allocated once on the heap, built by [`Builder`].
pub type Pool<M, E = NopEvents, K = NoClock, I = ()> =
    RawPool<M, E, K, I, HeapStorage<<M as Manager>::Connection, I>>;

/// Configures a [`Pool`]. Every setting has the reference pool's default; `build` validates.
///
/// # Examples
///
/// ```
/// use tarn_core::{Builder, IdleOrder, ResetMode, testing::ScriptedManager};
///
/// let pool = Builder::new(ScriptedManager::new())
///     .pool_size(3)
///     .max_overflow(3)
///     .reset_on_return(ResetMode::Rollback)
///     .idle_order(IdleOrder::Lifo)
///     .build()?;
/// let conn = pool.try_checkout().unwrap();
/// assert_eq!(pool.state().checked_out, 1);
/// # drop(conn);
/// # Ok::<(), tarn_core::BuildError>(())
/// ```
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct Builder<M, E = NopEvents, K = NoClock, I = ()> {
    manager: M,
    events: E,
    clock: K,
    settings: Settings,
    _info: PhantomData<fn() -> I>,
}

// Manual impl: no bounds on the parts, and managers may hold secrets.
impl<M, E, K, I> core::fmt::Debug for Builder<M, E, K, I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Builder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Builder<M> {
    /// A builder with the defaults of [`Settings::new`], no events and no clock.
    pub fn new(manager: M) -> Self {
        Builder {
            manager,
            events: NopEvents,
            clock: NoClock,
            settings: Settings::new(),
            _info: PhantomData,
        }
    }
}

impl<M: Manager, E, K, I> Builder<M, E, K, I> {
    /// How many idle connections the pool keeps. Defaults to 5.
    ///
    /// A connection returned while `pool_size` are already idle is closed.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.settings.pool_size = n;
        self
    }

    /// How many connections may be open beyond `pool_size` under load. Defaults to 10.
    pub fn max_overflow(mut self, n: usize) -> Self {
        self.settings.max_overflow = n;
        self
    }

    /// Replaces a connection at checkout once it is older than `ticks` of the pool's clock.
    /// Defaults to never. Needs a clock that tells time ([`clock`](Self::clock)).
    pub fn recycle(mut self, ticks: u64) -> Self {
        self.settings.recycle = Some(ticks);
        self
    }

    /// What to do with a returned connection. Defaults to [`ResetMode::Rollback`].
    pub fn reset_on_return(mut self, mode: ResetMode) -> Self {
        self.settings.reset = mode;
        self
    }

    /// FIFO, LIFO or per-caller affinity ([`IdleOrder::Affinity`], with a
    /// [`Hint`](crate::Hint)) hand-out of idle connections. Defaults to [`IdleOrder::Fifo`].
    pub fn idle_order(mut self, order: IdleOrder) -> Self {
        self.settings.order = order;
        self
    }

    /// Pings an idle connection before handing it out. Defaults to `false`.
    pub fn pre_ping(mut self, on: bool) -> Self {
        self.settings.pre_ping = on;
        self
    }

    /// Replaces every setting at once.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The event listener. Defaults to [`NopEvents`].
    pub fn events<E2: Events<M::Connection>>(self, events: E2) -> Builder<M, E2, K, I> {
        Builder {
            manager: self.manager,
            events,
            clock: self.clock,
            settings: self.settings,
            _info: PhantomData,
        }
    }

    /// The clock used for recycling. Defaults to [`NoClock`].
    pub fn clock<K2: Clock>(self, clock: K2) -> Builder<M, E, K2, I> {
        Builder {
            manager: self.manager,
            events: self.events,
            clock,
            settings: self.settings,
            _info: PhantomData,
        }
    }

    /// The type of the per-connection info ([`Pooled::info`](crate::Pooled::info)).
    /// Defaults to `()`.
    pub fn info<I2: Default>(self) -> Builder<M, E, K, I2> {
        Builder {
            manager: self.manager,
            events: self.events,
            clock: self.clock,
            settings: self.settings,
            _info: PhantomData,
        }
    }

    /// Validates the settings and allocates the pool's slots (the only allocation the pool
    /// ever makes).
    ///
    /// # Errors
    ///
    /// - [`BuildError::ZeroCapacity`] if `pool_size + max_overflow` is 0;
    /// - [`BuildError::TooLarge`] if it is above [`MAX_CAPACITY`];
    /// - [`BuildError::RecycleWithoutClock`] if a recycle age is set with [`NoClock`];
    /// - [`BuildError::FifoUnavailable`] for FIFO order on a target without compare-and-swap.
    pub fn build(self) -> Result<Pool<M, E, K, I>, BuildError>
    where
        E: Events<M::Connection>,
        K: Clock,
        I: Default,
    {
        let s = self.settings;
        let capacity = s
            .pool_size
            .checked_add(s.max_overflow)
            .ok_or(BuildError::TooLarge {
                requested: usize::MAX,
                max: MAX_CAPACITY,
            })?;
        if capacity == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        if capacity > MAX_CAPACITY {
            return Err(BuildError::TooLarge {
                requested: capacity,
                max: MAX_CAPACITY,
            });
        }
        if s.recycle.is_some() && !K::TELLS_TIME {
            return Err(BuildError::RecycleWithoutClock);
        }
        if s.order == IdleOrder::Fifo && !cfg!(all(target_has_atomic = "ptr", not(tarn_loom))) {
            return Err(BuildError::FifoUnavailable);
        }
        let storage = HeapStorage::new(capacity, s.pool_size, s.order);
        Ok(RawPool::from_storage(
            self.manager,
            self.events,
            self.clock,
            s,
            storage,
        ))
    }
}
