//! The errors of building a pool and of checking a connection out.

use core::fmt;

/// Why a pool could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `pool_size + max_overflow` is 0: the pool could never hand out a connection.
    ZeroCapacity,
    /// `pool_size + max_overflow` is above what one pool can hold on this target.
    TooLarge {
        /// The capacity asked for (`pool_size + max_overflow`, saturating).
        requested: usize,
        /// [`MAX_CAPACITY`](crate::MAX_CAPACITY) on this target.
        max: usize,
    },
    /// A recycle age was set, but the pool's clock does not tell time
    /// ([`NoClock`](crate::NoClock)).
    RecycleWithoutClock,
    /// FIFO idle order was asked for on a target without compare-and-swap, where the FIFO
    /// queue does not exist. Use [`IdleOrder::Lifo`](crate::IdleOrder::Lifo).
    FifoUnavailable,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroCapacity => f.write_str(
                "pool_size + max_overflow is 0: set pool_size or max_overflow to at least 1",
            ),
            Self::TooLarge { requested, max } => write!(
                f,
                "pool_size + max_overflow is {requested}, above the largest pool of {max} connections"
            ),
            Self::RecycleWithoutClock => f.write_str(
                "a recycle age needs a clock: pass one with `clock(..)` before `recycle(..)`",
            ),
            Self::FifoUnavailable => f.write_str(
                "FIFO idle order needs compare-and-swap, which this target lacks: use LIFO",
            ),
        }
    }
}

impl core::error::Error for BuildError {}

/// Why a checkout gave no connection.
///
/// `E` is the manager's error type.
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckoutError<E> {
    /// No idle connection and no capacity to open one: try again later (the `tarn-pool` adapter
    /// waits for a connection to come back).
    WouldBlock,
    /// The manager failed to open a connection; the capacity was given back. The cause is
    /// available through `source()` (when `E` is an error) or [`CheckoutError::into_inner`].
    Connect(E),
    /// The checkout hook reported the connection as disconnected twice in a row, on two
    /// connections; both were closed. The database is probably unreachable.
    Disconnected,
    /// Pre-ping: the manager's ping of an idle connection failed with an error it does not
    /// classify as a disconnect ([`Manager::is_disconnect`](crate::Manager::is_disconnect));
    /// the connection was invalidated and closed, its capacity given back. (A disconnect is
    /// not an error: the connection is replaced without the caller seeing it.)
    Ping(E),
}

impl<E> CheckoutError<E> {
    /// The manager's error, for [`CheckoutError::Connect`] and [`CheckoutError::Ping`].
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Connect(e) | Self::Ping(e) => Some(e),
            _ => None,
        }
    }

    /// Applies `f` to the manager's error.
    pub fn map<F>(self, f: impl FnOnce(E) -> F) -> CheckoutError<F> {
        match self {
            Self::WouldBlock => CheckoutError::WouldBlock,
            Self::Connect(e) => CheckoutError::Connect(f(e)),
            Self::Disconnected => CheckoutError::Disconnected,
            Self::Ping(e) => CheckoutError::Ping(f(e)),
        }
    }
}

impl<E> fmt::Display for CheckoutError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WouldBlock => f.write_str("no idle connection and no capacity to open one"),
            Self::Connect(_) => f.write_str("failed to open a new connection"),
            Self::Ping(_) => f.write_str("the pre-ping of an idle connection failed"),
            Self::Disconnected => f.write_str(
                "the checkout hook reported two fresh connections in a row as disconnected",
            ),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for CheckoutError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Connect(e) | Self::Ping(e) => Some(e),
            _ => None,
        }
    }
}

impl<E> PartialEq for CheckoutError<E>
where
    E: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::WouldBlock, Self::WouldBlock) | (Self::Disconnected, Self::Disconnected) => true,
            (Self::Connect(a), Self::Connect(b)) | (Self::Ping(a), Self::Ping(b)) => a == b,
            _ => false,
        }
    }
}
