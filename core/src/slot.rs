//! Slots: where idle connections wait, and the ownership protocol that makes them safe.
//!
//! A pool has `capacity = pool_size + max_overflow` slots, made once. Every open connection
//! owns one slot from the moment its capacity is reserved until it is closed or detached.
//! A slot index is always in exactly one of these places:
//!
//! | where the index is              | who may touch the slot's cell            | the cell holds |
//! |---------------------------------|------------------------------------------|----------------|
//! | the free stack                  | nobody                                   | `None`         |
//! | the idle queue                  | nobody                                   | `Some(entry)`  |
//! | a thread that popped it / a guard| that thread (or the guard's owner) only | `Some(entry)` while a connection is in use, `None` while one is being opened |
//!
//! Indices move between those places only through the free stack and the idle queue,
//! whose push is a `Release` and whose pop an `Acquire`: whatever one owner wrote into the
//! cell is visible to the next. That is the whole argument for the `unsafe` in this file;
//! the pool upholds it by popping before touching and touching before pushing.

use crate::sync::UnsafeCell;

/// A connection and what the pool knows about it.
///
/// It lives in its slot for the connection's whole life, idle or checked out: checkout and
/// checkin move only the slot's index.
#[doc(hidden)]
#[derive(Debug)]
pub struct Entry<C, I> {
    /// The connection itself.
    pub(crate) conn: C,
    /// The user's typed per-connection info. Survives check-in; starts from
    /// `I::default()` for every new connection (as the reference clears `info` on reconnect).
    pub(crate) info: I,
    /// The pool epoch read just before the connection was opened. An older epoch than the
    /// pool's means `invalidate_all` or `dispose` happened since: the connection is stale.
    pub(crate) epoch: usize,
    /// Clock ticks when the connection was opened (0 if the pool keeps no time).
    pub(crate) born: u64,
    /// Soft-invalidated: keep using it, but close it when it comes back.
    pub(crate) soft: bool,
}

/// Storage for one idle connection. See the module docs for who may touch it.
#[doc(hidden)]
pub struct Slot<C, I> {
    cell: UnsafeCell<Option<Entry<C, I>>>,
}

// SAFETY: a slot's cell is only ever accessed by the one thread that owns its index (module
// docs); ownership moves between threads through the Release/Acquire of the idle queue and
// free stack, so sharing `&Slot` is sound when the contents may move between threads.
unsafe impl<C: Send, I: Send> Sync for Slot<C, I> {}

impl<C, I> core::fmt::Debug for Slot<C, I> {
    // Manual impl: reading the cell needs ownership of the slot, which `Debug` lacks.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Slot")
    }
}

impl<C, I> Slot<C, I> {
    crate::sync::const_fn! {
        /// An empty slot.
        pub(crate) fn new() -> Self {
            Slot { cell: UnsafeCell::new(None) }
        }
    }

    /// A raw pointer to the slot's contents, for its owner to read and write in place.
    ///
    /// Dereferencing it is sound only for the thread that owns the slot's index, and only
    /// while it does (module docs).
    #[inline]
    pub(crate) fn ptr(&self) -> *mut Option<Entry<C, I>> {
        self.cell.with_mut(|p| p)
    }

    /// Takes the entry out, leaving the slot empty.
    ///
    /// # Safety
    ///
    /// The caller owns this slot's index (it is in neither the idle queue nor the free stack,
    /// and no other thread holds it).
    #[inline]
    pub(crate) unsafe fn take(&self) -> Option<Entry<C, I>> {
        // SAFETY: the caller owns the slot, so no other access to the cell exists.
        self.cell.with_mut(|p| unsafe { (*p).take() })
    }
}
