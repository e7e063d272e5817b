//! [`Builder`]: the one builder of every pool kind.
//!
//! `Builder<M, K>` holds the manager, the listeners and a [`Config`] (whose defaults are
//! written once, in `config.rs`). The settings every kind has (reset on return, logging
//! name, echo, listeners) are here; the settings of one kind are in that kind's file, on
//! `Builder<M, ThatKind<M>>`, so a setting that does not apply to a kind cannot be called
//! on its builder. Each kind's `build` is in its file too.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tarn_core::{Clock, Events, Manager, ResetMode};

use crate::config::Config;
use crate::events::ListenerList;
use crate::pool::Pool;

/// Configures a pool of kind `K`: [`Pool`] (the default),
/// [`NullPool`](crate::NullPool), [`StaticPool`](crate::StaticPool),
/// [`AssertionPool`](crate::AssertionPool) or
/// [`SingletonThreadPool`](crate::SingletonThreadPool). Made by each kind's `builder`; every
/// setting defaults to the reference pool's.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tarn_pool::{IdleOrder, NullPool, Pool, ResetMode};
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
///
/// let scratch = NullPool::builder(ScriptedManager::new())
///     .reset_on_return(ResetMode::Commit)
///     .logging_name("scratch")
///     .build();
/// assert_eq!(scratch.status(), "NullPool");
/// # Ok::<(), tarn_pool::BuildError>(())
/// ```
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct Builder<M: Manager, K = Pool<M>> {
    pub(crate) manager: M,
    pub(crate) cfg: Config,
    pub(crate) listeners: ListenerList<M::Connection>,
    kind: PhantomData<fn() -> K>,
}

/// Shows the configuration with the logging name redacted (a name built from a URL carries
/// its password) and how many listeners there are; not the manager, which may hold secrets.
impl<M: Manager, K> fmt::Debug for Builder<M, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.cfg)
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl<M: Manager, K> Builder<M, K> {
    /// A builder with the defaults.
    pub(crate) fn new(manager: M) -> Self {
        Self::with_parts(manager, Config::default(), Vec::new())
    }

    /// A builder with a configuration and listeners taken from a pool (`recreate`).
    pub(crate) fn with_parts(
        manager: M,
        cfg: Config,
        listeners: ListenerList<M::Connection>,
    ) -> Self {
        Builder {
            manager,
            cfg,
            listeners,
            kind: PhantomData,
        }
    }

    /// What to do with a returned connection. Defaults to [`ResetMode::Rollback`].
    ///
    /// ```
    /// # use tarn_pool::{NullPool, Pool, ResetMode};
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = Pool::builder(manager.clone()).reset_on_return(ResetMode::None).build()?;
    /// drop(pool.get()?);
    /// let null = NullPool::builder(manager.clone()).reset_on_return(ResetMode::None).build();
    /// drop(null.get()?);
    /// assert_eq!(manager.resets(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset_on_return(mut self, mode: ResetMode) -> Self {
        self.cfg.core.reset = mode;
        self
    }

    /// The name the pool logs under (the `pool` field of its `tracing` events). Defaults to
    /// a name unique in the process. A password in it (a URL's, or a `password=` pair) is
    /// stored redacted, so it can never reach a log, and the builder's `Debug` redacts it
    /// too.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let builder = Pool::builder(ScriptedManager::new()).logging_name("postgres://app:s3cret@db/x");
    /// assert!(!format!("{builder:?}").contains("s3cret"));
    /// let pool = builder.build()?;
    /// assert_eq!(pool.logging_name(), "postgres://app:***@db/x");
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

    /// Replaces a connection at checkout once it is older than `age`. Defaults to never.
    ///
    /// Every kind has it, as in the reference (a kept thread's or shared connection is
    /// replaced at its next checkout). Ages are measured on the pool's
    /// [`clock`](Self::clock).
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
        self.cfg.core.recycle = Some(u64::try_from(age.as_nanos()).unwrap_or(u64::MAX));
        self
    }

    /// The clock the pool's ages (recycle) are measured on, its ticks read as nanoseconds;
    /// the wall clock by default. Drive it in tests (tarn-core's `ManualClock`, feature
    /// `testing`) to make a connection old without waiting.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tarn_pool::Pool;
    /// use tarn_core::testing::{ManualClock, ScriptedManager};
    ///
    /// let clock = ManualClock::new();
    /// let pool = Pool::builder(ScriptedManager::new())
    ///     .recycle(Duration::from_secs(60))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// drop(pool.get()?);
    /// clock.advance(61_000_000_000); // 61 s, in nanoseconds
    /// assert_eq!(pool.get()?.id, 2, "recycled: older than 60 s on the pool's clock");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clock(mut self, clock: impl Clock + Send + Sync + 'static) -> Self {
        self.cfg.clock = Some(Arc::new(clock));
        self
    }

    /// Registers a listener: any implementation of tarn-core's [`Events`] trait, the one
    /// listener trait. Any number may be registered; they run in registration order.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use tarn_pool::{Events, Pool};
    /// # use tarn_core::testing::ScriptedManager;
    ///
    /// #[derive(Default)]
    /// struct Opened(AtomicUsize);
    /// impl<C> Events<C> for Opened {
    ///     fn connect(&self, _: &mut C) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let opened = Arc::new(Opened::default());
    /// let pool = Pool::builder(ScriptedManager::new()).listener(Arc::clone(&opened)).build()?;
    /// drop(pool.get()?);
    /// assert_eq!(opened.0.load(Ordering::Relaxed), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listener(
        mut self,
        listener: impl Events<M::Connection> + Send + Sync + 'static,
    ) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }
}
