//! The drop guards that own a slot while the pool runs user code, and the capacity
//! accounting they keep right: [`Reserved`] (a unit of capacity and an empty slot),
//! [`Held`] (a slot with a connection in it), [`Closing`] and [`FirstConnect`].
//!
//! An *overflow entry* (unlimited overflow, heap pools only) is a connection's entry boxed
//! on its own because every slot was in use when it opened. It has no slot index: the
//! guards mark it with [`OVERFLOW`] and keep the box's pointer. Giving its capacity back
//! frees the box and pushes no index on the free stack.

use crate::clock::Clock;
use crate::events::{CloseReason, Events};
use crate::manager::Manager;
use crate::slot::Entry;
use crate::storage::Storage;
use crate::sync::Ordering;
use crate::waiters::Waiters;

use super::{OwnedEntry, RawPool, FIRST_DONE, FIRST_PENDING};

/// The slot "index" of an overflow entry: no slot at all.
pub(crate) const OVERFLOW: u32 = u32::MAX;

impl<M, E, K, I, S, W> RawPool<M, E, K, I, S, W>
where
    M: Manager,
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    /// Reserves one unit of capacity, or says there is none. Always succeeds with unlimited
    /// overflow.
    #[inline]
    pub(super) fn reserve(&self) -> bool {
        let Some(max) = self.settings.max_overflow else {
            self.overflow.fetch_add(1, Ordering::SeqCst);
            return true;
        };
        let max = max as isize;
        let mut cur = self.overflow.load(Ordering::SeqCst);
        loop {
            if cur >= max {
                return false;
            }
            match self.overflow.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(seen) => cur = seen,
            }
        }
    }

    /// Gives an empty slot (or an overflow entry's place) and its unit of capacity back, and
    /// tells the waiters.
    #[inline]
    pub(super) fn release_slot(&self, idx: u32) {
        if idx != OVERFLOW {
            // Cannot fail: the free stack can hold every index.
            let pushed = self.storage.free_push(idx);
            debug_assert!(pushed.is_ok());
        }
        self.overflow.fetch_sub(1, Ordering::SeqCst);
        self.waiters.released();
    }

    /// Closes a connection: the close event with its reason, then the manager.
    pub(super) fn close_entry(&self, entry: Entry<M::Connection, I>, reason: CloseReason) {
        let mut closing = Closing {
            manager: &self.manager,
            conn: Some(entry.conn),
        };
        if let Some(conn) = closing.conn.as_mut() {
            self.events.close(conn, reason);
        }
    }
}

/// A reserved unit of capacity and an empty slot (`idx`, or [`OVERFLOW`]: none yet) that
/// holds no connection. Dropping it gives both back.
pub(super) struct Reserved<'a, M: Manager, E, K, I, S, W>
where
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    pub(super) pool: &'a RawPool<M, E, K, I, S, W>,
    pub(super) idx: u32,
}

impl<'a, M, E, K, I, S, W> Reserved<'a, M, E, K, I, S, W>
where
    M: Manager,
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    /// Puts a new connection's entry into the slot (or, for [`OVERFLOW`], into a box of its
    /// own).
    #[inline]
    pub(super) fn fill(self, entry: Entry<M::Connection, I>) -> Held<'a, M, E, K, I, S, W> {
        let (pool, idx) = (self.pool, self.idx);
        core::mem::forget(self);
        let entry = if idx == OVERFLOW {
            box_entry(entry)
        } else {
            // SAFETY: a `Reserved` owns its slot (it popped the index from the free stack, or
            // took it from a `Held`), and the slot is empty; ownership passes to the `Held`
            // below, with the pointer to the entry that `fill` returns.
            unsafe { pool.slot(idx).fill(entry) }
        };
        Held { pool, idx, entry }
    }
}

impl<M, E, K, I, S, W> Drop for Reserved<'_, M, E, K, I, S, W>
where
    M: Manager,
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    fn drop(&mut self) {
        self.pool.release_slot(self.idx);
    }
}

