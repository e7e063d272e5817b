//! [`Waiters`]: how a pool tells whoever waits for it that capacity came back.
//!
//! tarn-core never waits. An adapter that blocks (a parked thread) or suspends (a `Waker`)
//! gives the pool its wait queue as this parameter; the pool calls
//! [`released`](Waiters::released) after every change that can make a checkout succeed.
//!
//! # The no-lost-wake-up argument
//!
//! Every such change (an index pushed on the idle set, a unit of capacity given back, the
//! first-connect hook finished) is a `SeqCst` write, followed by `released`. A checkout that
//! fails read what it found exhausted with `SeqCst` loads (the idle set's pop, the capacity
//! counter, the first-connect state). So an adapter that registers a waiter with a `SeqCst`
//! read-modify-write *before* its retry, and reads its waiter count with a `SeqCst` load in
//! `released`, never misses a wake-up: of the two `SeqCst` pairs (register → retry's loads,
//! release's write → `released`'s load), one sees the other, so either the retry finds the
//! capacity or `released` finds the waiter.

/// The wait queue behind a pool: told when capacity comes back.
///
/// # Examples
///
/// ```
/// use core::sync::atomic::{AtomicUsize, Ordering};
/// use tarn_core::Waiters;
///
/// /// Counts the wake-ups a real queue would deliver.
/// #[derive(Default)]
/// struct Count(AtomicUsize);
///
/// impl Waiters for Count {
///     fn released(&self) {
///         self.0.fetch_add(1, Ordering::SeqCst);
///     }
/// }
/// ```
pub trait Waiters {
    /// Capacity came back to the pool: an idle connection was returned, a connection was
    /// closed or detached (so a new one may be opened), a failed connect gave its unit back,
    /// or the first connect finished. Must not panic; should be cheap when nobody waits.
    fn released(&self);

    /// How many callers wait now (reported in [`State::waiting`](crate::State::waiting)).
    /// Defaults to 0.
    fn waiting(&self) -> usize {
        0
    }
}

/// The waiters of a pool nobody waits on (every caller of `try_checkout` retries by itself).
/// The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWaiters;

impl Waiters for NoWaiters {
    #[inline(always)]
    fn released(&self) {}
}

impl<T: Waiters + ?Sized> Waiters for &T {
    #[inline]
    fn released(&self) {
        (**self).released()
    }
    fn waiting(&self) -> usize {
        (**self).waiting()
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: Waiters + ?Sized> Waiters for alloc::sync::Arc<T> {
    #[inline]
    fn released(&self) {
        (**self).released()
    }
    fn waiting(&self) -> usize {
        (**self).waiting()
    }
}
