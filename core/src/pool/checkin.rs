//! The return path: reset (the reset event, the manager's reset, the checkin event), then
//! back to the idle set, or closed with the reason the pool does not keep it (stale,
//! soft-invalidated, the idle set full, a pool that keeps nothing). Also the other ways a
//! guard ends or changes: invalidation, soft invalidation, detach, and the in-place checkin
//! of [`CheckedIn`](crate::CheckedIn).

use core::time::Duration;

use crate::clock::Clock;
use crate::events::{CloseReason, Events, InvalidateReason};
use crate::manager::{Manager, ResetMode};
use crate::slot;
use crate::slot::Storage;
use crate::sync::SeqCst;
use crate::waiters::Waiters;

use super::held::{Closing, Held, OVERFLOW};
use super::{RawPool, Token};

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
    /// `token` is this pool's (every token the pool's functions take is: a guard keeps its
    /// token with a pointer that always leads to the pool it came from).
    #[inline(always)]
    pub(crate) fn checkin(
        &self,
        token: Token<M, I>,
        limit: Option<Duration>,
    ) -> Result<(), M::Error> {
        let mut held = Held::owned(self, token);
        if let Err(e) = self.reset_entry(&mut held, limit) {
            return Err(self.reset_failed(held.keep(), e));
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
        if self.manager.has_broken(&mut held.entry().conn) {
            return self.broken(held.keep());
        }
        let entry = held.entry();
        let epoch = entry.epoch;
        let stale = entry.soft || epoch != self.epoch.load_sc();
        // No user code runs from here on: the token alone is enough (the cold paths take
        // only it, which keeps this inline path small).
        let token = held.keep();
        if stale {
            return self.discard(token); // close instead of keeping
        }
        self.park(token, epoch);
    }

    /// Pushes a held slot on the idle set, or closes its connection if the set is full.
    #[inline(always)]
    fn park(&self, token: Token<M, I>, epoch: usize) {
        match slot::put_idle(&self.storage, token) {
            Ok(()) => {
                // A `dispose` (or `invalidate_all`) may have run between the epoch check before
                // and the push, and `dispose` may have emptied the idle queue before the push
                // landed. Both the bump and the push are `SeqCst`, so if that happened this
                // load sees the new epoch: sweep the stale connection out now rather than leave
                // it idle until its next checkout.
                if self.epoch.load_sc() != epoch {
                    self.sweep_stale();
                }
                self.waiters.released()
            }
            // An overflow entry (unlimited overflow: every connection is one) has its own
            // idle set; otherwise the pool already keeps as many idle as it may: close this
            // one (overflow shrinks).
            Err(token) if self.unlimited() => self.settle_overflow(token, epoch),
            Err(token) => self.discard(token),
        }
    }

    /// An overflow entry came back: into the idle set if it has room
    /// (`QueuePool._do_return_conn`), else closed.
    #[cold]
    #[inline(never)]
    fn settle_overflow(&self, token: Token<M, I>, epoch: usize) {
        match slot::put_boxed(&self.storage, token) {
            Ok(()) => {
                // As in `park`: a `dispose` that raced the push is seen here.
                if self.epoch.load_sc() != epoch {
                    self.sweep_stale();
                }
                self.waiters.released()
            }
            Err(token) => self.discard(token),
        }
    }

    /// The reset on return failed: invalidate the connection, check it in (the checkin
    /// event, as the reference's `_finalize_fairy` runs `checkin()` whether or not the
    /// connection was invalidated), close it and give its slot and capacity back (the
    /// checkin path, out of line). Returns the reset error.
    #[cold]
    #[inline(never)]
    fn reset_failed(&self, token: Token<M, I>, e: M::Error) -> M::Error {
        let mut held = Held::owned(self, token);
        if self.manager.is_disconnect(&e) {
            // The server went away: connections as old as this one are suspect.
            self.invalidate_generation(held.entry().epoch);
        }
        let reason = InvalidateReason::ResetFailed;
        self.events.invalidate(&mut held.entry().conn, reason);
        self.events.checkin(&mut held.entry().conn);
        held.close(CloseReason::Invalidated(reason)); // also if an event unwinds
        e
    }

    /// The manager found a returned (and checked-in) connection broken: invalidate it, close
    /// it and give its slot and capacity back (out of line).
    #[cold]
    #[inline(never)]
    fn broken(&self, token: Token<M, I>) {
        let mut held = Held::owned(self, token);
        let reason = InvalidateReason::Broken;
        self.events.invalidate(&mut held.entry().conn, reason);
        held.close(CloseReason::Invalidated(reason)); // also if the event unwinds
    }

    /// Closes a returned connection the pool does not keep (stale, soft-invalidated, the idle
    /// set full, or a pool that keeps nothing) and gives its slot and capacity back (the
    /// checkin path, out of line).
    #[cold]
    #[inline(never)]
    fn discard(&self, token: Token<M, I>) {
        let mut held = Held::owned(self, token);
        let entry = held.entry();
        let reason = if entry.soft || entry.epoch != self.epoch.load_sc() {
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
            let Some((idx, token)) = slot::take_idle(&self.storage, next) else {
                break;
            };
            next = idx + 1;
            let mut held = Held::new(self, idx, token);
            if held.entry().epoch != self.epoch.load_sc() {
                held.close(CloseReason::PoolInvalidated);
                continue;
            }
            if let Err(token) = slot::put_idle(&self.storage, held.keep()) {
                Held::new(self, idx, token).close(CloseReason::IdleFull);
            }
        }
        for _ in 0..self.storage.boxed_len() {
            let Some(token) = slot::take_boxed(&self.storage) else {
                return;
            };
            let mut held = Held::new(self, OVERFLOW, token);
            if held.entry().epoch != self.epoch.load_sc() {
                held.close(CloseReason::PoolInvalidated);
                continue;
            }
            if let Err(token) = slot::put_boxed(&self.storage, held.keep()) {
                Held::new(self, OVERFLOW, token).close(CloseReason::IdleFull);
            }
        }
    }

    /// The in-place checkin: reset and checkin event as on return, but the caller keeps the
    /// slot (its token comes back). On a failed reset the connection is invalidated and
    /// closed, the slot and its capacity given back, and the error returned.
    pub(crate) fn checkin_in_place(
        &self,
        token: Token<M, I>,
        limit: Option<Duration>,
    ) -> Result<Token<M, I>, M::Error> {
        let mut held = Held::owned(self, token);
        if let Err(e) = self.reset_entry(&mut held, limit) {
            return Err(self.reset_failed(held.keep(), e));
        }
        Ok(held.keep())
    }

    /// A connection checked in in place comes back to the pool: to the idle set, or closed,
    /// as on return, with no second reset.
    pub(crate) fn return_kept(&self, token: Token<M, I>) {
        self.put_back(Held::owned(self, token));
    }

    /// Closes a checked-out connection as broken: the invalidate event, then the checkin
    /// event (the guard's checkout ends here, as the reference's `_ConnectionFairy.invalidate`
    /// checks the record in), then the close.
    pub(crate) fn invalidate_slot(&self, token: Token<M, I>, reason: InvalidateReason) {
        let mut held = Held::owned(self, token);
        self.events.invalidate(&mut held.entry().conn, reason);
        self.events.checkin(&mut held.entry().conn);
        held.close(CloseReason::Invalidated(reason)); // also if an event unwinds
    }

    /// Invalidates the pool through a checked-out connection (the generation rule, then the
    /// connection itself, as [`invalidate_slot`](Self::invalidate_slot)).
    pub(crate) fn invalidate_pool_slot(&self, token: Token<M, I>) {
        self.invalidate_generation(token.entry(&self.storage).epoch);
        self.invalidate_slot(token, InvalidateReason::User)
    }

    /// Marks a checked-out connection soft-invalidated. The caller keeps the slot: no drop
    /// guard here, if the event unwinds the caller (a guard) still checks the connection in.
    pub(crate) fn soft_invalidate_slot(&self, token: &mut Token<M, I>) {
        let entry = token.entry_mut(&self.storage);
        if !entry.soft {
            entry.soft = true;
            self.events.soft_invalidate(&mut entry.conn);
        }
    }

    /// Lets a checked-out connection leave the pool for good.
    pub(crate) fn detach_slot(&self, token: Token<M, I>) -> M::Connection {
        let mut held = Held::owned(self, token);
        self.events.detach(&mut held.entry().conn);
        let (res, entry) = held.into_parts();
        drop(res);
        entry.conn
    }

    /// Closes every idle connection now (with [`CloseReason::Disposed`](crate::CloseReason)),
    /// and every checked-out one when it is returned.
    ///
    /// The pool stays usable: later checkouts open new connections. Nothing is lost: a
    /// connection that is out while the pool is disposed goes on working for its holder and
    /// is closed, exactly once, when its guard is dropped. A connection returned while
    /// `dispose` runs is closed by whichever of the two finishes last.
    pub fn dispose(&self) {
        self.invalidate_all();
        let mut hint = 0;
        while let Some((idx, token)) = slot::take_idle(&self.storage, hint) {
            hint = idx;
            Held::new(self, idx, token).close(crate::CloseReason::Disposed);
        }
        while let Some(token) = slot::take_boxed(&self.storage) {
            Held::new(self, OVERFLOW, token).close(crate::CloseReason::Disposed);
        }
    }

    /// Closes a connection that left the pool through [`Pooled::detach`](crate::Pooled::detach)
    /// as the reference closes a detached connection (`_finalize_fairy`): reset first (the
    /// `reset` event, then the manager's reset per the reset mode, within
    /// [`Settings::reset_limit`](crate::Settings::reset_limit)), then the `close_detached`
    /// event, then close. A failed reset changes nothing: the connection is closed next. A
    /// detached connection may also simply be closed by its owner.
    pub fn close_detached(&self, conn: M::Connection) {
        let mut closing = Closing {
            manager: &self.manager,
            conn: Some(conn),
        };
        if let Some(conn) = closing.conn.as_mut() {
            let mode = self.settings.reset;
            self.events.reset(conn, mode);
            if mode != ResetMode::None {
                let _ = self
                    .manager
                    .reset_within(conn, mode, self.settings.reset_limit);
            }
            self.events.close_detached(conn);
        }
    }
}
