//! Slots, and the ownership tokens that make touching them safe.
//!
//! A pool's slots are made once. Every open connection owns one slot (or, with unlimited
//! overflow, an overflow entry of its own on the heap) from the moment its capacity is
//! reserved until it is closed or detached. A slot index is always in exactly one of these
//! places:
//!
//! | where the index is              | who may touch the slot's cell            | the cell holds |
//! |---------------------------------|------------------------------------------|----------------|
//! | the free stack                  | nobody                                   | `None`         |
//! | the idle set (for the affinity order: the slot's `parked` flag is set) | nobody | `Some(entry)` |
//! | a token ([`Owned`] / [`Vacant`]) | the token's holder only                 | `Some(entry)` for [`Owned`], `None` for [`Vacant`] |
//!
//! Indices move between those places only through the functions of this file: taking an
//! index out of the free stack or the idle set yields a token (non-`Copy`, non-`Clone`), and
//! putting it back consumes the token. The stacks' push is a `Release` and their pop an
//! `Acquire` (for the affinity order: setting the flag, a `Release` store, and the
//! compare-and-swap that clears it, an `Acquire` that only one thread can win), so whatever
//! one holder wrote into the cell is visible to the next. Touching a cell needs the token
//! (`&Owned` to read, `&mut Owned` to write), so the only code that can reach a slot's
//! contents is its one owner's. That is the whole argument for the `unsafe` in this file;
//! the pool itself (`pool/`) has none.
//!
//! A token is used only with the storage it came from: tokens never leave the crate, and the
//! pool keeps each with a pointer to its own pool (a guard's [`PoolPtr`](crate::PoolPtr)
//! always leads to the same pool).
//!
//! The [`Storage`] trait, the interface the tokens are made from, is here too; `storage.rs`
//! implements it for the heap and the inline slots.
//!
//! An [`Owned`] token is one word: in a heap pool (whose slots never move) the address of
//! its entry, so a guard reaches its connection with no lookup; in a fixed pool (whose
//! inline slots move with the pool) the slot index, stored as `index + 1` in the word; for
//! an overflow entry, the entry's address, which lies outside the slot array.

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::sync::UnsafeCell;

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Storage of a pool's slots and index queues. Implemented by [`HeapStorage`](crate::HeapStorage) and
/// [`ArrayStorage`](crate::ArrayStorage) only.
pub trait Storage<C, I>: sealed::Sealed {
    /// Whether every slot stays at one address for as long as the storage lives, even when
    /// the storage (and the pool that holds it) is moved.
    ///
    /// True for [`HeapStorage`](crate::HeapStorage), whose slots are allocated once, apart from the pool; false
    /// for [`ArrayStorage`](crate::ArrayStorage), whose slots are inline and move with the pool (a guard may own
    /// its pool, e.g. a `Box`-like pointer that derefs to a pool stored inside it). A
    /// checked-out guard keeps a pointer to its connection only when this is true; otherwise
    /// it looks its slot up from the pool at every access.
    #[doc(hidden)]
    const SLOTS_STAY: bool;
    /// Whether a pool on this storage may make overflow entries (unlimited overflow, which
    /// needs an allocator): true for [`HeapStorage`](crate::HeapStorage) only.
    #[doc(hidden)]
    const OVERFLOWS: bool;
    /// How many slots there are.
    #[doc(hidden)]
    fn capacity(&self) -> usize;
    /// Slot `idx` (panics if `idx` is not below the capacity).
    #[doc(hidden)]
    fn slot(&self, idx: u32) -> &Slot<C, I>;
    /// The index of the slot whose entry `entry` points into, or `u32::MAX` if it lies in no
    /// slot (an overflow entry). Only for storage whose slots stay
    /// ([`SLOTS_STAY`](Self::SLOTS_STAY)); plain address arithmetic, nothing is read.
    #[doc(hidden)]
    fn index_of(&self, entry: *const Entry<C, I>) -> u32;
    #[doc(hidden)]
    fn idle_push(&self, idx: u32) -> Result<(), u32>;
    /// Takes an idle slot: under [`IdleOrder::Affinity`](crate::IdleOrder::Affinity) the scan starts at `hint`; the
    /// queues ignore it.
    #[doc(hidden)]
    fn idle_pop(&self, hint: u32) -> Option<u32>;
    #[doc(hidden)]
    fn idle_len(&self) -> usize;
    #[doc(hidden)]
    fn free_push(&self, idx: u32) -> Result<(), u32>;
    #[doc(hidden)]
    fn free_pop(&self) -> Option<u32>;
    /// Puts an idle overflow entry (unlimited overflow) in the idle set; gives the pointer
    /// back if the set is full (or the storage keeps none).
    #[doc(hidden)]
    fn boxed_push(&self, entry: BoxedEntry<C, I>) -> Result<(), BoxedEntry<C, I>>;
    /// Takes an idle overflow entry; the caller owns it.
    #[doc(hidden)]
    fn boxed_pop(&self) -> Option<BoxedEntry<C, I>>;
    /// How many overflow entries are idle.
    #[doc(hidden)]
    fn boxed_len(&self) -> usize;
}

