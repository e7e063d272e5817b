//! The checkout path: take an idle connection (replacing it if it is stale, soft-invalidated,
//! too old, or fails its pre-ping) or open one if there is capacity, then run the checkout
//! hook, which may reject a connection twice.
//!
//! Every manager call gets the time the caller's [`Deadline`] has left, asked just before it.

use crate::clock::Clock;
use crate::deadline::Deadline;
use crate::error::CheckoutError;
use crate::events::{CheckoutEvent, CloseReason, Disconnected, Events, InvalidateReason};
use crate::manager::Manager;
use crate::slot::Storage;
use crate::slot::{self, Entry, Vacant};
use crate::sync::{Ordering, SeqCst, SeqCstInt};
use crate::waiters::Waiters;

use super::held::{FirstConnect, Held, Reserved, OVERFLOW};
use super::{RawPool, Token, FIRST_DONE, FIRST_PENDING, FIRST_RUNNING};

/// What a checkout hands its caller: the slot index (or `OVERFLOW`) and its token.
type Lent<M, I> = (u32, Token<M, I>);

impl<M, E, K, I, S, W> RawPool<M, E, K, I, S, W>
where
    M: Manager,
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    /// The checkout path: returns the index of a slot whose connection is ready to hand out.
    ///
    /// The common case (an idle connection that needs no replacing and no ping) stays small
    /// enough to inline into the caller; everything else is out of line.
    #[inline(always)]
    pub(super) fn acquire<D: Deadline>(
        &self,
        hint: u32,
        deadline: &D,
    ) -> Result<Lent<M, I>, CheckoutError<M::Error>> {
        if let Some((idx, token)) = slot::take_idle(&self.storage, hint) {
            let mut held = Held::new(self, idx, token);
            let entry = held.entry();
            let stale = entry.soft
                || entry.epoch != self.epoch.load(Ordering::Acquire)
                || self.too_old(entry.born);
            if !stale && !self.settings.pre_ping {
                // `hand_out`, written out here: passing `held` to it by value copies the
                // drop guard through the stack (it lives in memory, as unwinding may drop
                // it), and that copy, read back wider than it was written, stalls the
                // store-to-load forwarding on every checkout.
                let event = CheckoutEvent {
                    fresh: false,
                    attempt: 0,
                };
                return match self.events.checkout(&mut held.entry().conn, &event) {
                    Ok(()) => Ok((idx, held.keep())),
                    Err(Disconnected) => self.hand_out_again(held, deadline),
                };
            }
            return self.prepare_idle(held, stale, deadline);
        }
        self.acquire_new(deadline)
    }

    /// Checks out again a connection its holder kept after an in-place checkin
    /// ([`CheckedIn`](crate::CheckedIn)): as for an idle one, it is replaced if stale, pinged
    /// if pre-ping is on, and the checkout hook runs.
    ///
    /// The token is this pool's (the caller got it from this pool); on success the result
    /// is the token of the slot, perhaps with a new connection in it.
    pub(crate) fn checkout_kept<D: Deadline>(
        &self,
        token: Token<M, I>,
        deadline: &D,
    ) -> Result<Token<M, I>, CheckoutError<M::Error>> {
        let held = Held::owned(self, token);
        let (_, token) = self.lend_idle(held, deadline)?;
        Ok(token)
    }

    /// Lends a connection that was idle (or kept by its holder): replaced if stale, pinged
    /// if pre-ping is on, then the checkout hook. The out-of-line twin of `acquire`'s fast
    /// path.
    #[inline(never)]
    fn lend_idle<'a, D: Deadline>(
        &'a self,
        mut held: Held<'a, M, E, K, I, S, W>,
        deadline: &D,
    ) -> Result<Lent<M, I>, CheckoutError<M::Error>> {
        let entry = held.entry();
        let stale = entry.soft
            || entry.epoch != self.epoch.load(Ordering::Acquire)
            || self.too_old(entry.born);
        if stale || self.settings.pre_ping {
            self.prepare_idle(held, stale, deadline)
        } else {
            self.hand_out(held, false, deadline)
        }
    }

    /// No idle connection in a slot: with unlimited overflow, take an idle overflow entry;
    /// else open a connection if there is capacity.
    #[inline(never)]
    fn acquire_new<D: Deadline>(
        &self,
        deadline: &D,
    ) -> Result<Lent<M, I>, CheckoutError<M::Error>> {
        let unlimited = self.unlimited();
        if unlimited {
            if let Some(token) = slot::take_boxed(&self.storage) {
                let held = Held::new(self, OVERFLOW, token);
                return self.lend_idle(held, deadline);
            }
        }
        // Claim the first connect (if it is still to come) before reserving capacity: while
        // another thread runs it, report WouldBlock without touching the capacity, so that
        // waiters are not woken round and round by reservations given back.
        let first = self.claim_first()?;
        if !self.reserve() {
            return Err(CheckoutError::WouldBlock);
        }
        // Unlimited overflow: every connection lives in an overflow entry of its own.
        let free = if unlimited {
            Some(Vacant::overflow())
        } else {
            slot::take_free(&self.storage)
        };
        let vacant = match free {
            Some(vacant) => vacant,
            None => {
                // Unreachable by the accounting (module docs); give the unit back and report
                // "no capacity" rather than failing harder.
                debug_assert!(false, "a reservation found no free slot");
                self.overflow.fetch_sub_sc(1);
                return Err(CheckoutError::WouldBlock);
            }
        };
        let held = self.open(Reserved::new(self, vacant), first, deadline)?;
        self.hand_out(held, true, deadline)
    }

    /// Claims the pool's first connect, if it has not happened yet.
    ///
    /// `Ok(None)`: it is done; `Ok(Some(_))`: this thread runs it; `Err(WouldBlock)`: another
    /// thread is running it (it calls `released` when done).
    #[inline]
    fn claim_first(
        &self,
    ) -> Result<Option<FirstConnect<'_, M, E, K, I, S, W>>, CheckoutError<M::Error>> {
        if self.first.load_sc() == FIRST_DONE {
            return Ok(None);
        }
        match self.first.cas_sc(FIRST_PENDING, FIRST_RUNNING) {
            Ok(_) => Ok(Some(FirstConnect {
                pool: self,
                done: false,
            })),
            Err(FIRST_DONE) => Ok(None),
            Err(_) => Err(CheckoutError::WouldBlock),
        }
    }

    /// Why a connection is replaced at checkout (or closed at checkin) as stale.
    pub(super) fn stale_reason(&self, entry: &Entry<M::Connection, I>) -> CloseReason {
        if entry.soft {
            CloseReason::SoftInvalidated
        } else if entry.epoch != self.epoch.load_sc() {
            CloseReason::PoolInvalidated
        } else {
            CloseReason::Recycled
        }
    }

    /// An idle connection that is stale (`replace`) or must be pinged first: replace it if
    /// stale, ping it otherwise, then hand it out.
    ///
    /// A ping that fails with an error the manager does not call a disconnect invalidates the
    /// connection and reaches the caller ([`CheckoutError::Ping`]), as the reference's
    /// `do_ping` re-raises it. A disconnect invalidates the connection's generation (the
    /// generation rule: it is current, being pinged, so every connection opened so far is
    /// replaced as it comes out) and the connection is replaced without the caller seeing it.
    #[inline(never)]
    fn prepare_idle<'a, D: Deadline>(
        &'a self,
        mut held: Held<'a, M, E, K, I, S, W>,
        replace: bool,
        deadline: &D,
    ) -> Result<Lent<M, I>, CheckoutError<M::Error>> {
        if replace {
            let reason = self.stale_reason(held.entry());
            let fresh = self.reopen(held, reason, deadline)?;
            return self.hand_out(fresh, true, deadline);
        }
        let limit = deadline.remaining();
        let Err(e) = self.manager.ping_within(&mut held.entry().conn, limit) else {
            return self.hand_out(held, false, deadline);
        };
        let disconnect = self.manager.is_disconnect(&e);
        if disconnect {
            // The server went away: connections as old as this one are suspect.
            self.invalidate_generation(held.entry().epoch);
        }
        self.events
            .invalidate(&mut held.entry().conn, InvalidateReason::PingFailed);
        let reason = CloseReason::Invalidated(InvalidateReason::PingFailed);
        if !disconnect {
            held.close(reason); // and gives the slot and its capacity back
            return Err(CheckoutError::Ping(e));
        }
        let fresh = self.reopen(held, reason, deadline)?;
        self.hand_out(fresh, true, deadline)
    }

    #[inline]
    fn too_old(&self, born: u64) -> bool {
        match self.settings.recycle {
            Some(age) if K::TELLS_TIME => self.clock.now().saturating_sub(born) > age,
            _ => false,
        }
    }

    /// Runs the checkout hook (replacing a connection it rejects, at most twice), then
    /// disarms the drop guard.
    #[inline(always)]
    fn hand_out<'a, D: Deadline>(
        &'a self,
        mut held: Held<'a, M, E, K, I, S, W>,
        fresh: bool,
        deadline: &D,
    ) -> Result<Lent<M, I>, CheckoutError<M::Error>> {
        let event = CheckoutEvent { fresh, attempt: 0 };
        match self.events.checkout(&mut held.entry().conn, &event) {
            Ok(()) => Ok((held.idx, held.keep())),
            Err(Disconnected) => self.hand_out_again(held, deadline),
        }
    }

    /// The checkout hook rejected the connection: replace it once and ask again.
    #[cold]
    #[inline(never)]
    fn hand_out_again<'a, D: Deadline>(
        &'a self,
        mut held: Held<'a, M, E, K, I, S, W>,
        deadline: &D,
    ) -> Result<Lent<M, I>, CheckoutError<M::Error>> {
        let rejected = CloseReason::Invalidated(InvalidateReason::Disconnected);
        self.events
            .invalidate(&mut held.entry().conn, InvalidateReason::Disconnected);
        let mut held = self.reopen(held, rejected, deadline)?;
        let event = CheckoutEvent {
            fresh: true,
            attempt: 1,
        };
        match self.events.checkout(&mut held.entry().conn, &event) {
            Ok(()) => Ok((held.idx, held.keep())),
            Err(Disconnected) => {
                self.events
                    .invalidate(&mut held.entry().conn, InvalidateReason::Disconnected);
                held.close(rejected); // and gives the slot back
                Err(CheckoutError::Disconnected)
            }
        }
    }

    /// Closes the held connection (with `reason`) and opens a new one in the same slot.
    fn reopen<'a, D: Deadline>(
        &'a self,
        held: Held<'a, M, E, K, I, S, W>,
        reason: CloseReason,
        deadline: &D,
    ) -> Result<Held<'a, M, E, K, I, S, W>, CheckoutError<M::Error>> {
        let (res, entry) = held.into_parts();
        self.close_entry(entry, reason); // if this unwinds, `res` gives the slot back
                                         // A connection existed, so the first connect is done: no claim needed.
        self.open(res, None, deadline)
    }

    /// Opens a connection into a reserved slot, running the first-connect and connect hooks.
    fn open<'a, D: Deadline>(
        &'a self,
        res: Reserved<'a, M, E, K, I, S, W>,
        first: Option<FirstConnect<'a, M, E, K, I, S, W>>,
        deadline: &D,
    ) -> Result<Held<'a, M, E, K, I, S, W>, CheckoutError<M::Error>> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let born = if self.settings.recycle.is_some() && K::TELLS_TIME {
            self.clock.now()
        } else {
            0
        };
        let conn = self
            .manager
            .connect_within(deadline.remaining())
            .map_err(CheckoutError::Connect)?;
        let entry = Entry {
            conn,
            info: I::default(),
            epoch,
            born,
            soft: false,
        };
        let mut held = res.fill(entry);
        if let Some(mut first) = first {
            first.done = true; // set before the hook: it runs once even if it panics
            self.events.first_connect(&mut held.entry().conn);
            drop(first);
        }
        self.events.connect(&mut held.entry().conn);
        Ok(held)
    }
}
