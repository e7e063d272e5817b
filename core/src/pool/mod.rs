//! [`RawPool`]: the one implementation of a connection's life cycle (open, check out, return,
//! reset, hard / soft / pool-wide invalidation, detach, recycle, close), shared by the heap
//! [`Pool`](crate::Pool) and the allocation-free [`FixedPool`].
//!
//! - `mod.rs` (this file): the pool, its constructors and its public operations;
//! - `checkout.rs`: taking an idle connection or opening one, and the checkout hook;
//! - `checkin.rs`: reset on return, and back to the idle set or closed (with its reason);
//! - `held.rs`: the drop guards that own a slot while user code runs, and the accounting.
//!
//! # Accounting
//!
//! `overflow` is the reference pool's `_overflow`: it starts at `-pool_size` and counts every
//! connection that owns a unit of capacity (open, or being opened) on top of that. Opening
//! reserves one unit first (a compare-and-swap loop bounded by `max_overflow`, so at most
//! `pool_size + max_overflow` connections ever exist); closing, detaching or a failed connect
//! gives it back. Because a slot is pushed onto the free stack *before* its unit is given back
//! (`Release`), a thread whose bounded reservation succeeds (`Acquire`) always finds a free
//! slot.
//!
//! With unlimited overflow (heap pools only) the reservation always succeeds, and every
//! connection lives in an entry of its own on the heap (an *overflow entry*, `held.rs`),
//! allocated when it opens and freed when it closes; its guard keeps the entry's address,
//! which lies outside the slot array (that is how a return tells it apart: `OVERFLOW`).
//! Its idle set is a bounded FIFO queue of such entries, so a return is closed only when
//! `pool_size` are idle already, as the reference's `QueuePool._do_return_conn`; the life
//! cycle (reset, events, first connect, invalidation, detach, close) is the same code.
//!
//! # Idle bound
//!
//! At most `pool_size` connections are idle; `pool_size` 0 means no limit (the reference's
//! `Queue(maxsize=0)`): every slot may be idle (with unlimited overflow,
//! [`UNBOUNDED_IDLE_CAP`](crate::UNBOUNDED_IDLE_CAP) entries). [`Retain::Nothing`](crate::Retain)
//! makes the bound 0: every return is closed.
//!
//! # Generations
//!
//! `epoch` is bumped by [`RawPool::invalidate_all`] and [`RawPool::dispose`]. Every entry
//! records the epoch read just before its connection was opened; an entry from an older epoch
//! is replaced at checkout and closed at checkin. That makes pool-wide invalidation O(1).
//! Guards are affine values that keep their slot private, so a stale guard (detached,
//! disposed, returned twice) cannot exist: the type system does the job a per-slot
//! generation counter would do at run time (ARCHITECTURE.md says more).
//!
//! # Telling an adapter that capacity came back
//!
//! Every change that makes a checkout possible is a `SeqCst` write followed by a call to
//! [`Waiters::released`]; the argument that no wake-up is lost is in `waiters.rs`.
//!
//! # Panic safety
//!
//! Whenever user code runs (the manager or a hook), the connection and the slot are owned by
//! a drop guard (`Held` / `Reserved`): if that code unwinds, the connection is closed and
//! the slot and its capacity are given back, so every count stays right.

mod any;
mod checkin;
mod checkout;
mod held;

use core::marker::PhantomData;
use core::ops::Deref;

use crate::clock::{Clock, NoClock};
use crate::deadline::{Deadline, NoDeadline};
use crate::error::CheckoutError;
use crate::events::{Events, NopEvents};
use crate::guard::{PoolPtr, Pooled};
use crate::manager::Manager;
use crate::settings::{Retain, Settings};
use crate::slot::Storage;
use crate::slot::{self, Entry, Owned};
use crate::state::State;
use crate::storage::{ArrayStorage, Hint};
use crate::sync::{AtomicIsize, AtomicU8, AtomicUsize, Ordering, SeqCst, SeqCstInt};
use crate::waiters::{NoWaiters, Waiters};

