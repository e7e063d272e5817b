//! [`RawPool`]: the checkout and checkin logic, shared by the heap [`Pool`](crate::Pool) and
//! the allocation-free [`FixedPool`].
//!
//! # Accounting
//!
//! `overflow` is the reference pool's `_overflow`: it starts at `-pool_size` and counts every
//! connection that owns a slot (open, or being opened) on top of that. Opening reserves one
//! unit first (a compare-and-swap loop bounded by `max_overflow`, so at most
//! `pool_size + max_overflow` connections ever exist); closing, detaching or a failed connect
//! gives it back. Because a slot is pushed onto the free stack *before* its unit is given back
//! (`Release`), a thread whose reservation succeeds (`Acquire`) always finds a free slot.
//!
//! # Generations
//!
//! `epoch` is bumped by [`RawPool::invalidate_all`] and [`RawPool::dispose`]. Every entry
//! records the epoch read just before its connection was opened; an entry from an older epoch
//! is replaced at checkout and closed at checkin. That makes pool-wide invalidation O(1).
//! Guards are affine values that keep their slot index private, so a stale guard (detached,
//! disposed, returned twice) cannot exist: the type system does the job a per-slot
//! generation counter would do at run time (ARCHITECTURE.md says more).
//!
//! # Telling an adapter that capacity came back
//!
//! Every change that makes a checkout possible (an index pushed on the idle queue, a unit of
//! capacity given back, the first-connect hook finished) is a `SeqCst` write followed by a
//! call to [`Events::released`]; a checkout that fails reads what it found exhausted with
//! `SeqCst` loads (crossbeam's FIFO queue: a `SeqCst` swap on push and a `SeqCst` fence before
//! it reports empty). An adapter that counts its waiters with `SeqCst` operations, and checks
//! that count in `released`, therefore never misses a wake-up: either the waiter's retry sees
//! the capacity, or `released` sees the waiter.
//!
//! # Panic safety
//!
//! Whenever user code runs (the manager or a hook), the connection and the slot are owned by
//! a drop guard ([`Held`] / [`Reserved`]): if that code unwinds, the connection is closed and
//! the slot and its capacity are given back, so every count stays right.

use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;

use crate::clock::{Clock, NoClock};
use crate::error::CheckoutError;
use crate::events::{CheckoutEvent, Disconnected, Events, InvalidateReason, NopEvents};
use crate::guard::{PoolPtr, Pooled};
use crate::manager::{Manager, ResetMode};
use crate::settings::Settings;
use crate::slot::{Entry, Slot, SlotRef};
use crate::state::State;
use crate::storage::{ArrayStorage, Hint, Storage};
use crate::sync::{AtomicIsize, AtomicU8, AtomicUsize, Ordering};

