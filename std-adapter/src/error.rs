//! [`Error`]: why a checkout gave no connection.

use std::backtrace::Backtrace;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a checkout gave no connection. `E` is the manager's error type.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tarn_pool::{Error, Pool};
/// # use tarn_core::testing::ScriptedManager;
///
/// let pool = Pool::builder(ScriptedManager::new()).pool_size(1).max_overflow(0).build()?;
/// let _held = pool.get()?;
/// match pool.get_timeout(Duration::from_millis(10)) {
///     Err(Error::Timeout { pool_size, waiters, .. }) => {
///         assert_eq!(pool_size, 1);
///         assert_eq!(waiters, 1);
///     }
///     other => panic!("expected a timeout, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// Waited the whole timeout without getting a connection (the reference's
    /// `TimeoutError`).
    Timeout {
        /// How long the checkout waited (its timeout).
        waited: Duration,
        /// The configured `pool_size`.
        pool_size: usize,
        /// Connections open beyond `pool_size` when the checkout gave up.
        overflow: usize,
        /// The configured `max_overflow` (`usize::MAX`: unlimited).
        max_overflow: usize,
        /// Threads waiting for a connection when the checkout gave up, itself included.
        waiters: usize,
        /// Why no connection came free: every one checked out, or some still being opened.
        cause: TimeoutCause,
    },
    /// No connection was free and [`try_get`](crate::Pool::try_get) does not wait.
    WouldBlock,
    /// The manager failed to open a connection; the cause is in the message and available
    /// through `source()` or [`Error::into_inner`].
    Connect(E),
    /// The manager failed to reset a connection on its return
    /// ([`checkin`](crate::PooledConnection::checkin)); the connection was invalidated. The
    /// cause is in the message and available through `source()` or [`Error::into_inner`].
    Reset(E),
    /// Pre-ping: the manager's ping of an idle connection failed with an error it does not
    /// call a disconnect ([`Manager::is_disconnect`](tarn_core::Manager::is_disconnect)); the
    /// connection was invalidated and closed, and the next checkout opens a new one (the
    /// reference re-raises such an error from `do_ping`). The cause is in the message and
    /// available through `source()` or [`Error::into_inner`].
    Ping(E),
    /// Listeners reported two connections in a row as disconnected at checkout; both were
    /// closed. The database is probably unreachable.
    Disconnected,
    /// The manager or a listener panicked while the pool handled a connection. The
    /// connection was closed and every count kept right.
    Panicked {
        /// What panicked, with the panic's message.
        what: String,
    },
    /// A connection is already checked out where only one may be: an
    /// [`AssertionPool`](crate::AssertionPool)'s second checkout (with the first checkout's
    /// backtrace).
    AlreadyCheckedOut {
        /// Where the connection now out was checked out, when it was recorded.
        backtrace: Option<Arc<Backtrace>>,
    },
    /// A [`Registry`](crate::Registry) could not build the pool for a key.
    Build(crate::BuildError),
}

/// Why a [`Error::Timeout`] found no connection, as the pool's counts told when the checkout
/// gave up (read without a lock, so under load they may be off by a connection).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tarn_pool::{Error, Pool, TimeoutCause};
/// # use tarn_core::testing::ScriptedManager;
///
/// let pool = Pool::builder(ScriptedManager::new()).pool_size(1).max_overflow(0).build()?;
/// let _held = pool.get()?;
/// let err = pool.get_timeout(Duration::from_millis(10)).unwrap_err();
/// assert!(matches!(err, Error::Timeout { cause: TimeoutCause::Busy, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutCause {
    /// Every connection the pool may open was checked out: the pool is too small for the
    /// load, or connections are held too long.
    Busy,
    /// The pool's first connection was still being opened (its first-connect hook not yet
    /// run), and no one else may open one before it: the server is slow or not answering.
    FirstConnectPending,
    /// Some of the pool's capacity was taken by connections still being opened: the
    /// server is slow to accept connections or not answering.
    Connecting {
        /// Connections still being opened when the checkout gave up.
        pending: usize,
    },
}