/// The engine of every tarn pool, generic over where it keeps its slots.
///
/// Use it through [`Pool`](crate::Pool) (heap, built by [`Builder`](crate::Builder)) or
/// [`FixedPool`] (inline, `const`-constructible, no allocator).
///
/// `M` opens and closes connections, `E` listens to events, `K` tells time for recycling,
/// `I` is the typed per-connection info ([`Pooled::info`]), `S` holds the slots and `W` is
/// told when capacity comes back ([`Waiters`], the adapter's wait queue).
pub struct RawPool<M: Manager, E, K, I, S: Storage<M::Connection, I>, W = NoWaiters> {
    manager: M,
    events: E,
    clock: K,
    waiters: W,
    settings: Settings,
    storage: S,
    /// `open connections (and reservations) - pool_size`; see the module docs.
    overflow: AtomicIsize,
    /// Bumped by `invalidate_all` / `dispose`.
    epoch: AtomicUsize,
    /// `FIRST_PENDING`, `FIRST_RUNNING` or `FIRST_DONE`: the first-connect hook's progress.
    first: AtomicU8,
    _info: PhantomData<fn() -> I>,
}

/// The token of a slot (or overflow entry) that holds a connection (`slot.rs`).
pub(crate) type Token<M, I> = Owned<<M as Manager>::Connection, I>;

const FIRST_PENDING: u8 = 0;
const FIRST_RUNNING: u8 = 1;
const FIRST_DONE: u8 = 2;

/// A pool with `N` slots inline and no allocator, constructible in a `static`.
///
/// Its idle order is LIFO (tarn's tagged index stack). See [`FixedPool::new`].
pub type FixedPool<M, const N: usize, E = NopEvents, K = NoClock, I = (), W = NoWaiters> =
    RawPool<M, E, K, I, ArrayStorage<<M as Manager>::Connection, I, N>, W>;

// Manual impl: no bounds on the manager or connection, and managers may hold secrets.
impl<M: Manager, E, K, I, S: Storage<M::Connection, I>, W: Waiters> core::fmt::Debug
    for RawPool<M, E, K, I, S, W>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("state", &self.state())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<M: Manager, const N: usize>
    RawPool<M, NopEvents, NoClock, (), ArrayStorage<M::Connection, (), N>, NoWaiters>
{
    crate::sync::const_fn! {
        /// A fixed pool of `N` slots that keeps up to `pool_size` idle connections and opens up
        /// to `N - pool_size` more under load (`pool_size` above `N` counts as `N`; 0 means
        /// every slot may be idle). Connections are rolled back on return; nothing else is
        /// configured.
        ///
        /// Compile-time error if `N` is 0 or above [`MAX_CAPACITY`](crate::MAX_CAPACITY).
        ///
        /// # Examples
        ///
        /// ```
        /// use tarn_core::{FixedPool, Manager, ResetMode};
        ///
        /// struct Uart;
        /// impl Manager for Uart {
        ///     type Connection = u8;
        ///     type Error = ();
        ///     fn connect(&self) -> Result<u8, ()> { Ok(7) }
        ///     fn reset(&self, _: &mut u8, _: ResetMode) -> Result<(), ()> { Ok(()) }
        ///     fn close(&self, _: u8) {}
        /// }
        ///
        /// static POOL: FixedPool<Uart, 2> = FixedPool::new(Uart, 2);
        ///
        /// let conn = POOL.try_checkout().unwrap();
        /// assert_eq!(*conn, 7);
        /// ```
        pub fn new(manager: M, pool_size: usize) -> Self {
            Self::with_parts(manager, NopEvents, NoClock, Settings::new().pool_size(pool_size))
        }
    }
}

impl<M: Manager, E, K: Clock, I, const N: usize>
    RawPool<M, E, K, I, ArrayStorage<M::Connection, I, N>, NoWaiters>
{
    crate::sync::const_fn! {
        /// A fixed pool with events, a clock and [`Settings`], and no waiters
        /// ([`with_waiters`](Self::with_waiters) adds them).
        ///
        /// `settings.pool_size` above `N` counts as `N` (0: every slot may be idle);
        /// `settings.max_overflow` is ignored, `None` (unlimited) included: a fixed pool may
        /// always open up to `N`, and never more, since it cannot allocate; a recycle age with
        /// a clock that does not tell time is ignored; the idle order is always LIFO.
        ///
        /// Compile-time error if `N` is 0 or above [`MAX_CAPACITY`](crate::MAX_CAPACITY).
        ///
        /// # Examples
        ///
        /// ```
        /// use tarn_core::{FixedPool, NopEvents, NoClock, Settings, ResetMode, testing::ScriptedManager};
        ///
        /// let pool: FixedPool<ScriptedManager, 4> = FixedPool::with_parts(
        ///     ScriptedManager::new(),
        ///     NopEvents,
        ///     NoClock,
        ///     Settings::new().pool_size(1).reset_on_return(ResetMode::Commit),
        /// );
        /// assert_eq!(pool.state().max_overflow, Some(3));
        /// ```
        pub fn with_parts(manager: M, events: E, clock: K, settings: Settings) -> Self {
            RawPool::with_waiters(manager, events, clock, settings, NoWaiters)
        }
    }
}

