//! [`State`]: a snapshot of a pool's counters.

use core::fmt;

/// A snapshot of a pool's counters, from [`RawPool::state`](crate::RawPool::state).
///
/// `open = idle + checked_out` and `overflow = open - pool_size` (0 when fewer are open).
/// Read without a lock: under load the fields may disagree by a connection or two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct State {
    /// The configured `pool_size`: how many idle connections the pool keeps.
    pub pool_size: usize,
    /// The configured `max_overflow` (`None`: unlimited).
    pub max_overflow: Option<usize>,
    /// Connections open now (idle or checked out), counting ones being opened.
    pub open: usize,
    /// Idle connections waiting in the pool.
    pub idle: usize,
    /// Connections checked out.
    pub checked_out: usize,
    /// Open connections beyond `pool_size`.
    pub overflow: usize,
    /// Callers waiting for a connection, as the pool's [`Waiters`](crate::Waiters) count
    /// them (0 for a pool nobody waits on).
    pub waiting: usize,
}

impl State {
    /// The reference pool's signed overflow: `open - pool_size`, negative while fewer than
    /// `pool_size` connections are open.
    pub fn signed_overflow(&self) -> isize {
        self.open as isize - self.pool_size as isize
    }
}

/// Formats like the reference pool's `status()`.
///
/// ```
/// # use tarn_core::{Builder, testing::ScriptedManager};
/// let pool = Builder::new(ScriptedManager::new()).pool_size(3).build()?;
/// let _conn = pool.try_checkout().unwrap();
/// assert_eq!(
///     pool.state().to_string(),
///     "Pool size: 3  Connections in pool: 0 Current Overflow: -2 Current Checked out connections: 1"
/// );
/// # Ok::<(), tarn_core::BuildError>(())
/// ```
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
