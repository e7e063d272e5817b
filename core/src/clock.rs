//! Time, as the pool sees it: a [`Clock`] of monotonic ticks, read only when needed.
//!
//! tarn-core never reads time by itself. A pool reads its clock only if it was built with
//! a recycle age, once when a connection opens and once per checkout of an idle connection.

/// A monotonic source of ticks (any unit: the recycle age is given in the same unit).
///
/// # Examples
///
/// ```
/// use tarn_core::Clock;
///
/// /// Milliseconds from a hardware timer.
/// struct Timer;
///
/// impl Clock for Timer {
///     fn now(&self) -> u64 {
///         42 // read the timer register here
///     }
/// }
/// # assert_eq!(Timer.now(), 42);
/// ```
pub trait Clock {
    /// Whether this clock tells time. Only [`NoClock`] says `false`; a pool refuses a
    /// recycle age without a clock that tells time.
    const TELLS_TIME: bool = true;

    /// The current tick count. Must never go backwards.
    fn now(&self) -> u64;
}

/// The clock of a pool that does not need time (no recycle age). Always answers 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoClock;

impl Clock for NoClock {
    const TELLS_TIME: bool = false;

    #[inline]
    fn now(&self) -> u64 {
        0
    }
}

impl<K: Clock + ?Sized> Clock for &K {
    const TELLS_TIME: bool = K::TELLS_TIME;

    fn now(&self) -> u64 {
        (**self).now()
    }
}