impl<M: Manager, E, K: Clock, I, W, const N: usize>
    RawPool<M, E, K, I, ArrayStorage<M::Connection, I, N>, W>
{
    crate::sync::const_fn! {
        /// [`with_parts`](RawPool::with_parts), with the [`Waiters`] told when capacity
        /// comes back.
        ///
        /// # Examples
        ///
        /// ```
        /// use tarn_core::{FixedPool, NopEvents, NoClock, NoWaiters, Settings, testing::ScriptedManager};
        ///
        /// let pool: FixedPool<ScriptedManager, 2> =
        ///     FixedPool::with_waiters(ScriptedManager::new(), NopEvents, NoClock, Settings::new(), NoWaiters);
        /// assert_eq!(pool.state().waiting, 0);
        /// ```
        pub fn with_waiters(manager: M, events: E, clock: K, settings: Settings, waiters: W) -> Self {
            const { assert!(N > 0 && N <= crate::MAX_CAPACITY, "FixedPool needs 1 <= N <= MAX_CAPACITY") };
            let pool_size = if settings.pool_size < N { settings.pool_size } else { N };
            let bound = match settings.retain {
                Retain::Nothing => 0,
                Retain::PoolSize if pool_size == 0 => N,
                Retain::PoolSize => pool_size,
            };
            let mut settings = settings;
            settings.pool_size = pool_size;
            settings.max_overflow = Some(N - pool_size);
            settings.order = crate::IdleOrder::Lifo;
            if !K::TELLS_TIME {
                settings.recycle = None;
            }
            RawPool {
                manager,
                events,
                clock,
                waiters,
                settings,
                storage: ArrayStorage::new(bound),
                overflow: AtomicIsize::new(-(pool_size as isize)),
                epoch: AtomicUsize::new(0),
                first: AtomicU8::new(FIRST_PENDING),
                _info: PhantomData,
            }
        }
    }
}

impl<M: Manager, E, K, I, S: Storage<M::Connection, I>, W: Waiters> RawPool<M, E, K, I, S, W> {
    /// A snapshot of the pool's counters.
    ///
    /// Fields are read one after the other without a lock, so under load they may disagree
    /// by a connection or two; at quiescence they add up exactly.
    pub fn state(&self) -> State {
        let pool_size = self.settings.pool_size;
        let open = (self.overflow.load(Ordering::Relaxed) + pool_size as isize).max(0) as usize;
        let idle = (self.storage.idle_len() + self.storage.boxed_len()).min(open);
        State {
            pool_size,
            max_overflow: self.settings.max_overflow,
            open,
            idle,
            checked_out: open - idle,
            overflow: open.saturating_sub(pool_size),
            waiting: self.waiters.waiting(),
        }
    }
}

impl<M: Manager, E, K, I, S: Storage<M::Connection, I>, W> RawPool<M, E, K, I, S, W> {
    /// The settings the pool was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The pool's manager.
    pub fn manager(&self) -> &M {
        &self.manager
    }

    /// The pool's event listener.
    pub fn events(&self) -> &E {
        &self.events
    }

    /// Whether this pool has unlimited overflow: then every connection is an overflow entry.
    #[inline(always)]
    pub(crate) fn unlimited(&self) -> bool {
        S::OVERFLOWS && self.settings.max_overflow.is_none()
    }

    /// The pool's waiters (the adapter's wait queue).
    pub fn waiters(&self) -> &W {
        &self.waiters
    }

    /// The entry a token owns (the token is this pool's: `slot.rs`).
    #[inline(always)]
    pub(crate) fn token_entry<'a>(&'a self, token: &'a Token<M, I>) -> &'a Entry<M::Connection, I> {
        token.entry(&self.storage)
    }