/// The engine of every tarn pool, generic over where it keeps its slots.
///
/// Use it through [`Pool`](crate::Pool) (heap, built by [`Builder`](crate::Builder)) or
/// [`FixedPool`] (inline, `const`-constructible, no allocator).
///
/// `M` opens and closes connections, `E` listens to events, `K` tells time for recycling and
/// `I` is the typed per-connection info ([`Pooled::info`]).
pub struct RawPool<M: Manager, E, K, I, S: Storage<M::Connection, I>> {
    manager: M,
    events: E,
    clock: K,
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

/// A pointer to the entry in a slot its holder owns (see [`Held`]).
pub(crate) type OwnedEntry<M, I> = NonNull<Entry<<M as Manager>::Connection, I>>;

const FIRST_PENDING: u8 = 0;
const FIRST_RUNNING: u8 = 1;
const FIRST_DONE: u8 = 2;

/// A pool with `N` slots inline and no allocator, constructible in a `static`.
///
/// Its idle order is LIFO (tarn's tagged index stack). See [`FixedPool::new`].
pub type FixedPool<M, const N: usize, E = NopEvents, K = NoClock, I = ()> =
    RawPool<M, E, K, I, ArrayStorage<<M as Manager>::Connection, I, N>>;

// Manual impl: no bounds on the manager or connection, and managers may hold secrets.
impl<M: Manager, E, K, I, S: Storage<M::Connection, I>> core::fmt::Debug
    for RawPool<M, E, K, I, S>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("state", &self.state())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<M: Manager, const N: usize>
    RawPool<M, NopEvents, NoClock, (), ArrayStorage<M::Connection, (), N>>
{
    crate::sync::const_fn! {
        /// A fixed pool of `N` slots that keeps up to `pool_size` idle connections and opens up
        /// to `N - pool_size` more under load (`pool_size` above `N` counts as `N`). Connections
        /// are rolled back on return; nothing else is configured.
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
    RawPool<M, E, K, I, ArrayStorage<M::Connection, I, N>>
{
    crate::sync::const_fn! {
        /// A fixed pool with events, a clock and [`Settings`].
        ///
        /// `settings.pool_size` above `N` counts as `N`; `settings.max_overflow` is ignored
        /// (a fixed pool may always open up to `N`); a recycle age with a clock that does not
        /// tell time is ignored; the idle order is always LIFO.
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
        /// assert_eq!(pool.state().max_overflow, 3);
        /// ```
        pub fn with_parts(manager: M, events: E, clock: K, settings: Settings) -> Self {
            const { assert!(N > 0 && N <= crate::MAX_CAPACITY, "FixedPool needs 1 <= N <= MAX_CAPACITY") };
            let pool_size = if settings.pool_size < N { settings.pool_size } else { N };
            let mut settings = settings;
            settings.pool_size = pool_size;
            settings.max_overflow = N - pool_size;
            settings.order = crate::IdleOrder::Lifo;
            if !K::TELLS_TIME {
                settings.recycle = None;
            }
            RawPool {
                manager,
                events,
                clock,
                settings,
                storage: ArrayStorage::new(pool_size),
                overflow: AtomicIsize::new(-(pool_size as isize)),
                epoch: AtomicUsize::new(0),
                first: AtomicU8::new(FIRST_PENDING),
                _info: PhantomData,
            }
        }
    }
}

impl<M: Manager, E, K, I, S: Storage<M::Connection, I>> RawPool<M, E, K, I, S> {
    /// A snapshot of the pool's counters.
    ///
    /// Fields are read one after the other without a lock, so under load they may disagree
    /// by a connection or two; at quiescence they add up exactly.
    pub fn state(&self) -> State {
        let pool_size = self.settings.pool_size;
        let open = (self.overflow.load(Ordering::Relaxed) + pool_size as isize).max(0) as usize;
        let idle = self.storage.idle_len().min(open);
        State {
            pool_size,
            max_overflow: self.settings.max_overflow,
            open,
            idle,
            checked_out: open - idle,
            overflow: open.saturating_sub(pool_size),
        }
    }

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

    /// Invalidates every connection the pool has opened so far, in O(1).
    ///
    /// Idle connections are replaced when next checked out; connections checked out now are
    /// closed when returned (the reference pool's pool-wide invalidation). Connections opened
    /// from now on are not affected.
    pub fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

impl<M, E, K, I, S> RawPool<M, E, K, I, S>
where
    M: Manager,
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
{
    /// Assembles a pool from validated settings and its storage (used by `Builder`).
    #[cfg(feature = "alloc")]
    pub(crate) fn from_storage(
        manager: M,
        events: E,
        clock: K,
        settings: Settings,
        storage: S,
    ) -> Self {
        RawPool {
            manager,
            events,
            clock,
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
    /// capacity left, then runs the checkout hook.
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
        Self::try_checkout_in(self)
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
        Self::try_checkout_in_hinted(pool, &mut Hint::new())
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
        Self::try_checkout_in_hinted(self, hint)
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
        let (idx, entry) = pool.acquire(hint.0)?;
        hint.0 = idx;
        let slot = pool.slot_ref(idx, entry);
        // SAFETY: `acquire` handed this thread slot `idx` of `*pool`, holding a connection
        // ready to hand out, and `entry` is the pointer to its entry that `Slot::occupied` /
        // `Slot::fill` gave when this thread came to own the slot: `slot` is the `SlotRef`
        // made from them on this pool. The guard takes the slot over.
        Ok(unsafe { Pooled::new(pool, slot) })
    }

    /// Closes every idle connection now, and every checked-out one when it is returned.
    ///
    /// The pool stays usable: later checkouts open new connections. Nothing is lost: a
    /// connection that is out while the pool is disposed goes on working for its holder and
    /// is closed, exactly once, when its guard is dropped. A connection returned while
    /// `dispose` runs is closed by whichever of the two finishes last.
    pub fn dispose(&self) {
        self.invalidate_all();
        crate::sync::seqcst_for_loom();
        let mut hint = 0;
        while let Some(idx) = self.storage.idle_pop(hint) {
            hint = idx;
            // SAFETY: the index was popped from the idle queue: this thread owns slot `idx`,
            // and idle slots hold a connection.
            drop(unsafe { Held::popped(self, idx) });
        }
    }

    /// Closes a connection that left the pool through [`Pooled::detach`], firing the
    /// `close_detached` event. A detached connection may also simply be closed by its owner.
    pub fn close_detached(&self, conn: M::Connection) {
        let mut closing = Closing {
            manager: &self.manager,
            conn: Some(conn),
        };
        if let Some(conn) = closing.conn.as_mut() {
            self.events.close_detached(conn);
        }
    }

    // ---- the machinery -------------------------------------------------------------------
    //
    // A connection's entry lives in its slot for the connection's whole life, idle or checked
    // out: a checkout and a checkin move only the slot index, never the entry.

    /// Slot `idx`. Touching its contents is sound only for the thread that owns it (see
    /// `slot.rs`).
    #[inline]
    fn slot(&self, idx: u32) -> &Slot<M::Connection, I> {
        // `idx` came from this pool's own queues, which only hold indices below capacity; the
        // bounds check stays anyway (once per checkout: guards of a heap pool do not look
        // their slot up again, see `owned_entry`).
        self.storage.slot(idx)
    }

    /// The word a guard keeps for slot `idx`, whose entry `entry` points to (see [`SlotRef`]):
    /// `entry` itself if the storage's slots never move ([`Storage::SLOTS_STAY`]), else `idx`.
    #[inline(always)]
    pub(crate) fn slot_ref(&self, idx: u32, entry: OwnedEntry<M, I>) -> SlotRef<M::Connection, I> {
        if S::SLOTS_STAY {
            SlotRef { entry }
        } else {
            SlotRef { idx: idx as usize }
        }
    }

    /// The entry of the slot a guard owns, from the guard's [`SlotRef`].
    ///
    /// With storage whose slots never move (the heap pool) this is the pointer the guard
    /// kept, with no lookup, bounds check or test of the slot: the hot path of a checked-out
    /// guard. Otherwise (the inline slots of a [`FixedPool`], which move with the pool when a
    /// guard owns its pool) the slot is looked up again.
    ///
    /// # Safety
    ///
    /// `slot` was made by [`slot_ref`](Self::slot_ref) on this pool, from a slot index and the
    /// pointer to its entry that `Slot::occupied` / `Slot::fill` returned; the caller has
    /// owned that slot since the pointer was taken, and it holds that connection still (no
    /// one has taken the entry out).
    #[inline(always)]
    pub(crate) unsafe fn owned_entry(&self, slot: SlotRef<M::Connection, I>) -> OwnedEntry<M, I> {
        if S::SLOTS_STAY {
            // SAFETY: `slot_ref` stored the `entry` field (it tests the same constant). The
            // pointer is still valid: the slot is where it was when the pointer was taken
            // (the storage allocates its slots once and never moves them, and it is alive:
            // `&self`), and it still holds that entry (the caller's contract).
            unsafe { slot.entry }
        } else {
            // SAFETY: `slot_ref` stored the `idx` field (it tests the same constant); the
            // caller owns that slot, which holds a connection.
            unsafe { self.slot(slot.idx as u32).occupied() }
        }
    }

    /// The index of the slot a guard owns, from the guard's [`SlotRef`]. Touches no slot.
    ///
    /// # Safety
    ///
    /// As for [`owned_entry`](Self::owned_entry).
    #[inline(always)]
    pub(crate) unsafe fn slot_index(&self, slot: SlotRef<M::Connection, I>) -> u32 {
        if S::SLOTS_STAY {
            // SAFETY: `slot_ref` stored the `entry` field (it tests the same constant).
            let entry = unsafe { slot.entry };
            // The entry lies inside slot `idx` of this pool's storage (the caller's
            // contract), which the storage finds by address arithmetic alone.
            self.storage.index_of(entry.as_ptr())
        } else {
            // SAFETY: `slot_ref` stored the `idx` field (it tests the same constant).
            unsafe { slot.idx as u32 }
        }
    }

    /// Reserves one unit of capacity, or says there is none.
    #[inline]
    fn reserve(&self) -> bool {
        let max = self.settings.max_overflow as isize;
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

    /// Gives an empty slot and its unit of capacity back, and tells the events.
    #[inline]
    fn release_slot(&self, idx: u32) {
        // Cannot fail: the free stack can hold every index.
        let pushed = self.storage.free_push(idx);
        debug_assert!(pushed.is_ok());
        self.overflow.fetch_sub(1, Ordering::SeqCst);
        self.events.released();
    }

    /// The checkout path: returns the index of a slot whose connection is ready to hand out.
    ///
    /// The common case (an idle connection that needs no replacing and no ping) stays small
    /// enough to inline into the caller; everything else is out of line.
    #[inline(always)]
    fn acquire(&self, hint: u32) -> Result<(u32, OwnedEntry<M, I>), CheckoutError<M::Error>> {
        if let Some(idx) = self.storage.idle_pop(hint) {
            // SAFETY: the index was popped from the idle queue: this thread owns slot `idx`,
            // and idle slots hold a connection.
            let mut held = unsafe { Held::popped(self, idx) };
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
                    Ok(()) => Ok(held.keep()),
                    Err(Disconnected) => self.hand_out_again(held),
                };
            }
            return self.prepare_idle(held, stale);
        }
        self.acquire_new()
    }

    /// No idle connection: open one if there is capacity.
    #[inline(never)]
    fn acquire_new(&self) -> Result<(u32, OwnedEntry<M, I>), CheckoutError<M::Error>> {
        // Claim the first connect (if it is still to come) before reserving capacity: while
        // another thread runs it, report WouldBlock without touching the capacity, so that
        // waiters are not woken round and round by reservations given back.
        let first = self.claim_first()?;
        if !self.reserve() {
            return Err(CheckoutError::WouldBlock);
        }
        let Some(idx) = self.storage.free_pop() else {
            // Unreachable by the accounting (module docs); give the unit back and report
            // "no capacity" rather than failing harder.
            debug_assert!(false, "a reservation found no free slot");
            self.overflow.fetch_sub(1, Ordering::SeqCst);
            return Err(CheckoutError::WouldBlock);
        };
        let held = self.open(Reserved { pool: self, idx }, first)?;
        self.hand_out(held, true)
    }

    /// Claims the pool's first connect, if it has not happened yet.
    ///
    /// `Ok(None)`: it is done; `Ok(Some(_))`: this thread runs it; `Err(WouldBlock)`: another
    /// thread is running it (it calls `released` when done).
    #[inline]
    fn claim_first(
        &self,
    ) -> Result<Option<FirstConnect<'_, M, E, K, I, S>>, CheckoutError<M::Error>> {
        if self.first.load(Ordering::SeqCst) == FIRST_DONE {
            return Ok(None);
        }
        match self.first.compare_exchange(
            FIRST_PENDING,
            FIRST_RUNNING,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Ok(_) => Ok(Some(FirstConnect {
                pool: self,
                done: false,
            })),
            Err(FIRST_DONE) => Ok(None),
            Err(_) => Err(CheckoutError::WouldBlock),
        }
    }

    /// An idle connection that is stale (`replace`) or must be pinged first: replace it if
    /// stale or if the ping fails, then hand it out.
    #[inline(never)]
    fn prepare_idle<'a>(
        &'a self,
        mut held: Held<'a, M, E, K, I, S>,
        replace: bool,
    ) -> Result<(u32, OwnedEntry<M, I>), CheckoutError<M::Error>> {
        if replace {
            let fresh = self.reopen(held)?;
            return self.hand_out(fresh, true);
        }
        if let Err(e) = self.manager.ping(&mut held.entry().conn) {
            if self.manager.is_disconnect(&e) {
                // The server went away: every connection opened before now is suspect.
                self.invalidate_all();
            }
            self.events
                .invalidate(&mut held.entry().conn, InvalidateReason::PingFailed);
            let fresh = self.reopen(held)?;
            return self.hand_out(fresh, true);
        }
        self.hand_out(held, false)
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
    fn hand_out<'a>(
        &'a self,
        mut held: Held<'a, M, E, K, I, S>,
        fresh: bool,
    ) -> Result<(u32, OwnedEntry<M, I>), CheckoutError<M::Error>> {
        let event = CheckoutEvent { fresh, attempt: 0 };
        match self.events.checkout(&mut held.entry().conn, &event) {
            Ok(()) => Ok(held.keep()),
            Err(Disconnected) => self.hand_out_again(held),
        }
    }

    /// The checkout hook rejected the connection: replace it once and ask again.
    #[cold]
    #[inline(never)]
    fn hand_out_again<'a>(
        &'a self,
        mut held: Held<'a, M, E, K, I, S>,
    ) -> Result<(u32, OwnedEntry<M, I>), CheckoutError<M::Error>> {
        self.events
            .invalidate(&mut held.entry().conn, InvalidateReason::Disconnected);
        let mut held = self.reopen(held)?;
        let event = CheckoutEvent {
            fresh: true,
            attempt: 1,
        };
        match self.events.checkout(&mut held.entry().conn, &event) {
            Ok(()) => Ok(held.keep()),
            Err(Disconnected) => {
                self.events
                    .invalidate(&mut held.entry().conn, InvalidateReason::Disconnected);
                drop(held); // closes it and gives the slot back
                Err(CheckoutError::Disconnected)
            }
        }
    }

    /// Closes the held connection and opens a new one in the same slot.
    fn reopen<'a>(
        &'a self,
        held: Held<'a, M, E, K, I, S>,
    ) -> Result<Held<'a, M, E, K, I, S>, CheckoutError<M::Error>> {
        let (res, entry) = held.into_parts();
        self.close_entry(entry); // if this unwinds, `res` gives the slot back
                                 // A connection existed, so the first connect is done: no claim needed.
        self.open(res, None)
    }

    /// Opens a connection into a reserved slot, running the first-connect and connect hooks.
    fn open<'a>(
        &'a self,
        res: Reserved<'a, M, E, K, I, S>,
        first: Option<FirstConnect<'a, M, E, K, I, S>>,
    ) -> Result<Held<'a, M, E, K, I, S>, CheckoutError<M::Error>> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let born = if self.settings.recycle.is_some() && K::TELLS_TIME {
            self.clock.now()
        } else {
            0
        };
        let conn = self.manager.connect().map_err(CheckoutError::Connect)?;
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

    /// Closes a connection: the close event, then the manager.
    fn close_entry(&self, entry: Entry<M::Connection, I>) {
        let mut closing = Closing {
            manager: &self.manager,
            conn: Some(entry.conn),
        };
        if let Some(conn) = closing.conn.as_mut() {
            self.events.close(conn);
        }
    }

    /// The checkin path (guard drop): reset, checkin event, then idle queue or close.
    ///
    /// Returns the reset error if the reset failed (the connection was invalidated).
    ///
    /// This is the inline fast path, for the common case: the reset succeeds (or there is
    /// none), the connection is current (its epoch is the pool's and it is not
    /// soft-invalidated) and the idle queue has room. Each other case leaves it for a cold,
    /// out-of-line function (`reset_failed`, `discard`, `sweep_stale`) that does the same
    /// as the single function this once was.
    ///
    /// # Safety
    ///
    /// As for [`owned_entry`](Self::owned_entry): the caller owns the slot `slot` refers to,
    /// which holds a connection. The caller gives the slot up to this call: it never touches
    /// it again.
    #[inline(always)]
    pub(crate) unsafe fn checkin(&self, slot: SlotRef<M::Connection, I>) -> Result<(), M::Error> {
        // SAFETY: the caller's contract is `Held::owned`'s.
        let mut held = unsafe { Held::owned(self, slot) };
        let mode = self.settings.reset;
        let entry = held.entry();
        self.events.reset(&mut entry.conn, mode);
        if mode != ResetMode::None {
            if let Err(e) = self.manager.reset(&mut entry.conn, mode) {
                return Err(self.reset_failed(held, e));
            }
        }
        self.events.checkin(&mut entry.conn);
        let epoch = entry.epoch;
        if entry.soft || epoch != self.epoch.load(Ordering::SeqCst) {
            self.discard(held); // stale: close instead of keeping
            return Ok(());
        }
        let (idx, ptr) = held.keep();
        match self.storage.idle_push(idx) {
            Ok(()) => {
                // A `dispose` (or `invalidate_all`) may have run between the epoch check above
                // and the push, and `dispose` may have emptied the idle queue before the push
                // landed. Both the bump and the push are `SeqCst`, so if that happened this
                // load sees the new epoch: sweep the stale connection out now rather than leave
                // it idle until its next checkout.
                crate::sync::seqcst_for_loom();
                if self.epoch.load(Ordering::SeqCst) != epoch {
                    self.sweep_stale();
                }
                self.events.released()
            }
            // The pool already keeps `pool_size` idle: close this one (overflow shrinks).
            // SAFETY: the push failed and gave `idx` back, so this thread still owns the slot
            // and its connection, and `ptr` is the pointer `held` kept for it.
            Err(idx) => self.discard(unsafe { Held::resume(self, idx, ptr) }),
        }
        Ok(())
    }

    /// The reset on return failed: invalidate the connection, close it and give its slot and
    /// capacity back (the checkin path, out of line). Returns the reset error.
    #[cold]
    #[inline(never)]
    fn reset_failed(&self, mut held: Held<'_, M, E, K, I, S>, e: M::Error) -> M::Error {
        self.events
            .invalidate(&mut held.entry().conn, InvalidateReason::ResetFailed);
        drop(held); // also if the event unwinds
        e
    }

    /// Closes a returned connection the pool does not keep (stale, soft-invalidated, or the
    /// idle queue is full) and gives its slot and capacity back (the checkin path, out of
    /// line).
    #[cold]
    #[inline(never)]
    fn discard(&self, held: Held<'_, M, E, K, I, S>) {
        drop(held);
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
                drop(held);
                continue;
            }
            let (idx, ptr) = held.keep();
            if let Err(idx) = self.storage.idle_push(idx) {
                // SAFETY: the push failed and gave `idx` back, so this thread still owns the
                // slot and its connection, and `ptr` is the pointer `held` kept for it.
                drop(unsafe { Held::resume(self, idx, ptr) });
            }
        }
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
        drop(held);
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

