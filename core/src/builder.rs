//! [`Builder`]: configures and validates a heap [`Pool`].

use core::marker::PhantomData;
use core::time::Duration;

use crate::clock::{Clock, NoClock};
use crate::error::BuildError;
use crate::events::{Events, NopEvents};
use crate::manager::{Manager, ResetMode};
use crate::pool::RawPool;
use crate::settings::{Retain, Settings};
use crate::stack::MAX_CAPACITY;
use crate::storage::{HeapStorage, IdleOrder};
use crate::waiters::{NoWaiters, Waiters};

/// A pool whose slots are allocated once on the heap, built by [`Builder`].
pub type Pool<M, E = NopEvents, K = NoClock, I = (), W = NoWaiters> =
    RawPool<M, E, K, I, HeapStorage<<M as Manager>::Connection, I>, W>;

/// Configures a [`Pool`]. Every setting starts from [`Settings::new`] (the reference pool's
/// defaults); `build` validates.
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
pub struct Builder<M, E = NopEvents, K = NoClock, I = (), W = NoWaiters> {
    manager: M,
    events: E,
    clock: K,
    waiters: W,
    settings: Settings,
    _info: PhantomData<fn() -> I>,
}

// Manual impl: no bounds on the parts, and managers may hold secrets.
impl<M, E, K, I, W> core::fmt::Debug for Builder<M, E, K, I, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Builder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Builder<M> {
    /// A builder with the defaults of [`Settings::new`], no events, no clock and no waiters.
    pub fn new(manager: M) -> Self {
        Builder {
            manager,
            events: NopEvents,
            clock: NoClock,
            waiters: NoWaiters,
            settings: Settings::new(),
            _info: PhantomData,
        }
    }
}

impl<M: Manager, E, K, I, W> Builder<M, E, K, I, W> {
    /// [`Settings::pool_size`]: how many idle connections the pool keeps (0: no limit).
    ///
    /// A connection returned while `pool_size` are already idle is closed.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.settings = self.settings.pool_size(n);
        self
    }

    /// [`Settings::max_overflow`]: how many connections may be open beyond `pool_size`
    /// under load.
    pub fn max_overflow(mut self, n: usize) -> Self {
        self.settings = self.settings.max_overflow(n);
        self
    }

    /// [`Settings::unlimited_overflow`]: no limit on overflow.
    ///
    /// # Examples
    ///
    /// ```
    /// use tarn_core::{Builder, testing::ScriptedManager};
    ///
    /// let pool = Builder::new(ScriptedManager::new()).pool_size(1).unlimited_overflow().build()?;
    /// let held: Vec<_> = (0..5).map(|_| pool.try_checkout().unwrap()).collect();
    /// assert_eq!(pool.state().overflow, 4);
    /// drop(held); // one is kept idle, the other four closed
    /// assert_eq!(pool.state().idle, 1);
    /// # Ok::<(), tarn_core::BuildError>(())
    /// ```
    pub fn unlimited_overflow(mut self) -> Self {
        self.settings = self.settings.unlimited_overflow();
        self
    }

    /// [`Settings::recycle`]: replaces a connection at checkout once it is older than
    /// `ticks` of the pool's clock. Needs a clock that tells time ([`clock`](Self::clock)).
    pub fn recycle(mut self, ticks: u64) -> Self {
        self.settings = self.settings.recycle(ticks);
        self
    }

    /// [`Settings::reset`]: what to do with a returned connection.
    pub fn reset_on_return(mut self, mode: ResetMode) -> Self {
        self.settings = self.settings.reset_on_return(mode);
        self
    }

    /// [`Settings::reset_limit`]: the limit a dropped guard's reset gets.
    pub fn reset_limit(mut self, limit: Option<Duration>) -> Self {
        self.settings = self.settings.reset_limit(limit);
        self
    }

    /// [`Settings::order`]: FIFO, LIFO or per-caller affinity ([`IdleOrder::Affinity`],
    /// with a [`Hint`](crate::Hint)) hand-out of idle connections.
    pub fn idle_order(mut self, order: IdleOrder) -> Self {
        self.settings = self.settings.idle_order(order);
        self
    }

    /// [`Settings::pre_ping`]: pings an idle connection before handing it out.
    pub fn pre_ping(mut self, on: bool) -> Self {
        self.settings = self.settings.pre_ping(on);
        self
    }

    /// [`Settings::retain`]: which returned connections are kept idle.
    pub fn retain(mut self, retain: Retain) -> Self {
        self.settings = self.settings.retain(retain);
        self
    }

    /// Replaces every setting at once.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The event listener. Defaults to [`NopEvents`].
    pub fn events<E2: Events<M::Connection>>(self, events: E2) -> Builder<M, E2, K, I, W> {
        Builder {
            manager: self.manager,
            events,
            clock: self.clock,
            waiters: self.waiters,
            settings: self.settings,
            _info: PhantomData,
        }
    }

    /// The clock used for recycling. Defaults to [`NoClock`].
    pub fn clock<K2: Clock>(self, clock: K2) -> Builder<M, E, K2, I, W> {
        Builder {
            manager: self.manager,
            events: self.events,
            clock,
            waiters: self.waiters,
            settings: self.settings,
            _info: PhantomData,
        }
    }

    /// The [`Waiters`] told when capacity comes back (an adapter's wait queue). Defaults to
    /// [`NoWaiters`].
    pub fn waiters<W2: Waiters>(self, waiters: W2) -> Builder<M, E, K, I, W2> {
        Builder {
            manager: self.manager,
            events: self.events,
            clock: self.clock,
            waiters,
            settings: self.settings,
            _info: PhantomData,
        }
    }

    /// The type of the per-connection info ([`Pooled::info`](crate::Pooled::info)).
    /// Defaults to `()`.
    pub fn info<I2: Default>(self) -> Builder<M, E, K, I2, W> {
        Builder {
            manager: self.manager,
            events: self.events,
            clock: self.clock,
            waiters: self.waiters,
            settings: self.settings,
            _info: PhantomData,
        }
    }

    /// Validates the settings and allocates the pool's slots (the only allocation the pool
    /// makes, except for overflow entries with unlimited overflow).
    ///
    /// A bounded pool has `pool_size + max_overflow` slots; with unlimited overflow every
    /// connection gets an entry of its own when it opens
    /// ([`Settings::unlimited_overflow`]).
    ///
    /// # Errors
    ///
    /// - [`BuildError::ZeroCapacity`] if `pool_size + max_overflow` is 0;
    /// - [`BuildError::TooLarge`] if the slots are more than [`MAX_CAPACITY`];
    /// - [`BuildError::RecycleWithoutClock`] if a recycle age is set with [`NoClock`];
    /// - [`BuildError::FifoUnavailable`] for FIFO order, or unlimited overflow, on a target
    ///   without compare-and-swap.
    pub fn build(self) -> Result<Pool<M, E, K, I, W>, BuildError>
    where
        E: Events<M::Connection>,
        K: Clock,
        I: Default,
        W: Waiters,
    {
        let s = self.settings;
        let (capacity, bound, boxed) = s.heap_shape().ok_or(BuildError::TooLarge {
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
        let fifo = s.order == IdleOrder::Fifo || s.max_overflow.is_none();
        if fifo && !cfg!(all(target_has_atomic = "ptr", not(tarn_loom))) {
            return Err(BuildError::FifoUnavailable);
        }
        let storage = HeapStorage::new(capacity, bound, boxed, s.order);
        Ok(RawPool::from_storage(
            self.manager,
            self.events,
            self.clock,
            self.waiters,
            s,
            storage,
        ))
    }
}
