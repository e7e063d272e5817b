//! The one door through which the adapter's waiting code reaches locks, atomics and
//! thread parking.
//!
//! Under `--cfg tarn_loom` these are loom's, so the loom models in `loom-tests/` check the
//! very code that ships; otherwise they are std's. loom has no `park_timeout`: under loom a
//! timed park is an untimed one (the models never rely on a timeout firing).

#[cfg(tarn_loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicU8, AtomicUsize},
    Arc, Mutex, MutexGuard,
};
#[cfg(tarn_loom)]
pub(crate) use loom::thread::{current, park, Thread};

#[cfg(not(tarn_loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU8, AtomicUsize},
    Arc, Mutex, MutexGuard,
};
#[cfg(not(tarn_loom))]
pub(crate) use std::thread::{current, park, Thread};

pub(crate) use std::sync::atomic::Ordering;

/// Parks the current thread until unparked or `dur` has passed (spurious wake-ups allowed).
#[cfg(not(tarn_loom))]
#[inline]
pub(crate) fn park_timeout(dur: std::time::Duration) {
    std::thread::park_timeout(dur)
}

/// Under loom: an untimed park (loom has no time).
#[cfg(tarn_loom)]
pub(crate) fn park_timeout(_dur: std::time::Duration) {
    loom::thread::park()
}

/// Locks `m`, ignoring poisoning: the data behind the adapter's locks is kept consistent by
/// code that does not panic while holding them, so a poisoned lock is still sound to use.
#[inline]
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A `SeqCst` fence under loom only.
///
/// The waiting protocol's no-lost-wake-up argument (see `wait.rs`) rests on the single total
/// order of `SeqCst` accesses, which the C11 model guarantees and the shipped code uses.
/// loom 0.7 models `SeqCst` *accesses* as `AcqRel` (its README, "Limitations"), which would
/// report that argument's Dekker pattern as a (false) lost wake-up; it does model `SeqCst`
/// *fences*. So under loom a fence stands in for the total order, at exactly the two
/// places the argument uses it; in normal builds this is nothing (no cost on the checkin
/// fast path).
#[inline(always)]
pub(crate) fn loom_seqcst_fence() {
    #[cfg(tarn_loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}

/// Locks a std `Mutex` (the simple kinds' and the registry's, which the loom models do not
/// reach), ignoring poisoning for the reason [`lock`] gives.
#[inline]
pub(crate) fn lock_std<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
