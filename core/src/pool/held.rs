//! The drop guards that own a slot while the pool runs user code, and the capacity
//! accounting they keep right: [`Reserved`] (a unit of capacity and an empty slot),
//! [`Held`] (a slot with a connection in it), [`Closing`] and [`FirstConnect`].
//!
//! Each holds its slot's token (`slot.rs`): the proof that this thread owns the slot, and
//! the only way to touch its contents. An *overflow entry* (unlimited overflow, heap pools
//! only) has no slot index: its `Held` says [`OVERFLOW`], and giving its capacity back frees
//! it and pushes nothing on the free stack.

use crate::clock::Clock;
use crate::events::{CloseReason, Events};
use crate::manager::Manager;
use crate::slot::Storage;
use crate::slot::{self, Entry, Owned, Vacant};
use crate::sync::{SeqCst, SeqCstInt};
use crate::waiters::Waiters;

use super::{RawPool, FIRST_DONE, FIRST_PENDING};

pub(crate) use crate::slot::OVERFLOW;

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
            self.overflow.fetch_add_sc(1);
            return true;
        };
        let max = max as isize;
        let mut cur = self.overflow.load_sc();
        loop {
            if cur >= max {
                return false;
            }
            match self.overflow.cas_weak_sc(cur, cur + 1) {
                Ok(_) => return true,
                Err(seen) => cur = seen,
            }
        }
    }

    /// Gives an empty slot (or an overflow entry's place) and its unit of capacity back, and
    /// tells the waiters.
    #[inline]
    pub(super) fn release_slot(&self, vacant: Vacant) {
        slot::put_free(&self.storage, vacant);
        self.overflow.fetch_sub_sc(1);
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

/// A reserved unit of capacity and an empty slot (or, for an overflow entry, none yet) that
/// holds no connection. Dropping it gives both back.
pub(super) struct Reserved<'a, M: Manager, E, K, I, S, W>
where
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    pool: &'a RawPool<M, E, K, I, S, W>,
    /// `None` only once `fill` or `drop` took it.
    vacant: Option<Vacant>,
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
    /// Takes charge of an empty slot and the unit of capacity reserved for it.
    #[inline]
    pub(super) fn new(pool: &'a RawPool<M, E, K, I, S, W>, vacant: Vacant) -> Self {
        Reserved {
            pool,
            vacant: Some(vacant),
        }
    }

    /// Puts a new connection's entry into the slot (or into an overflow entry of its own).
    #[inline]
    pub(super) fn fill(mut self, entry: Entry<M::Connection, I>) -> Held<'a, M, E, K, I, S, W> {
        let Some(vacant) = self.vacant.take() else {
            unreachable!("a reservation is filled once")
        };
        let idx = vacant.index();
        let token = vacant.fill(&self.pool.storage, entry);
        Held::new(self.pool, idx, token)
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
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(vacant) = self.vacant.take() {
            self.pool.release_slot(vacant);
        }
    }
}

/// A slot (or overflow entry) with a connection in it, owned by the current thread through
/// its token. [`close`](Held::close) closes the connection (close event with its reason,
/// then the manager) and gives the slot and its capacity back; dropping it does the same
/// with [`CloseReason::Invalidated`]`(Panicked)`, which is only reached when user code
/// unwinds.
pub(super) struct Held<'a, M: Manager, E, K, I, S, W>
where
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    pub(super) pool: &'a RawPool<M, E, K, I, S, W>,
    /// The slot index, or [`OVERFLOW`] (also when not looked up: see `owned`). Only a hint
    /// for the caller's next checkout; nothing relies on it for ownership.
    pub(super) idx: u32,
    /// `None` only once `keep`, `into_parts` or `drop` took it.
    token: Option<Owned<M::Connection, I>>,
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
    /// Takes charge of slot `idx` (or [`OVERFLOW`]), whose token is `token`.
    #[inline(always)]
    pub(super) fn new(
        pool: &'a RawPool<M, E, K, I, S, W>,
        idx: u32,
        token: Owned<M::Connection, I>,
    ) -> Self {
        Held {
            pool,
            idx,
            token: Some(token),
        }
    }

    /// Takes charge of the slot a guard owned, from its token. The index is not looked up:
    /// the paths from a guard need none (`put_idle` finds it from the token itself).
    #[inline(always)]
    pub(super) fn owned(
        pool: &'a RawPool<M, E, K, I, S, W>,
        token: Owned<M::Connection, I>,
    ) -> Self {
        Held::new(pool, OVERFLOW, token)
    }

    /// The connection's entry, in its slot.
    #[inline(always)]
    pub(super) fn entry(&mut self) -> &mut Entry<M::Connection, I> {
        match &mut self.token {
            Some(token) => token.entry_mut(&self.pool.storage),
            None => no_token(),
        }
    }

    /// Keeps the slot (and the connection in it) for the caller: its token.
    #[inline(always)]
    pub(super) fn keep(mut self) -> Owned<M::Connection, I> {
        match self.token.take() {
            Some(token) => token,
            None => no_token(),
        }
    }

    /// Takes the entry out, leaving a reserved, empty slot (for an overflow entry: it is
    /// freed, and the reservation holds the unit of capacity alone).
    #[inline]
    pub(super) fn into_parts(self) -> (Reserved<'a, M, E, K, I, S, W>, Entry<M::Connection, I>) {
        let pool = self.pool;
        let (vacant, entry) = self.keep().take(&pool.storage);
        (Reserved::new(pool, vacant), entry)
    }

    /// Closes the connection with `reason` (close event, then the manager) and gives the slot
    /// and its capacity back, also if the event unwinds.
    #[inline]
    pub(super) fn close(self, reason: CloseReason) {
        let (res, entry) = self.into_parts();
        res.pool.close_entry(entry, reason); // if this unwinds, `res` still gives the slot back
        drop(res);
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
    #[inline(always)]
    fn drop(&mut self) {
        // Reached with the token only when user code unwinds with the slot held: every
        // normal path ends a `Held` with `keep`, `into_parts` or `close`, so on those paths
        // this inlines to nothing.
        if let Some(token) = self.token.take() {
            unwound(self.pool, self.idx, token);
        }
    }
}

/// A live `Held` always has its token (only `keep`, which consumes it, and `drop` take it).
#[cold]
#[inline(never)]
fn no_token() -> ! {
    unreachable!("a live `Held` has its token")
}

/// Closes the connection of a `Held` dropped while user code unwinds.
#[cold]
#[inline(never)]
fn unwound<M, E, K, I, S, W>(
    pool: &RawPool<M, E, K, I, S, W>,
    idx: u32,
    token: Owned<M::Connection, I>,
) where
    M: Manager,
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    let reason = CloseReason::Invalidated(crate::events::InvalidateReason::Panicked);
    Held::new(pool, idx, token).close(reason);
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
        self.pool.first.store_sc(state);
        // Whoever got `WouldBlock` because the first connect was running may try again.
        self.pool.waiters.released();
    }
}