/// The slot "index" of an overflow entry: no slot at all.
pub(crate) const OVERFLOW: u32 = u32::MAX;

/// A connection and what the pool knows about it.
///
/// It lives in its slot (or overflow entry) for the connection's whole life, idle or
/// checked out: checkout and checkin move only the token.
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

/// Storage for one connection. See the module docs for who may touch it.
#[doc(hidden)]
pub struct Slot<C, I> {
    cell: UnsafeCell<Option<Entry<C, I>>>,
}

// SAFETY: a slot's cell is only ever accessed by the holder of its token (module docs);
// tokens move between threads through the Release/Acquire of the idle set and free stack,
// so sharing `&Slot` is sound when the contents may move between threads.
unsafe impl<C: Send, I: Send> Sync for Slot<C, I> {}

impl<C, I> core::fmt::Debug for Slot<C, I> {
    // Manual impl: reading the cell needs its token, which `Debug` lacks.
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
}

/// Ownership of a slot (or overflow entry) that holds a connection. One word; see the
/// module docs. (Public only to appear in the hidden methods of
/// [`AnyPool`](crate::AnyPool); it cannot be named outside the crate.)
pub struct Owned<C, I> {
    word: NonNull<Entry<C, I>>,
    _own: PhantomData<Entry<C, I>>,
}

/// Ownership of an empty slot (or, for [`OVERFLOW`], of the right to make an overflow
/// entry) with its unit of capacity.
#[derive(Debug)]
pub(crate) struct Vacant {
    idx: u32,
}

impl Vacant {
    /// The right to make an overflow entry (unlimited overflow: nothing to take from a
    /// queue).
    pub(crate) const fn overflow() -> Self {
        Vacant { idx: OVERFLOW }
    }

    /// The slot index, or [`OVERFLOW`].
    pub(crate) fn index(&self) -> u32 {
        self.idx
    }
}

// SAFETY: sending a token to another thread lets that thread reach the entry by `&mut`:
// that is sending the entry, sound when its connection and info are `Send`.
unsafe impl<C: Send, I: Send> Send for Owned<C, I> {}

// SAFETY: sharing a token lets several threads read the entry by `&` at once (writes need
// `&mut Owned`): sound when the connection and info are `Sync`.
unsafe impl<C: Sync, I: Sync> Sync for Owned<C, I> {}

impl<C, I> core::fmt::Debug for Owned<C, I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Owned")
    }
}

/// The word of a slot index in a storage whose slots move.
#[inline(always)]
fn index_word<C, I>(idx: u32) -> NonNull<Entry<C, I>> {
    // Never dereferenced: `Owned::entry` looks the slot up from the index instead. Made by
    // offsetting a null pointer, so the word carries no provenance (and no cast from an
    // integer is needed).
    let word = core::ptr::null_mut::<u8>()
        .wrapping_add(idx as usize + 1)
        .cast::<Entry<C, I>>();
    // `idx + 1` is not zero (indices are below `MAX_CAPACITY`).
    NonNull::new(word).unwrap_or(NonNull::dangling())
}

impl<C, I> Owned<C, I> {
    /// Whether the word is an entry's address (heap slots, or an overflow entry) rather than
    /// an index.
    #[inline(always)]
    fn is_address<S: Storage<C, I>>(&self, storage: &S) -> bool {
        S::SLOTS_STAY || (S::OVERFLOWS && self.word.as_ptr() as usize > storage.capacity())
    }

    /// The slot index of this token, or [`OVERFLOW`] for an overflow entry. Reads nothing.
    #[inline(always)]
    pub(crate) fn index<S: Storage<C, I>>(&self, storage: &S) -> u32 {
        if S::SLOTS_STAY {
            storage.index_of(self.word.as_ptr())
        } else if self.is_address(storage) {
            OVERFLOW
        } else {
            (self.word.as_ptr() as usize - 1) as u32
        }
    }