/// A slot (or overflow entry) with a connection in it, owned by the current thread.
/// [`close`](Held::close) closes the connection (close event with its reason, then the
/// manager) and gives the slot and its capacity back; dropping it does the same with
/// [`CloseReason::Invalidated`]`(Panicked)`, which is only reached when user code unwinds.
///
/// Invariant: the thread holding a `Held` owns slot `idx` (slot protocol) or, for
/// [`OVERFLOW`], the box `entry` points to; the slot holds an entry, and `entry` points to
/// it. The pointer stays valid for as long as the `Held` lives: it borrows the pool, so the
/// slot cannot move, and only the `Held` may take the entry out (it does so when it ends, in
/// `into_parts`).
pub(super) struct Held<'a, M: Manager, E, K, I, S, W>
where
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    pub(super) pool: &'a RawPool<M, E, K, I, S, W>,
    pub(super) idx: u32,
    pub(super) entry: OwnedEntry<M, I>,
}

impl<'a, M, E, K, I, S, W> Held<'a, M, E, K, I, S, W>
where
    M: Manager,
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    /// Takes charge of slot `idx`, whose index this thread just popped from the idle queue.
    ///
    /// # Safety
    ///
    /// This thread owns slot `idx` of `pool` (it popped the index from the idle queue, or
    /// otherwise owns it) and the slot holds a connection.
    #[inline]
    pub(super) unsafe fn popped(pool: &'a RawPool<M, E, K, I, S, W>, idx: u32) -> Self {
        // SAFETY: this thread owns slot `idx` (the caller's contract).
        let entry = unsafe { pool.slot(idx).occupied() };
        Held { pool, idx, entry }
    }

    /// Takes charge of the slot a guard owned, from the guard's [`SlotRef`](crate::slot::SlotRef).
    ///
    /// # Safety
    ///
    /// As for [`RawPool::owned_entry`]: this thread owns the slot `slot` refers to (made by
    /// `slot_ref` on `pool`), and the slot holds that connection still.
    #[inline(always)]
    pub(super) unsafe fn owned(
        pool: &'a RawPool<M, E, K, I, S, W>,
        slot: crate::slot::SlotRef<M::Connection, I>,
    ) -> Self {
        // SAFETY: the caller's contract is `owned_entry`'s and `slot_index`'s.
        let (idx, entry) = unsafe { (pool.slot_index(slot), pool.owned_entry(slot)) };
        Held { pool, idx, entry }
    }

    /// Takes charge again of the slot a `Held` gave up with [`keep`](Self::keep), with what
    /// `keep` returned.
    ///
    /// # Safety
    ///
    /// `idx` and `entry` are what `keep` returned, and this thread has owned slot `idx` since
    /// (no queue took the index).
    #[inline]
    pub(super) unsafe fn resume(
        pool: &'a RawPool<M, E, K, I, S, W>,
        idx: u32,
        entry: OwnedEntry<M, I>,
    ) -> Self {
        Held { pool, idx, entry }
    }

    /// The connection's entry, in its slot.
    #[inline]
    pub(super) fn entry(&mut self) -> &mut Entry<M::Connection, I> {
        // SAFETY: by the invariant this thread owns slot `idx` (or the overflow box) and
        // `self.entry` points to its entry, valid while `self` lives; no other reference to
        // the entry exists (only the slot's owner makes them, and `&mut self` keeps this one
        // unique for its lifetime).
        unsafe { &mut *self.entry.as_ptr() }
    }

    /// Keeps the slot (and the connection in it) for the caller, who now owns index `idx`,
    /// with the pointer to its entry.
    #[inline]
    pub(super) fn keep(self) -> (u32, OwnedEntry<M, I>) {
        let (idx, entry) = (self.idx, self.entry);
        core::mem::forget(self);
        (idx, entry)
    }

    /// Takes the entry out, leaving a reserved, empty slot (for an overflow entry: the box is
    /// freed, and the reservation holds the unit of capacity alone).
    #[inline]
    pub(super) fn into_parts(self) -> (Reserved<'a, M, E, K, I, S, W>, Entry<M::Connection, I>) {
        let (pool, idx, ptr) = (self.pool, self.idx, self.entry);
        core::mem::forget(self);
        let res = Reserved { pool, idx };
        if idx == OVERFLOW {
            // SAFETY: by the invariant this thread owns the box `ptr` points to, made by
            // `box_entry`; the pointer is never used again.
            return (res, unsafe { unbox_entry(ptr) });
        }
        // SAFETY: by the invariant this thread owns the occupied slot `idx`; the entry
        // pointer is never used again once the entry is out.
        match unsafe { pool.slot(idx).take() } {
            Some(entry) => (res, entry),
            None => unreachable!("an owned slot in use holds a connection"),
        }
    }

    /// Closes the connection with `reason` (close event, then the manager) and gives the slot
    /// and its capacity back, also if the event unwinds.
    #[inline]
    pub(super) fn close(self, reason: CloseReason) {
        let (res, entry) = self.into_parts();
        res.pool.close_entry(entry, reason); // if this unwinds, `res` still gives the slot back
        drop(res);
    }

    /// Takes charge of an overflow entry this thread just popped from the idle set.
    ///
    /// # Safety
    ///
    /// This thread owns the overflow entry `entry` points to (it popped it from the idle
    /// set), made by `box_entry`.
    #[inline]
    pub(super) unsafe fn popped_boxed(
        pool: &'a RawPool<M, E, K, I, S, W>,
        entry: OwnedEntry<M, I>,
    ) -> Self {
        Held {
            pool,
            idx: OVERFLOW,
            entry,
        }
    }
}