    /// The entry a token owns, for writing.
    #[inline(always)]
    pub(crate) fn token_entry_mut<'a>(
        &'a self,
        token: &'a mut Token<M, I>,
    ) -> &'a mut Entry<M::Connection, I> {
        token.entry_mut(&self.storage)
    }

    /// A token's slot index (`u32::MAX` for an overflow entry).
    #[inline]
    pub(crate) fn token_index(&self, token: &Token<M, I>) -> u32 {
        token.index(&self.storage)
    }

    /// Invalidates every connection the pool has opened so far, in O(1).
    ///
    /// Idle connections are replaced when next checked out; connections checked out now are
    /// closed when returned (the reference pool's pool-wide invalidation), with
    /// [`CloseReason::PoolInvalidated`](crate::CloseReason::PoolInvalidated). Connections
    /// opened from now on are not affected.
    pub fn invalidate_all(&self) {
        self.epoch.fetch_add_sc(1);
    }

    /// The generation rule (the reference's `Pool._invalidate`, line 325): invalidate every
    /// connection opened so far, as [`invalidate_all`](Self::invalidate_all), but only if a
    /// connection of `epoch` is not older than the last invalidation, i.e. `epoch` is still
    /// the pool's. A connection opened before the last invalidation is stale already, and
    /// what it reports says nothing about the connections opened since: they are kept.
    ///
    /// A compare-and-swap, so that several connections of one generation reporting at once
    /// move the epoch on once.
    pub(crate) fn invalidate_generation(&self, epoch: usize) {
        let _ = self.epoch.cas_sc(epoch, epoch.wrapping_add(1));
    }
}

