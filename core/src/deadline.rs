//! [`Deadline`]: the time a caller has left, asked before each manager call it makes.
//!
//! tarn-core reads no time. A checkout that must end by a deadline passes one of these; the
//! pool asks it for the time left just before each call to the manager
//! ([`connect_within`](crate::Manager::connect_within),
//! [`ping_within`](crate::Manager::ping_within)) and passes the answer on, so a manager that
//! honours limits returns in time even when a checkout replaces a connection twice.

use core::time::Duration;

/// The time a caller has left. `None`: no deadline.
///
/// # Examples
///
/// An adapter with `std` measures it from an `Instant`:
///
/// ```
/// use std::time::{Duration, Instant};
/// use tarn_core::Deadline;
///
/// struct By(Instant);
///
/// impl Deadline for By {
///     fn remaining(&self) -> Option<Duration> {
///         Some(self.0.saturating_duration_since(Instant::now()))
///     }
/// }
///
/// assert!(By(Instant::now() + Duration::from_secs(5)).remaining().unwrap() <= Duration::from_secs(5));
/// // A fixed limit is an `Option<Duration>`:
/// assert_eq!(Some(Duration::from_secs(1)).remaining(), Some(Duration::from_secs(1)));
/// ```
pub trait Deadline {
    /// The time left now; `Some(Duration::ZERO)` once the deadline has passed.
    fn remaining(&self) -> Option<Duration>;
}

/// No deadline: every manager call gets `None`. What the plain checkout uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDeadline;

impl Deadline for NoDeadline {
    #[inline(always)]
    fn remaining(&self) -> Option<Duration> {
        None
    }
}

/// The same limit for every call.
impl Deadline for Option<Duration> {
    #[inline]
    fn remaining(&self) -> Option<Duration> {
        *self
    }
}

impl<T: Deadline + ?Sized> Deadline for &T {
    #[inline]
    fn remaining(&self) -> Option<Duration> {
        (**self).remaining()
    }
}
