//! [`State`]: a snapshot of a [`Pool`](crate::Pool)'s counters.

use std::fmt;

/// A snapshot of a pool's counters.
///
/// Read without a lock: under load the fields may disagree by a connection or two; at
/// quiescence `open = idle + checked_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct State {
    /// The configured `pool_size` (0: no idle limit).
    pub pool_size: usize,
    /// The configured `max_overflow`; `usize::MAX` when unlimited.
    pub max_overflow: usize,
    /// Connections open now (idle or checked out).
    pub open: usize,
    /// Idle connections in the pool.
    pub idle: usize,
    /// Connections checked out.
    pub checked_out: usize,
    /// Open connections beyond `pool_size`.
    pub overflow: usize,
    /// Threads waiting for a connection.
    pub waiting: usize,
}

impl State {
    /// The reference pool's signed overflow: `open - pool_size`, negative while fewer than
    /// `pool_size` connections are open.
    ///
    /// ```
    /// # use tarn_pool::Pool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = Pool::builder(ScriptedManager::new()).pool_size(3).build()?;
    /// assert_eq!(pool.state().signed_overflow(), -3);
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn signed_overflow(&self) -> isize {
        self.open as isize - self.pool_size as isize
    }
}

/// Formats like the reference pool's `status()`.
impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pool size: {}  Connections in pool: {} Current Overflow: {} Current Checked out connections: {}",
            self.pool_size,
            self.idle,
            self.signed_overflow(),
            self.checked_out
        )
    }
}