    /// The entry, for reading.
    #[inline(always)]
    pub(crate) fn entry<'a, S: Storage<C, I>>(&'a self, storage: &'a S) -> &'a Entry<C, I> {
        if self.is_address(storage) {
            // SAFETY: the word is the address of the entry this token owns (module docs): in
            // a heap slot, which never moves while the storage (borrowed for `'a`) lives, or
            // in an overflow entry, which only its token's holder frees. `&self` for `'a`
            // rules out any `&mut` made through this token meanwhile.
            unsafe { self.word.as_ref() }
        } else {
            let idx = self.index(storage);
            // SAFETY: this token owns slot `idx`, which holds an entry; as above, `&self`
            // rules out any `&mut` to it for `'a`, and the slot is borrowed from `storage`.
            storage.slot(idx).cell.with_mut(|p| match unsafe { &*p } {
                Some(entry) => entry,
                None => unreachable!("an owned slot holds a connection"),
            })
        }
    }

    /// The entry, for writing.
    #[inline(always)]
    pub(crate) fn entry_mut<'a, S: Storage<C, I>>(
        &'a mut self,
        storage: &'a S,
    ) -> &'a mut Entry<C, I> {
        if self.is_address(storage) {
            // SAFETY: as in `entry`; `&mut self` makes this the only reference for `'a`.
            unsafe { self.word.as_mut() }
        } else {
            let idx = self.index(storage);
            // SAFETY: as in `entry`; `&mut self` makes this the only reference for `'a`.
            storage
                .slot(idx)
                .cell
                .with_mut(|p| match unsafe { &mut *p } {
                    Some(entry) => entry,
                    None => unreachable!("an owned slot holds a connection"),
                })
        }
    }

    /// Takes the entry out, leaving the slot empty (for an overflow entry: freeing it).
    #[inline]
    pub(crate) fn take<S: Storage<C, I>>(self, storage: &S) -> (Vacant, Entry<C, I>) {
        let idx = self.index(storage);
        if idx == OVERFLOW {
            // SAFETY: the token owns the overflow entry, made by `Vacant::fill` with
            // `alloc_box::into_raw`; the token is consumed, so nobody uses the pointer again.
            let entry = unsafe { alloc_box::take(self.word) };
            return (Vacant { idx }, entry);
        }
        // SAFETY: the token owns slot `idx`; it is consumed, and the `Vacant` made from it
        // owns the now empty slot.
        let taken = storage.slot(idx).cell.with_mut(|p| unsafe { (*p).take() });
        match taken {
            Some(entry) => (Vacant { idx }, entry),
            None => unreachable!("an owned slot holds a connection"),
        }
    }
}

impl Vacant {
    /// Puts a new connection's entry into the slot (for [`OVERFLOW`]: into an overflow entry
    /// of its own on the heap).
    #[inline]
    pub(crate) fn fill<C, I, S: Storage<C, I>>(
        self,
        storage: &S,
        entry: Entry<C, I>,
    ) -> Owned<C, I> {
        if self.idx == OVERFLOW {
            return Owned {
                word: alloc_box::into_raw(entry),
                _own: PhantomData,
            };
        }
        let idx = self.idx;
        let word = storage.slot(idx).cell.with_mut(|p| {
            // SAFETY: the token owns the empty slot `idx`; nobody else touches its cell, and
            // this `&mut` lives only until the entry's address is taken.
            let cell = unsafe { &mut *p };
            debug_assert!(cell.is_none(), "only an empty slot is filled");
            NonNull::from(cell.insert(entry))
        });
        Owned {
            word: if S::SLOTS_STAY { word } else { index_word(idx) },
            _own: PhantomData,
        }
    }
}

/// The token of slot `idx`, which the caller has just taken out of the idle set.
///
/// # Safety
///
/// Nobody else owns slot `idx` of `storage` (it was just popped from its idle set), and the
/// slot holds an entry.
#[inline(always)]
unsafe fn owned_from_idle<C, I, S: Storage<C, I>>(storage: &S, idx: u32) -> Owned<C, I> {
    let word = if S::SLOTS_STAY {
        // SAFETY: the caller's contract: this thread owns the slot; the `&mut` lives only
        // until the address is taken.
        storage
            .slot(idx)
            .cell
            .with_mut(|p| match unsafe { &mut *p } {
                Some(entry) => NonNull::from(entry),
                None => unreachable!("an idle slot holds a connection"),
            })
    } else {
        index_word(idx)
    };
    Owned {
        word,
        _own: PhantomData,
    }
}