impl<M: Manager, E, K, I, S: Storage<M::Connection, I>> Drop for RawPool<M, E, K, I, S> {
    /// Closes every idle connection. (No connection can be out: guards borrow or own the pool.)
    fn drop(&mut self) {
        let mut hint = 0;
        while let Some(idx) = self.storage.idle_pop(hint) {
            hint = idx;
            let slot = self.storage.slot(idx);
            // SAFETY: the index was popped from the idle queue, and `&mut self` means no guard
            // or other thread can hold any slot.
            if let Some(entry) = unsafe { slot.take() } {
                self.manager.close(entry.conn);
            }
        }
    }
}

/// A reserved slot (with its unit of capacity) that holds no connection. Dropping it gives
/// both back.
struct Reserved<'a, M: Manager, E, K, I, S>
where
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
{
    pool: &'a RawPool<M, E, K, I, S>,
    idx: u32,
}

impl<
        'a,
        M: Manager,
        E: Events<M::Connection>,
        K: Clock,
        I: Default,
        S: Storage<M::Connection, I>,
    > Reserved<'a, M, E, K, I, S>
{
    /// Puts a new connection's entry into the slot.
    #[inline]
    fn fill(self, entry: Entry<M::Connection, I>) -> Held<'a, M, E, K, I, S> {
        let (pool, idx) = (self.pool, self.idx);
        core::mem::forget(self);
        // SAFETY: a `Reserved` owns its slot (it popped the index from the free stack, or took
        // it from a `Held`), and the slot is empty; ownership passes to the `Held` below,
        // with the pointer to the entry that `fill` returns.
        let entry = unsafe { pool.slot(idx).fill(entry) };
        Held { pool, idx, entry }
    }
}

