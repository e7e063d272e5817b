//! [`Config`]: one configuration for every pool kind, with its defaults written once.
//!
//! It wraps tarn-core's [`Settings`] (sizes, recycle age, reset on return, pre-ping, idle
//! order: the core's defaults, which are the reference pool's) and adds only what the
//! adapter alone has: the checkout timeout, the waiting policy, the logging name, echo, and
//! AssertionPool's backtraces. Each kind reads the fields that apply to it.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tarn_core::Settings;

use crate::adapt::UserClock;

use crate::wait::Fairness;

/// The reference pool's default checkout timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A pool's configuration, as its builder left it (kept for `recreate`, `state` and errors).
#[derive(Clone)]
pub(crate) struct Config {
    /// The core's settings, as the user gave them: `pool_size` 0 means no idle limit and
    /// `max_overflow` `None` means unlimited;
    /// `recycle` is in nanoseconds (the adapter's clock ticks).
    pub(crate) core: Settings,
    /// How long a blocking checkout waits.
    pub(crate) timeout: Duration,
    /// How waiters share returned connections.
    pub(crate) fairness: Fairness,
    /// The logging name as given (redacted when the pool is built, and in `Debug`).
    pub(crate) name: Option<String>,
    /// Log every checkout and checkin at debug level.
    pub(crate) echo: bool,
    /// AssertionPool: record where the connection was checked out.
    pub(crate) store_backtrace: bool,
    /// The user's clock (`Builder::clock`); `None`: the wall clock.
    pub(crate) clock: Option<Arc<dyn UserClock>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            core: Settings::new(),
            timeout: DEFAULT_TIMEOUT,
            fairness: Fairness::Strict,
            name: None,
            echo: false,
            store_backtrace: true,
            clock: None,
        }
    }
}

/// Never prints the logging name as given: a name built from a URL carries its password.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("core", &self.core)
            .field("timeout", &self.timeout)
            .field("fairness", &self.fairness)
            .field(
                "logging_name",
                &self.name.as_deref().map(crate::registry::redact),
            )
            .field("echo", &self.echo)
            .field("store_backtrace", &self.store_backtrace)
            .finish()
    }
}

impl Config {
    /// The name the pool logs under: the given one with its secrets redacted, or one unique
    /// in the process (`tarn.<kind>.<n>`).
    pub(crate) fn logging_name(&self, kind: &str) -> Arc<str> {
        static POOL_IDS: AtomicUsize = AtomicUsize::new(1);
        match &self.name {
            Some(n) => Arc::from(crate::registry::redact(n).as_str()),
            None => {
                let id = POOL_IDS.fetch_add(1, Ordering::Relaxed);
                Arc::from(format!("tarn.{kind}.{id:#x}"))
            }
        }
    }
}
