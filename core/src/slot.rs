//! Slots: where idle connections wait, and the ownership protocol that makes them safe.
//!
//! A pool has `capacity = pool_size + max_overflow` slots, made once. Every open connection
//! owns one slot from the moment its capacity is reserved until it is closed or detached.
//! A slot index is always in exactly one of these places:
//!
//! | where the index is              | who may touch the slot's cell            | the cell holds |
//! |---------------------------------|------------------------------------------|----------------|
//! | the free stack                  | nobody                                   | `None`         |
//! | the idle queue (or, for the affinity order, the slot's `parked` flag is set) | nobody | `Some(entry)` |
//! | a thread that popped it / a guard| that thread (or the guard's owner) only | `Some(entry)` while a connection is in use, `None` while one is being opened |
//!
//! Indices move between those places only through the free stack and the idle queue,
//! whose push is a `Release` and whose pop an `Acquire` (for the affinity order: setting the
//! flag, a `Release` store, and the compare-and-swap that clears it, an `Acquire` that only
//! one thread can win): whatever one owner wrote into the cell is visible to the next. That is the whole argument for the `unsafe` in this file;
//! the pool upholds it by popping before touching and touching before pushing.
//!
//! The owner of a slot may keep a pointer to the slot's entry ([`Slot::occupied`]) and use
//! it for as long as it owns the slot, provided the slot does not move meanwhile: a
//! checked-out guard keeps one in its [`SlotRef`] when the pool's slots never move.

use core::ptr::NonNull;

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

    /// A pointer to the entry of this occupied slot, for its owner to keep while it owns it.
    ///
    /// The pointer stays valid for as long as the slot does not move and nobody takes the
    /// entry out; see [`SlotRef`] for where it may be kept.
    ///
    /// # Safety
    ///
    /// The caller owns this slot's index (as for [`take`](Self::take)).
    ///
    /// # Panics
    ///
    /// If the slot is empty, which the slot protocol rules out for an owned slot that holds a
    /// connection (the only kind callers ask about).
    #[inline]
    pub(crate) unsafe fn occupied(&self) -> NonNull<Entry<C, I>> {
        // SAFETY: the caller owns the slot, so no other reference to the cell's contents
        // exists, and this `&mut` lives only until the pointer is made from it.
        match unsafe { &mut *self.ptr() } {
            Some(entry) => NonNull::from(entry),
            None => unreachable!("an owned slot in use holds a connection"),
        }
    }

    /// Puts an entry into this empty slot and returns a pointer to it, as
    /// [`occupied`](Self::occupied) would.
    ///
    /// # Safety
    ///
    /// The caller owns this slot's index (as for [`take`](Self::take)).
    #[inline]
    pub(crate) unsafe fn fill(&self, entry: Entry<C, I>) -> NonNull<Entry<C, I>> {
        // SAFETY: the caller owns the slot, so no other reference to the cell's contents
        // exists; the `&mut` lives only until the pointer is made from it.
        let cell = unsafe { &mut *self.ptr() };
        debug_assert!(cell.is_none(), "only an empty slot is filled");
        NonNull::from(cell.insert(entry))
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

/// How a checked-out [`Pooled`](crate::Pooled) guard reaches its slot: one word, so that the
/// guard (with its pool pointer) is two words, which move in registers.
///
/// Which field is in use is fixed by the pool's storage type
/// ([`Storage::SLOTS_STAY`](crate::Storage::SLOTS_STAY)), so a guard never needs to ask:
///
/// - `entry` (slots that never move: the heap pool): the pointer to the slot's entry that
///   `Slot::occupied` / `Slot::fill` gave at checkout. The guard reaches its connection with
///   no lookup; the slot index is recomputed from it on return (`RawPool::resolve`).
/// - `idx` (the inline slots of a fixed pool, which move with the pool): the slot index; the
///   guard looks its slot up at every access.
///
/// It carries no ownership by itself: the guard that holds it owns the slot.
#[doc(hidden)]
pub union SlotRef<C, I> {
    pub(crate) entry: NonNull<Entry<C, I>>,
    pub(crate) idx: usize,
}

impl<C, I> Clone for SlotRef<C, I> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

impl<C, I> Copy for SlotRef<C, I> {}

impl<C, I> core::fmt::Debug for SlotRef<C, I> {
    // Manual impl: which field is in use depends on the pool's storage, unknown here.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SlotRef")
    }
}

// SAFETY: sending a `SlotRef` to another thread lets that thread reach the entry by `&mut`
// (through the guard that owns the slot, and only one guard owns it): that is sending the
// entry, which is sound when its connection and info are `Send`. (A raw pointer is never
// `Send` by itself; the index needs nothing.)
unsafe impl<C: Send, I: Send> Send for SlotRef<C, I> {}

// SAFETY: sharing a `SlotRef` (sharing a `&Pooled`) lets several threads read the entry by
// `&` at once, and never write it (writes need `&mut Pooled`): sound when the connection and
// info are `Sync`.
unsafe impl<C: Sync, I: Sync> Sync for SlotRef<C, I> {}