impl<E> Error<E> {
    /// The manager's error, for [`Error::Connect`], [`Error::Reset`] and [`Error::Ping`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tarn_pool::Pool;
    /// use tarn_core::testing::{ScriptedError, ScriptedManager};
    ///
    /// let manager = ScriptedManager::new();
    /// manager.fail_connects(1);
    /// let pool = Pool::builder(manager).build()?;
    /// let err = pool.get().unwrap_err();
    /// assert_eq!(err.into_inner(), Some(ScriptedError::Connect));
    /// # Ok::<(), tarn_pool::BuildError>(())
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Connect(e) | Self::Reset(e) | Self::Ping(e) => Some(e),
            _ => None,
        }
    }

    /// This error as an `Error<F>`, when it carries no manager error (for logging a
    /// message that needs no `E: Display`).
    pub(crate) fn without_cause<F>(&self) -> Option<Error<F>> {
        match self {
            &Self::Timeout {
                waited,
                pool_size,
                overflow,
                max_overflow,
                waiters,
                cause,
            } => Some(Error::Timeout {
                waited,
                pool_size,
                overflow,
                max_overflow,
                waiters,
                cause,
            }),
            Self::WouldBlock => Some(Error::WouldBlock),
            Self::Disconnected => Some(Error::Disconnected),
            _ => None,
        }
    }

    /// Whether this is a [`Error::Timeout`].
    ///
    /// ```
    /// # use tarn_pool::Error;
    /// assert!(!Error::<()>::WouldBlock.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }
}

/// The message carries the manager's error, for [`Error::Connect`], [`Error::Reset`] and
/// [`Error::Ping`]
/// (a manager's error names its target without the password: see
/// [`managers`](crate::managers)).
///
/// ```
/// use tarn_pool::Pool;
/// use tarn_core::testing::ScriptedManager;
///
/// let manager = ScriptedManager::new();
/// manager.fail_connects(1);
/// let pool = Pool::builder(manager).build()?;
/// let err = pool.get().unwrap_err();
/// assert_eq!(err.to_string(), "failed to open a new connection: scripted connect failure");
/// # Ok::<(), tarn_pool::BuildError>(())
/// ```
impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout {
                waited,
                pool_size,
                overflow,
                max_overflow,
                waiters,
                cause,
            } => {
                match cause {
                    TimeoutCause::Busy => {}
                    TimeoutCause::FirstConnectPending => {
                        return write!(
                            f,
                            "connection timed out, timeout {waited:?}: the pool's first \
                             connection is still being opened ({waiters} waiting)"
                        )
                    }
                    TimeoutCause::Connecting { pending } => {
                        write!(f, "{pending} connection(s) still being opened, ")?;
                    }
                }
                write!(f, "pool limit of size {pool_size} overflow {overflow}")?;
                if *max_overflow == usize::MAX {
                    f.write_str(" (unlimited)")?;
                } else {
                    write!(f, "/{max_overflow}")?;
                }
                write!(
                    f,
                    " reached, connection timed out, timeout {waited:?} ({waiters} waiting)"
                )
            }
            Self::WouldBlock => f.write_str("no idle connection and no capacity to open one"),
            Self::Connect(e) => write!(f, "failed to open a new connection: {e}"),
            Self::Reset(e) => write!(
                f,
                "failed to reset a connection on return (it was invalidated): {e}"
            ),
            Self::Ping(e) => write!(
                f,
                "the pre-ping of an idle connection failed (it was invalidated): {e}"
            ),
            Self::Build(e) => write!(f, "could not build the pool: {e}"),
            Self::Disconnected => f.write_str(
                "listeners reported two connections in a row as disconnected on checkout",
            ),
            Self::Panicked { what } => write!(f, "checkout failed: {what}"),
            Self::AlreadyCheckedOut { backtrace } => {
                f.write_str("connection is already checked out")?;
                match backtrace {
                    Some(bt) if bt.status() == std::backtrace::BacktraceStatus::Captured => {
                        write!(f, " at:\n{bt}")
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect(e) | Self::Reset(e) | Self::Ping(e) => Some(e),
            _ => None,
        }
    }
}