impl<M, E, K, I, S, W> Drop for Held<'_, M, E, K, I, S, W>
where
    M: Manager,
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    fn drop(&mut self) {
        // Reached only when user code unwinds with the slot held: every normal path ends a
        // `Held` with `keep`, `into_parts` or `close`.
        Held {
            pool: self.pool,
            idx: self.idx,
            entry: self.entry,
        }
        .close(CloseReason::Invalidated(
            crate::events::InvalidateReason::Panicked,
        ));
    }
}

/// Boxes an overflow entry and gives its pointer.
#[cfg(feature = "alloc")]
#[inline(never)]
fn box_entry<C, I>(entry: Entry<C, I>) -> core::ptr::NonNull<Entry<C, I>> {
    let raw = alloc::boxed::Box::into_raw(alloc::boxed::Box::new(entry));
    // SAFETY: `Box::into_raw` never returns null.
    unsafe { core::ptr::NonNull::new_unchecked(raw) }
}

#[cfg(not(feature = "alloc"))]
fn box_entry<C, I>(_entry: Entry<C, I>) -> core::ptr::NonNull<Entry<C, I>> {
    unreachable!("only a heap pool with unlimited overflow makes overflow entries")
}

/// Frees an overflow entry's box and gives its entry.
///
/// # Safety
///
/// `ptr` came from [`box_entry`], the caller owns the box, and nobody uses `ptr` again.
#[cfg(feature = "alloc")]
pub(super) unsafe fn unbox_entry<C, I>(ptr: core::ptr::NonNull<Entry<C, I>>) -> Entry<C, I> {
    // SAFETY: the caller's contract: `ptr` is a `Box`'s, owned and used no more.
    *unsafe { alloc::boxed::Box::from_raw(ptr.as_ptr()) }
}

#[cfg(not(feature = "alloc"))]
pub(super) unsafe fn unbox_entry<C, I>(_ptr: core::ptr::NonNull<Entry<C, I>>) -> Entry<C, I> {
    unreachable!("only a heap pool with unlimited overflow makes overflow entries")
}

/// Owns a connection on its way out: dropping it calls `Manager::close`, on the normal path
/// and also when the close event before it unwinds, so a panicking hook cannot leak it.
pub(super) struct Closing<'m, M: Manager> {
    pub(super) manager: &'m M,
    pub(super) conn: Option<M::Connection>,
}

impl<M: Manager> Drop for Closing<'_, M> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.manager.close(conn);
        }
    }
}

/// Marks the first-connect hook as finished when dropped (also when it unwinds), or
/// frees the claim if the connection never opened.
pub(super) struct FirstConnect<'a, M: Manager, E, K, I, S: Storage<M::Connection, I>, W: Waiters> {
    pub(super) pool: &'a RawPool<M, E, K, I, S, W>,
    pub(super) done: bool,
}

impl<M: Manager, E, K, I, S: Storage<M::Connection, I>, W: Waiters> Drop
    for FirstConnect<'_, M, E, K, I, S, W>
{
    fn drop(&mut self) {
        let state = if self.done { FIRST_DONE } else { FIRST_PENDING };
        self.pool.first.store(state, Ordering::SeqCst);
        // Whoever got `WouldBlock` because the first connect was running may try again.
        self.pool.waiters.released();
    }
}