impl<M, E, K, I, S, W> RawPool<M, E, K, I, S, W>
where
    M: Manager,
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    /// Assembles a pool from validated settings and its storage (used by `Builder`).
    #[cfg(feature = "alloc")]
    pub(crate) fn from_storage(
        manager: M,
        events: E,
        clock: K,
        waiters: W,
        settings: Settings,
        storage: S,
    ) -> Self {
        RawPool {
            manager,
            events,
            clock,
            waiters,
            settings,
            storage,
            overflow: AtomicIsize::new(-(settings.pool_size as isize)),
            epoch: AtomicUsize::new(0),
            first: AtomicU8::new(FIRST_PENDING),
            _info: PhantomData,
        }
    }

    /// Checks a connection out without ever blocking.
    ///
    /// Takes an idle connection (replacing it first if it is stale, soft-invalidated, older
    /// than the recycle age, or fails its pre-ping), or opens a new one if the pool has
    /// capacity left, then runs the checkout hook. Manager calls get no limit
    /// ([`try_checkout_within`](Self::try_checkout_within) passes one).
    ///
    /// # Errors
    ///
    /// - [`CheckoutError::WouldBlock`]: no idle connection and no capacity (or the pool's
    ///   very first connection is being opened by another thread, and its first-connect hook
    ///   has not finished): try again later.
    /// - [`CheckoutError::Connect`]: the manager failed to open a connection.
    /// - [`CheckoutError::Disconnected`]: the checkout hook rejected two connections in a row.
    ///
    /// # Examples
    ///
    /// ```
    /// use tarn_core::{Builder, CheckoutError, testing::ScriptedManager};
    ///
    /// let pool = Builder::new(ScriptedManager::new()).pool_size(1).max_overflow(0).build()?;
    /// let first = pool.try_checkout().unwrap();
    /// assert!(matches!(pool.try_checkout(), Err(CheckoutError::WouldBlock)));
    /// drop(first);
    /// assert!(pool.try_checkout().is_ok());
    /// # Ok::<(), tarn_core::BuildError>(())
    /// ```
    #[inline(always)]
    pub fn try_checkout(&self) -> Result<Pooled<&Self>, CheckoutError<M::Error>> {
        Self::try_checkout_in_hinted_within(self, &mut Hint::new(), &NoDeadline)
    }

    /// [`try_checkout`](Self::try_checkout), passing the time `deadline` has left to every
    /// manager call the checkout makes (`connect_within`, `ping_within`), asked just before
    /// each one.
    ///
    /// # Errors
    ///
    /// As [`try_checkout`](Self::try_checkout); a manager that honours the limit fails the
    /// connect ([`CheckoutError::Connect`]) or the ping (the connection is replaced) once
    /// it has passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::time::Duration;
    /// use tarn_core::{Builder, testing::ScriptedManager};
    ///
    /// let manager = ScriptedManager::new();
    /// let pool = Builder::new(manager.clone()).build()?;
    /// let conn = pool.try_checkout_within(&Some(Duration::from_secs(2))).unwrap();
    /// assert_eq!(manager.last_connect_limit(), Some(Some(Duration::from_secs(2))));
    /// # drop(conn);
    /// # Ok::<(), tarn_core::BuildError>(())
    /// ```
    #[inline(always)]
    pub fn try_checkout_within<D: Deadline>(
        &self,
        deadline: &D,
    ) -> Result<Pooled<&Self>, CheckoutError<M::Error>> {
        Self::try_checkout_in_hinted_within(self, &mut Hint::new(), deadline)
    }

    /// Like [`try_checkout`](Self::try_checkout), for a guard that holds another pointer to
    /// the pool ([`PoolPtr`]): `Arc<Pool>` (a `'static` guard), `&'static FixedPool`, or a
    /// reference.
    ///
    /// # Errors
    ///
    /// As [`try_checkout`](Self::try_checkout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tarn_core::{Builder, Pool, testing::ScriptedManager};
    ///
    /// let pool = Arc::new(Builder::new(ScriptedManager::new()).build()?);
    /// let conn = Pool::try_checkout_in(Arc::clone(&pool)).unwrap();
    /// std::thread::spawn(move || drop(conn)).join().unwrap();
    /// # Ok::<(), tarn_core::BuildError>(())
    /// ```
    #[inline(always)]
    pub fn try_checkout_in<P>(pool: P) -> Result<Pooled<P>, CheckoutError<M::Error>>
    where
        P: PoolPtr + Deref<Target = Self>,
    {
        Self::try_checkout_in_hinted_within(pool, &mut Hint::new(), &NoDeadline)
    }

    /// Like [`try_checkout`](Self::try_checkout), starting from `hint` and updating it: what
    /// makes [`IdleOrder::Affinity`](crate::IdleOrder::Affinity) hand each thread the
    /// connection it used last. Other idle orders ignore the hint.
    ///
    /// # Errors
    ///
    /// As [`try_checkout`](Self::try_checkout).
    ///
    /// # Examples
    ///
    /// See [`Hint`].
    #[inline(always)]
    pub fn try_checkout_hinted(
        &self,
        hint: &mut Hint,
    ) -> Result<Pooled<&Self>, CheckoutError<M::Error>> {
        Self::try_checkout_in_hinted_within(self, hint, &NoDeadline)
    }

    /// [`try_checkout_in`](Self::try_checkout_in) with a [`Hint`], as
    /// [`try_checkout_hinted`](Self::try_checkout_hinted).
    ///
    /// # Errors
    ///
    /// As [`try_checkout`](Self::try_checkout).
    #[inline(always)]
    pub fn try_checkout_in_hinted<P>(
        pool: P,
        hint: &mut Hint,
    ) -> Result<Pooled<P>, CheckoutError<M::Error>>
    where
        P: PoolPtr + Deref<Target = Self>,
    {
        Self::try_checkout_in_hinted_within(pool, hint, &NoDeadline)
    }

    /// The general checkout: any [`PoolPtr`], a [`Hint`], and a [`Deadline`] whose time left
    /// is passed to every manager call (see [`try_checkout_within`](Self::try_checkout_within)).
    ///
    /// # Errors
    ///
    /// As [`try_checkout_within`](Self::try_checkout_within).
    #[inline(always)]
    pub fn try_checkout_in_hinted_within<P, D>(
        pool: P,
        hint: &mut Hint,
        deadline: &D,
    ) -> Result<Pooled<P>, CheckoutError<M::Error>>
    where
        P: PoolPtr + Deref<Target = Self>,
        D: Deadline,
    {
        let (idx, token) = pool.acquire(hint.0, deadline)?;
        // `OVERFLOW` for an overflow entry: a hint past every slot, which costs the affinity
        // order nothing more than any stale hint.
        hint.0 = idx;
        // The token came from this pool's storage: the guard keeps it with a pointer that
        // always leads to this pool (`PoolPtr`).
        Ok(Pooled::new(pool, token))
    }
}

impl<M: Manager, E, K, I, S: Storage<M::Connection, I>, W> Drop for RawPool<M, E, K, I, S, W> {
    /// Closes every idle connection. (No connection can be out: guards borrow or own the pool.)
    fn drop(&mut self) {
        let mut hint = 0;
        while let Some((idx, token)) = slot::take_idle(&self.storage, hint) {
            hint = idx;
            let (_, entry) = token.take(&self.storage);
            self.manager.close(entry.conn);
        }
        while let Some(token) = slot::take_boxed(&self.storage) {
            let (_, entry) = token.take(&self.storage);
            self.manager.close(entry.conn);
        }
    }
}
