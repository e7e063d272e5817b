//! The return path: reset (the reset event, the manager's reset, the checkin event), then
//! back to the idle set, or closed with the reason the pool does not keep it (stale,
//! soft-invalidated, the idle set full, a pool that keeps nothing). Also the other ways a
//! guard ends or changes: invalidation, soft invalidation, detach, and the in-place checkin
//! of [`CheckedIn`](crate::CheckedIn).

use core::time::Duration;

use crate::clock::Clock;
use crate::events::{CloseReason, Events, InvalidateReason};
use crate::manager::{Manager, ResetMode};
use crate::slot::SlotRef;
use crate::storage::Storage;
use crate::sync::Ordering;
use crate::waiters::Waiters;

use super::held::{Held, OVERFLOW};
use super::{OwnedEntry, RawPool};

impl<M, E, K, I, S, W> RawPool<M, E, K, I, S, W>
where
    M: Manager,
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    /// The checkin path (guard drop): reset, checkin event, then idle set or close.
    ///
    /// Returns the reset error if the reset failed (the connection was invalidated).
    ///
    /// This is the inline fast path, for the common case: the reset succeeds (or there is
    /// none), the connection is current (its epoch is the pool's and it is not
    /// soft-invalidated), it is in a slot, and the idle set has room. Each other case leaves
    /// it for a cold, out-of-line function (`reset_failed`, `discard`, `settle_overflow`,
    /// `sweep_stale`).
    ///
    /// # Safety
    ///
    /// As for [`owned_entry`](Self::owned_entry): the caller owns the slot `slot` refers to,
    /// which holds a connection. The caller gives the slot up to this call: it never touches
    /// it again.
    #[inline(always)]
    pub(crate) unsafe fn checkin(
        &self,
        slot: SlotRef<M::Connection, I>,
        limit: Option<Duration>,
    ) -> Result<(), M::Error> {
        // SAFETY: the caller's contract is `Held::owned`'s.
        let mut held = unsafe { Held::owned(self, slot) };
        if let Err(e) = self.reset_entry(&mut held, limit) {
            return Err(self.reset_failed(held, e));
        }
        self.put_back(held);
        Ok(())
    }

    /// The reset event, the manager's reset (within `limit`) unless the mode is
    /// [`ResetMode::None`], then the checkin event.
    #[inline(always)]
    fn reset_entry(
        &self,
        held: &mut Held<'_, M, E, K, I, S, W>,
        limit: Option<Duration>,
    ) -> Result<(), M::Error> {
        let mode = self.settings.reset;
        let entry = held.entry();
        self.events.reset(&mut entry.conn, mode);
        if mode != ResetMode::None {
            self.manager.reset_within(&mut entry.conn, mode, limit)?;
        }
        self.events.checkin(&mut entry.conn);
        Ok(())
    }

    /// A connection that was reset and checked in goes back to the idle set, or is closed.
    #[inline(always)]
    fn put_back(&self, mut held: Held<'_, M, E, K, I, S, W>) {
        let entry = held.entry();
        let epoch = entry.epoch;
        if entry.soft || epoch != self.epoch.load(Ordering::SeqCst) {
            self.discard(held); // stale: close instead of keeping
            return;
        }
        if held.idx == OVERFLOW {
            return self.settle_overflow(held, epoch);
        }
        self.park(held, epoch);
    }

    /// Pushes a held slot on the idle set, or closes its connection if the set is full.
    #[inline(always)]
    fn park(&self, held: Held<'_, M, E, K, I, S, W>, epoch: usize) {
        let (idx, ptr) = held.keep();
        match self.storage.idle_push(idx) {
            Ok(()) => {
                // A `dispose` (or `invalidate_all`) may have run between the epoch check before
                // and the push, and `dispose` may have emptied the idle queue before the push
                // landed. Both the bump and the push are `SeqCst`, so if that happened this
                // load sees the new epoch: sweep the stale connection out now rather than leave
                // it idle until its next checkout.
                crate::sync::seqcst_for_loom();
                if self.epoch.load(Ordering::SeqCst) != epoch {
                    self.sweep_stale();
                }
                self.waiters.released()
            }
            // The pool already keeps as many idle as it may: close this one (overflow
            // shrinks).
            // SAFETY: the push failed and gave `idx` back, so this thread still owns the slot
            // and its connection, and `ptr` is the pointer `held` kept for it.
            Err(idx) => self.discard(unsafe { Held::resume(self, idx, ptr) }),
        }
    }

    /// An overflow entry came back: into the idle set if it has room
    /// (`QueuePool._do_return_conn`), else closed.
    #[cold]
    #[inline(never)]
    fn settle_overflow(&self, held: Held<'_, M, E, K, I, S, W>, epoch: usize) {
        let (_, ptr) = held.keep();
        match self.storage.boxed_push(ptr) {
            Ok(()) => {
                // As in `park`: a `dispose` that raced the push is seen here.
                crate::sync::seqcst_for_loom();
                if self.epoch.load(Ordering::SeqCst) != epoch {
                    self.sweep_stale();
                }
                self.waiters.released()
            }
            // SAFETY: the push failed and gave the pointer back, so this thread still owns
            // the overflow entry, which `ptr` points to.
            Err(ptr) => self.discard(unsafe { Held::resume(self, OVERFLOW, ptr) }),
        }
    }

    /// The reset on return failed: invalidate the connection, close it and give its slot and
    /// capacity back (the checkin path, out of line). Returns the reset error.
    #[cold]
    #[inline(never)]
    fn reset_failed(&self, mut held: Held<'_, M, E, K, I, S, W>, e: M::Error) -> M::Error {
        let reason = InvalidateReason::ResetFailed;
        self.events.invalidate(&mut held.entry().conn, reason);
        held.close(CloseReason::Invalidated(reason)); // also if the event unwinds
        e
    }

    /// Closes a returned connection the pool does not keep (stale, soft-invalidated, the idle
    /// set full, or a pool that keeps nothing) and gives its slot and capacity back (the
    /// checkin path, out of line).
    #[cold]
    #[inline(never)]
    fn discard(&self, mut held: Held<'_, M, E, K, I, S, W>) {
        let entry = held.entry();
        let reason = if entry.soft || entry.epoch != self.epoch.load(Ordering::SeqCst) {
            self.stale_reason(entry)
        } else if self.settings.retain == crate::Retain::Nothing {
            CloseReason::RetainNone
        } else {
            CloseReason::IdleFull
        };
        held.close(reason);
    }

    /// Closes the stale connections among those idle now; fresh ones go back to the queue.
    #[cold]
    #[inline(never)]
    fn sweep_stale(&self) {
        // Under the affinity order each pop starts after the slot looked at last, so a fresh
        // connection parked again is not found again at once.
        let mut next = 0;
        for _ in 0..self.storage.idle_len() {
            let Some(idx) = self.storage.idle_pop(next) else {
                return;
            };
            next = idx + 1;
            // SAFETY: the index was popped from the idle queue: this thread owns slot `idx`,
            // and idle slots hold a connection.
            let mut held = unsafe { Held::popped(self, idx) };
            if held.entry().epoch != self.epoch.load(Ordering::SeqCst) {
                held.close(CloseReason::PoolInvalidated);
                continue;
            }
            let (idx, ptr) = held.keep();
            if let Err(idx) = self.storage.idle_push(idx) {
                // SAFETY: the push failed and gave `idx` back, so this thread still owns the
                // slot and its connection, and `ptr` is the pointer `held` kept for it.
                unsafe { Held::resume(self, idx, ptr) }.close(CloseReason::IdleFull);
            }
        }
        for _ in 0..self.storage.boxed_len() {
            let Some(ptr) = self.storage.boxed_pop() else {
                return;
            };
            // SAFETY: popped from the idle set of overflow entries: this thread owns it.
            let mut held = unsafe { Held::popped_boxed(self, ptr) };
            if held.entry().epoch != self.epoch.load(Ordering::SeqCst) {
                held.close(CloseReason::PoolInvalidated);
                continue;
            }
            let (_, ptr) = held.keep();
            if let Err(ptr) = self.storage.boxed_push(ptr) {
                // SAFETY: the push failed and gave the pointer back: this thread owns it.
                unsafe { Held::resume(self, OVERFLOW, ptr) }.close(CloseReason::IdleFull);
            }
        }
    }

    /// The in-place checkin: reset and checkin event as on return, but the caller keeps the
    /// slot. On a failed reset the connection is invalidated and closed, the slot and its
    /// capacity given back, and the error returned: the caller no longer owns the slot.
    ///
    /// # Safety
    ///
    /// As for [`checkin`](Self::checkin); on `Ok` the caller owns the slot again.
    pub(crate) unsafe fn checkin_in_place(
        &self,
        slot: SlotRef<M::Connection, I>,
        limit: Option<Duration>,
    ) -> Result<(), M::Error> {
        // SAFETY: the caller's contract is `Held::owned`'s.
        let mut held = unsafe { Held::owned(self, slot) };
        if let Err(e) = self.reset_entry(&mut held, limit) {
            return Err(self.reset_failed(held, e));
        }
        let _: (u32, OwnedEntry<M, I>) = held.keep();
        Ok(())
    }

    /// A connection checked in in place comes back to the pool: to the idle set, or closed,
    /// as on return, with no second reset.
    ///
    /// # Safety
    ///
    /// As for [`checkin`](Self::checkin).
    pub(crate) unsafe fn return_kept(&self, slot: SlotRef<M::Connection, I>) {
        // SAFETY: the caller's contract is `Held::owned`'s.
        let held = unsafe { Held::owned(self, slot) };
        self.put_back(held);
    }

    /// Closes a checked-out connection as broken.
    ///
    /// # Safety
    ///
    /// As for [`checkin`](Self::checkin): the caller owns the slot `slot` refers to and gives
    /// it up to this call.
    pub(crate) unsafe fn invalidate_slot(
        &self,
        slot: SlotRef<M::Connection, I>,
        reason: InvalidateReason,
    ) {
        // SAFETY: the caller's contract is `Held::owned`'s.
        let mut held = unsafe { Held::owned(self, slot) };
        self.events.invalidate(&mut held.entry().conn, reason);
        held.close(CloseReason::Invalidated(reason));
    }

    /// Marks a checked-out connection soft-invalidated. The caller keeps the slot: no drop
    /// guard here, if the event unwinds the caller (a guard) still checks the connection in.
    ///
    /// # Safety
    ///
    /// As for [`owned_entry`](Self::owned_entry): the caller owns the slot `slot` refers to;
    /// and no reference to its entry is alive during this call (a guard calls this with
    /// `&mut` to itself).
    pub(crate) unsafe fn soft_invalidate_slot(&self, slot: SlotRef<M::Connection, I>) {
        // SAFETY: the caller owns the slot and holds no other reference to its entry, so
        // this `&mut` is the only reference to it for this call; `owned_entry` gives a
        // pointer to it that is valid now (its contract is this function's).
        let entry = unsafe { &mut *self.owned_entry(slot).as_ptr() };
        if !entry.soft {
            entry.soft = true;
            self.events.soft_invalidate(&mut entry.conn);
        }
    }

    /// Lets a checked-out connection leave the pool for good.
    ///
    /// # Safety
    ///
    /// As for [`checkin`](Self::checkin): the caller owns the slot `slot` refers to and gives
    /// it up to this call.
    pub(crate) unsafe fn detach_slot(&self, slot: SlotRef<M::Connection, I>) -> M::Connection {
        // SAFETY: the caller's contract is `Held::owned`'s.
        let mut held = unsafe { Held::owned(self, slot) };
        self.events.detach(&mut held.entry().conn);
        let (res, entry) = held.into_parts();
        drop(res);
        entry.conn
    }
}