/// Takes an idle slot (under the affinity order starting at `hint`), with its index.
#[inline(always)]
pub(crate) fn take_idle<C, I, S: Storage<C, I>>(
    storage: &S,
    hint: u32,
) -> Option<(u32, Owned<C, I>)> {
    let idx = storage.idle_pop(hint)?;
    // SAFETY: the index was popped from the idle set: this thread owns slot `idx`, and idle
    // slots hold a connection (module docs).
    Some((idx, unsafe { owned_from_idle(storage, idx) }))
}

/// Puts an owned slot in the idle set; gives the token back if the set is full, or if the
/// token is an overflow entry's (those go to [`put_boxed`]).
#[inline(always)]
pub(crate) fn put_idle<C, I, S: Storage<C, I>>(
    storage: &S,
    token: Owned<C, I>,
) -> Result<(), Owned<C, I>> {
    let idx = token.index(storage);
    if idx == OVERFLOW {
        return Err(token);
    }
    // On `Ok` the token is consumed (the idle set owns the slot now); on `Err` the index
    // came back and the token still owns it.
    storage.idle_push(idx).map_err(|_| token)
}

/// Takes an empty slot from the free stack.
#[inline]
pub(crate) fn take_free<C, I, S: Storage<C, I>>(storage: &S) -> Option<Vacant> {
    storage.free_pop().map(|idx| Vacant { idx })
}

/// Gives an empty slot back to the free stack (an overflow entry's place: nothing to give).
#[inline]
pub(crate) fn put_free<C, I, S: Storage<C, I>>(storage: &S, vacant: Vacant) {
    if vacant.idx != OVERFLOW {
        // Cannot fail: the free stack can hold every index.
        let pushed = storage.free_push(vacant.idx);
        debug_assert!(pushed.is_ok());
    }
}

/// Takes an idle overflow entry (unlimited overflow).
#[inline]
pub(crate) fn take_boxed<C, I, S: Storage<C, I>>(storage: &S) -> Option<Owned<C, I>> {
    storage.boxed_pop().map(|b| Owned {
        word: b.0,
        _own: PhantomData,
    })
}

/// Puts an owned overflow entry in the idle set; gives the token back if the set is full.
#[inline]
pub(crate) fn put_boxed<C, I, S: Storage<C, I>>(
    storage: &S,
    token: Owned<C, I>,
) -> Result<(), Owned<C, I>> {
    storage
        .boxed_push(BoxedEntry(token.word))
        .map_err(|b| Owned {
            word: b.0,
            _own: PhantomData,
        })
}

/// An idle overflow entry's address, as the idle set of a pool with unlimited overflow
/// holds it: the token, parked.
#[doc(hidden)]
pub struct BoxedEntry<C, I>(NonNull<Entry<C, I>>);

// SAFETY: an idle overflow entry is owned by nobody while its address sits in the queue; the
// thread that pops it owns the entry (the queue's push releases, its pop acquires), so
// sending the address sends the entry, which is sound when its parts are `Send`.
unsafe impl<C: Send, I: Send> Send for BoxedEntry<C, I> {}

impl<C, I> core::fmt::Debug for BoxedEntry<C, I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BoxedEntry")
    }
}

/// Overflow entries on the heap (unlimited overflow needs `alloc`).
mod alloc_box {
    use core::ptr::NonNull;

    use super::Entry;

    /// Moves `entry` into a heap allocation of its own.
    #[cfg(feature = "alloc")]
    #[inline(never)]
    pub(super) fn into_raw<C, I>(entry: Entry<C, I>) -> NonNull<Entry<C, I>> {
        NonNull::from(alloc::boxed::Box::leak(alloc::boxed::Box::new(entry)))
    }

    /// Moves the entry out of its allocation and frees it.
    ///
    /// # Safety
    ///
    /// `ptr` came from [`into_raw`], and nobody uses it again.
    #[cfg(feature = "alloc")]
    pub(super) unsafe fn take<C, I>(ptr: NonNull<Entry<C, I>>) -> Entry<C, I> {
        // SAFETY: the caller's contract: a leaked `Box`'s pointer, owned and used no more.
        *unsafe { alloc::boxed::Box::from_raw(ptr.as_ptr()) }
    }

    #[cfg(not(feature = "alloc"))]
    pub(super) fn into_raw<C, I>(_entry: Entry<C, I>) -> NonNull<Entry<C, I>> {
        unreachable!("only a heap pool with unlimited overflow makes overflow entries")
    }

    #[cfg(not(feature = "alloc"))]
    pub(super) unsafe fn take<C, I>(_ptr: NonNull<Entry<C, I>>) -> Entry<C, I> {
        unreachable!("only a heap pool with unlimited overflow makes overflow entries")
    }
}
