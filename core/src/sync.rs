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
//! track every access to a slot. The [`SeqCst`] helpers carry the `SeqCst` ordering of the
//! accesses the wake-up and dispose arguments rely on, in a form loom checks.

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

/// `SeqCst` accesses whose ordering loom checks as such.
///
/// loom models `SeqCst` loads, stores and read-modify-writes as `AcqRel` (loom #180), so it
/// cannot confirm a store-buffer argument made with `SeqCst` accesses alone, which the C11
/// model does guarantee; it does model `fence(SeqCst)`. The accesses that the wake-up
/// argument (`waiters.rs`) and the dispose argument (`pool/checkin.rs`) rely on go through
/// these methods, which are the plain `SeqCst` access in normal builds and, under loom, the
/// access with a `SeqCst` fence on the side the argument needs: before a load, after a store,
/// on both sides of a read-modify-write. The ordering is carried by the access itself: an
/// access weakened to a plain `load` / `store` loses its fence with it, and loom sees the
/// interleaving that the weaker ordering allows.
pub(crate) trait SeqCst {
    /// The value type.
    type V: Copy;
    /// `load(SeqCst)`.
    fn load_sc(&self) -> Self::V;
    /// `store(v, SeqCst)`.
    fn store_sc(&self, v: Self::V);
    /// `compare_exchange(cur, new, SeqCst, SeqCst)`.
    fn cas_sc(&self, cur: Self::V, new: Self::V) -> Result<Self::V, Self::V>;
    /// `compare_exchange_weak(cur, new, SeqCst, SeqCst)`.
    fn cas_weak_sc(&self, cur: Self::V, new: Self::V) -> Result<Self::V, Self::V>;
}

/// Read-modify-writes of the integer atomics, as [`SeqCst`].
pub(crate) trait SeqCstInt: SeqCst {
    /// `fetch_add(v, SeqCst)`.
    fn fetch_add_sc(&self, v: Self::V) -> Self::V;
    /// `fetch_sub(v, SeqCst)`.
    fn fetch_sub_sc(&self, v: Self::V) -> Self::V;
}

#[inline(always)]
fn loom_fence() {
    #[cfg(tarn_loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}

macro_rules! seqcst {
    ($($atomic:ty => $v:ty),*) => {$(
        impl SeqCst for $atomic {
            type V = $v;
            #[inline(always)]
            fn load_sc(&self) -> $v {
                loom_fence();
                self.load(Ordering::SeqCst)
            }
            #[inline(always)]
            fn store_sc(&self, v: $v) {
                self.store(v, Ordering::SeqCst);
                loom_fence();
            }
            #[inline(always)]
            fn cas_sc(&self, cur: $v, new: $v) -> Result<$v, $v> {
                loom_fence();
                let r = self.compare_exchange(cur, new, Ordering::SeqCst, Ordering::SeqCst);
                loom_fence();
                r
            }
            #[inline(always)]
            fn cas_weak_sc(&self, cur: $v, new: $v) -> Result<$v, $v> {
                loom_fence();
                let r = self.compare_exchange_weak(cur, new, Ordering::SeqCst, Ordering::SeqCst);
                loom_fence();
                r
            }
        }
    )*};
}

macro_rules! seqcst_int {
    ($($atomic:ty => $v:ty),*) => {$(
        seqcst!($atomic => $v);
        impl SeqCstInt for $atomic {
            #[inline(always)]
            fn fetch_add_sc(&self, v: $v) -> $v {
                loom_fence();
                let r = self.fetch_add(v, Ordering::SeqCst);
                loom_fence();
                r
            }
            #[inline(always)]
            fn fetch_sub_sc(&self, v: $v) -> $v {
                loom_fence();
                let r = self.fetch_sub(v, Ordering::SeqCst);
                loom_fence();
                r
            }
        }
    )*};
}

seqcst!(AtomicBool => bool);
seqcst_int!(AtomicIsize => isize, AtomicU32 => u32, AtomicU8 => u8, AtomicUsize => usize);