impl<M: Manager, E: Events<M::Connection>, K: Clock, I: Default, S: Storage<M::Connection, I>> Drop
    for Reserved<'_, M, E, K, I, S>
{
    fn drop(&mut self) {
        self.pool.release_slot(self.idx);
    }
}

/// A slot with a connection in it, owned by the current thread. Dropping it closes the
/// connection (close event, then the manager) and gives the slot and its capacity back.
///
/// Invariant: the thread holding a `Held` owns slot `idx` (slot protocol), the slot holds
/// an entry, and `entry` points to it. The pointer stays valid for as long as the `Held`
/// lives: it borrows the pool, so the slot cannot move, and only the `Held` may take the
/// entry out (it does so when it ends, in `into_parts`).
struct Held<'a, M: Manager, E, K, I, S>
where
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
{
    pool: &'a RawPool<M, E, K, I, S>,
    idx: u32,
    entry: OwnedEntry<M, I>,
}

impl<
        'a,
        M: Manager,
        E: Events<M::Connection>,
        K: Clock,
        I: Default,
        S: Storage<M::Connection, I>,
    > Held<'a, M, E, K, I, S>
{
    /// Takes charge of slot `idx`, whose index this thread just popped from the idle queue.
    ///
    /// # Safety
    ///
    /// This thread owns slot `idx` of `pool` (it popped the index from the idle queue, or
    /// otherwise owns it) and the slot holds a connection.
    #[inline]
    unsafe fn popped(pool: &'a RawPool<M, E, K, I, S>, idx: u32) -> Self {
        // SAFETY: this thread owns slot `idx` (the caller's contract).
        let entry = unsafe { pool.slot(idx).occupied() };
        Held { pool, idx, entry }
    }

    /// Takes charge of the slot a guard owned, from the guard's [`SlotRef`].
    ///
    /// # Safety
    ///
    /// As for [`RawPool::owned_entry`]: this thread owns the slot `slot` refers to (made by
    /// `slot_ref` on `pool`), and the slot holds that connection still.
    #[inline(always)]
    unsafe fn owned(pool: &'a RawPool<M, E, K, I, S>, slot: SlotRef<M::Connection, I>) -> Self {
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
    unsafe fn resume(pool: &'a RawPool<M, E, K, I, S>, idx: u32, entry: OwnedEntry<M, I>) -> Self {
        Held { pool, idx, entry }
    }

    /// The connection's entry, in its slot.
    #[inline]
    fn entry(&mut self) -> &mut Entry<M::Connection, I> {
        // SAFETY: by the invariant this thread owns slot `idx` and `self.entry` points to its
        // entry, valid while `self` lives; no other reference to the entry exists (only the
        // slot's owner makes them, and `&mut self` keeps this one unique for its lifetime).
        unsafe { &mut *self.entry.as_ptr() }
    }

    /// Keeps the slot (and the connection in it) for the caller, who now owns index `idx`,
    /// with the pointer to its entry.
    #[inline]
    fn keep(self) -> (u32, OwnedEntry<M, I>) {
        let (idx, entry) = (self.idx, self.entry);
        core::mem::forget(self);
        (idx, entry)
    }

    /// Takes the entry out, leaving a reserved, empty slot.
    #[inline]
    fn into_parts(self) -> (Reserved<'a, M, E, K, I, S>, Entry<M::Connection, I>) {
        let (pool, idx) = (self.pool, self.idx);
        core::mem::forget(self);
        let res = Reserved { pool, idx };
        // SAFETY: by the invariant this thread owns the occupied slot `idx`; the entry
        // pointer (`self.entry`) is never used again once the entry is out.
        match unsafe { pool.slot(idx).take() } {
            Some(entry) => (res, entry),
            None => unreachable!("an owned slot in use holds a connection"),
        }
    }
}

impl<M: Manager, E: Events<M::Connection>, K: Clock, I: Default, S: Storage<M::Connection, I>> Drop
    for Held<'_, M, E, K, I, S>
{
    fn drop(&mut self) {
        let (res, entry) = Held {
            pool: self.pool,
            idx: self.idx,
            entry: self.entry,
        }
        .into_parts();
        self.pool.close_entry(entry); // if this unwinds, `res` still gives the slot back
        drop(res);
    }
}

/// Owns a connection on its way out: dropping it calls `Manager::close`, on the normal path
/// and also when the close event before it unwinds, so a panicking hook cannot leak it.
struct Closing<'m, M: Manager> {
    manager: &'m M,
    conn: Option<M::Connection>,
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
struct FirstConnect<'a, M: Manager, E: Events<M::Connection>, K, I, S: Storage<M::Connection, I>> {
    pool: &'a RawPool<M, E, K, I, S>,
    done: bool,
}

impl<M: Manager, E: Events<M::Connection>, K, I, S: Storage<M::Connection, I>> Drop
    for FirstConnect<'_, M, E, K, I, S>
{
    fn drop(&mut self) {
        let state = if self.done { FIRST_DONE } else { FIRST_PENDING };
        self.pool.first.store(state, Ordering::SeqCst);
        // Whoever got `WouldBlock` because the first connect was running may try again.
        self.pool.events.released();
    }
}
