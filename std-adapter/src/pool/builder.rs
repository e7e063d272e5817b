//! The [`Builder`] settings that only a [`Pool`] has (sizes, timeout, recycle, pre-ping,
//! idle order, fairness) and its `build`. The settings every kind has are in `builder.rs`;
//! the defaults are `Config`'s.

use std::sync::Arc;
use std::time::Duration;

use tarn_core::{BuildError, IdleOrder, Manager};

use super::inner::Inner;
use super::Pool;
use crate::builder::Builder;
use crate::wait::Fairness;

impl<M: Manager> Pool<M> {
    /// A builder with the reference's defaults: `pool_size` 5, `max_overflow` 10, timeout
    /// 30 s, no recycle, rollback on return, no pre-ping, FIFO, strict fairness, no
    /// listeners.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).build()?;
    /// assert_eq!(pool.state().pool_size, 5);
    /// assert_eq!(pool.state().max_overflow, Some(10));
    /// assert_eq!(pool.timeout(), std::time::Duration::from_secs(30));
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn builder(manager: M) -> Builder<M, Pool<M>> {
        Builder::new(manager)
    }
}

impl<M: Manager> Builder<M, Pool<M>> {
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
        self.cfg.core.pool_size = n;
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
        self.cfg.core.max_overflow = Some(n);
        self
    }

    /// No limit on overflow (the reference's `max_overflow = -1`): a checkout never waits
    /// for capacity; a returned connection is closed only when `pool_size` are idle (see
    /// [`Pool`]).
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
        self.cfg.core.max_overflow = None;
        self
    }

    /// How long [`Pool::get`] waits for a connection. Defaults to 30 s. Sub-second and zero
    /// timeouts work (zero: try once, then fail with [`Error::Timeout`](crate::Error::Timeout)).
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

    /// Pings an idle connection before handing it out (not one just opened). A ping failure
    /// the manager classifies as a disconnect replaces the connection silently and
    /// invalidates every older connection; any other ping error invalidates the connection
    /// and is returned to the caller (as the reference's `do_ping` re-raises it). Defaults
    /// to `false`.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = Pool::builder(manager.clone()).pre_ping(true).build()?;
    /// drop(pool.get()?);
    /// manager.disconnect_pings(1);
    /// assert_eq!(pool.get()?.id, 2, "replaced without an error");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pre_ping(mut self, on: bool) -> Self {
        self.cfg.core.pre_ping = on;
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
        self.cfg.core.order = order;
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
        let settings = self.cfg.core;
        Ok(Pool {
            inner: Arc::new(Inner::new(
                Arc::new(self.manager),
                self.cfg,
                self.listeners,
                "pool",
                settings,
            )?),
        })
    }
}
