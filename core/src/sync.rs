//! The one door through which tarn-core reaches atomics and cells.
//!
//! Every atomic and every `UnsafeCell` in the crate is imported from here, never from
//! `core::sync::atomic`, `portable_atomic` or `loom` directly, so that:
//!
//! - under `--cfg tarn_loom` the very code that ships is the code loom model-checks
//!   (the cfg is namespaced: a bare `cfg(loom)` would also flip dependencies that read it);
//! - with the `portable-atomic` feature, targets without compare-and-swap (thumbv6m,
//!   riscv32imc) get their read-modify-write operations from `portable_atomic`.
//!
//! The cell wrapper mirrors loom's closure-based API (`with` / `with_mut`), so that loom can
//! track every access to a slot.

#[cfg(tarn_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicIsize, AtomicU32, AtomicU8, AtomicUsize};

#[cfg(all(not(tarn_loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{AtomicBool, AtomicIsize, AtomicU32, AtomicU8, AtomicUsize};

#[cfg(all(not(tarn_loom), not(feature = "portable-atomic")))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicIsize, AtomicU32, AtomicU8, AtomicUsize};

pub(crate) use core::sync::atomic::Ordering;

#[cfg(tarn_loom)]
pub(crate) use loom::cell::UnsafeCell;

#[cfg(not(tarn_loom))]
pub(crate) use self::plain::UnsafeCell;

#[cfg(not(tarn_loom))]
mod plain {
    /// `core::cell::UnsafeCell` with loom's access API, so callers compile unchanged
    /// under both configurations.
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(core::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a raw pointer to the value for writing.
        ///
        /// The pointer is only valid inside `f`; the caller must hold exclusive access to
        /// the cell for the whole call (see the slot ownership protocol in `slot.rs`).
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// Marks functions that are `const` in normal builds and plain under loom, whose atomics
/// and cells cannot be built in a constant context.
macro_rules! const_fn {
    ($(#[$m:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(tarn_loom))]
        $(#[$m])* $vis const fn $($rest)*
        #[cfg(tarn_loom)]
        $(#[$m])* $vis fn $($rest)*
    };
}
pub(crate) use const_fn;

/// A `SeqCst` fence under loom, nothing otherwise.
///
/// loom models `SeqCst` loads, stores and read-modify-writes as `AcqRel` (loom #180), so it
/// cannot confirm a store-buffer argument made with `SeqCst` accesses alone, which the C11
/// model does guarantee. It does model `fence(SeqCst)`: the places that rely on such an
/// argument call this so that loom checks the protocol instead of raising a false alarm.
#[inline(always)]
pub(crate) fn seqcst_for_loom() {
    #[cfg(tarn_loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}
