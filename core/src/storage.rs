//! Where a pool keeps its slots and index queues: on the heap ([`HeapStorage`], built by
//! [`Builder`](crate::Builder)) or inline in the pool ([`ArrayStorage`], for
//! [`FixedPool`](crate::FixedPool) in a `static`).
//!
//! Both hold the same three things: the slots, the free stack (indices of empty slots) and
//! the idle set (slots holding an idle connection, at most the pool's idle bound:
//! `pool_size`, every slot for `pool_size` 0, none for a pool that keeps nothing). A heap
//! pool with unlimited overflow keeps its idle overflow entries in a fourth, a bounded
//! queue of pointers. The idle set is
//! tarn's tagged [`IndexStack`] (LIFO), crossbeam's `ArrayQueue` (FIFO; with `alloc` on
//! targets with compare-and-swap), or, for [`IdleOrder::Affinity`], no queue at all: a flag
//! in each slot that says "idle here, claim me" (see [`Parked`]). All three honour the same
//! contract: bounded by the idle bound, `push` gives the index back when full, `Release` on
//! push and `Acquire` on pop, both `SeqCst` as the adapter's wake-up argument needs
//! (`waiters.rs`). The indices they hold become ownership tokens only in `slot.rs`.

use crate::slot::{sealed, BoxedEntry, Entry, Slot, Storage};
use crate::stack::IndexStack;
use crate::sync::AtomicU32;
#[cfg(feature = "alloc")]
use crate::sync::{AtomicBool, AtomicUsize, Ordering, SeqCst, SeqCstInt};

/// The order in which idle connections are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IdleOrder {
    /// Oldest returned first (the reference pool's queue): use spreads over every idle
    /// connection. Needs `alloc` and compare-and-swap.
    #[default]
    Fifo,
    /// Most recently returned first (the reference's later `use_lifo`): hot connections stay
    /// hot and the rest age out through recycle. Lock-free, needs no allocator.
    Lifo,
    /// No shared queue: each idle connection stays parked in its own slot, and a checkout
    /// first tries the slot its thread used last (a [`Hint`](crate::Hint) the caller keeps,
    /// as the std adapter does per thread), then the others in turn.
    ///
    /// With at least as many connections as threads, each thread settles on a connection of
    /// its own, and a checkout and checkin touch only that slot's cache line, which no other
    /// core wants. Queue-based orders move the queue's shared cache lines between cores on
    /// every operation, which costs more than the rest of the cycle as soon as two cores
    /// check out at once (BENCHMARKS.md measures both). The price:
    ///
    /// - no order among idle connections: a thread keeps reusing the connection it had;
    /// - a checkout that finds its hinted slot taken scans the others, so a checkout on an
    ///   exhausted pool costs O(capacity);
    /// - with `max_overflow > 0` the pool counts its idle connections in one shared counter
    ///   (to keep at most `pool_size`), which brings back one contended cache line; with
    ///   `max_overflow == 0` every slot may be idle and nothing is counted;
    /// - with `max_overflow > 0`, more connection churn under contention: a scan is not a
    ///   snapshot, so a checkout can miss a connection parked behind it and open a new one
    ///   with the overflow capacity, and the count can refuse a return for a moment while a
    ///   claim is under way; the pool then closes one at a later return. In the 4-thread
    ///   stress test of `core/tests/behaviour.rs` (pool of 2, overflow 1, with invalidations)
    ///   it opened 1,750–3,850 connections where the queues opened 1,750.
    ///
    /// Heap pools only (a [`FixedPool`](crate::FixedPool) is always LIFO).
    Affinity,
}

/// Where a caller last found a connection: the slot an [`IdleOrder::Affinity`] checkout tries
/// first.
///
/// Keep one per thread (the std adapter keeps it in a thread-local) and pass it to every
/// checkout with [`RawPool::try_checkout_hinted`](crate::RawPool::try_checkout_hinted); the
/// checkout updates it. It is only a starting point: a hint from another pool, or a stale
/// one, costs a longer scan, never a wrong result. Other idle orders ignore it.
///
/// ```
/// use tarn_core::{Builder, Hint, IdleOrder, testing::ScriptedManager};
///
/// let pool = Builder::new(ScriptedManager::new())
///     .pool_size(4)
///     .max_overflow(0)
///     .idle_order(IdleOrder::Affinity)
///     .build()?;
/// let mut hint = Hint::new();
/// let first = pool.try_checkout_hinted(&mut hint).unwrap().id;
/// // Returned and checked out again from the same hint: the same connection.
/// assert_eq!(pool.try_checkout_hinted(&mut hint).unwrap().id, first);
/// # Ok::<(), tarn_core::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hint(pub(crate) u32);

impl Hint {
    /// A hint that starts at the first slot.
    pub const fn new() -> Self {
        Hint(0)
    }
}

/// The idle queue of a heap pool.
#[cfg(feature = "alloc")]
#[derive(Debug)]
// One per pool, built once and never moved on the hot path; boxing would add a pointer chase.
#[allow(clippy::large_enum_variant)]
enum Idle {
    Lifo(IndexStack),
    #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
    Fifo(crossbeam_queue::ArrayQueue<u32>),
    Affinity(Parked),
}

/// The idle set of [`IdleOrder::Affinity`]: the `parked` flags in the slots, and a count
/// when the pool could otherwise keep more than `pool_size` idle.
///
/// A slot whose flag is set holds an idle connection and is owned by nobody; a thread comes
/// to own it by swapping the flag from `true` to `false` (`SeqCst`, so `Acquire`), and gives
/// it back by storing `true` (`SeqCst`, so `Release`). That is the slot protocol of
/// `slot.rs`, with the flag in place of a queue: whatever one owner wrote into the slot is
/// visible to the next, and only one thread can win the swap.
#[cfg(feature = "alloc")]
#[derive(Debug)]
struct Parked {
    /// At most this many may be parked: `pool_size`.
    bound: usize,
    /// Kept only when the pool has more slots than `bound` (`HeapStorage::counted`). With
    /// `max_overflow == 0` every slot may be parked, and the counter (the one cache line
    /// every checkout and checkin would share) is left alone.
    ///
    /// Slots parked, plus parks in progress, plus claims whose decrement is still to come.
    /// It may overstate for a moment (a claim decrements after its swap), so a checkin that
    /// races a checkout may close a connection the pool had room for; it never understates,
    /// so at most `bound` slots are ever parked.
    idle: Padded<AtomicUsize>,
}

/// A value alone on its cache line(s), so that threads writing neighbours never contend for
/// the line (128 bytes where the hardware prefetches lines in pairs).
#[cfg(feature = "alloc")]
#[cfg_attr(
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "powerpc64"
    ),
    repr(C, align(128))
)]
#[cfg_attr(
    not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "powerpc64"
    )),
    repr(C, align(64))
)]
#[derive(Debug)]
struct Padded<T>(T);

/// One slot of a heap pool: the slot, and its flag for [`IdleOrder::Affinity`].
///
/// Each on its own cache line(s): two threads using neighbouring slots (every order does
/// that under load) would otherwise write the same line. The slot comes first (`repr(C)`),
/// so an entry's address lies in `[start of its HeapSlot, start + size)`: `index_of` relies
/// on it.
#[cfg(feature = "alloc")]
#[derive(Debug)]
#[repr(C)]
struct HeapSlot<C, I> {
    slot: Slot<C, I>,
    /// Affinity order only: the slot holds an idle connection and nobody owns it.
    parked: AtomicBool,
}

/// Slots and queues allocated once, when the pool is built.
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub struct HeapStorage<C, I> {
    /// Never grown or shrunk after `new`, so a slot's address is fixed for the storage's
    /// whole life. A `Vec` rather than a `Box<[_]>`: a `Box` asserts unique ownership of its
    /// allocation whenever it is moved, which would make the pointers checked-out guards keep
    /// into the slots (`SLOTS_STAY`) invalid under Rust's aliasing rules if the pool were
    /// moved; a `Vec`'s buffer pointer carries no such assertion.
    slots: alloc::vec::Vec<Padded<HeapSlot<C, I>>>,
    /// `next` links shared by the free stack and a LIFO idle queue: an index is in at most
    /// one of them at a time.
    links: alloc::boxed::Box<[AtomicU32]>,
    free: IndexStack,
    idle: Idle,
    /// Unlimited overflow only: the idle set, holding overflow entries (every connection of
    /// such a pool is one), FIFO, at most its capacity. `None` for a bounded pool, or one
    /// that keeps nothing idle.
    #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
    boxes: Option<crossbeam_queue::ArrayQueue<BoxedEntry<C, I>>>,
}

#[cfg(feature = "alloc")]
impl<C, I> HeapStorage<C, I> {
    /// Allocates `capacity` empty slots with every index on the free stack, of which at most
    /// `bound` may be idle at once, and (unlimited overflow) an idle set for up to
    /// `boxed` overflow entries.
    ///
    /// The caller has checked `1 <= capacity <= MAX_CAPACITY`, `bound <= capacity`,
    /// and that FIFO is available (also when `boxed > 0`).
    pub(crate) fn new(capacity: usize, bound: usize, boxed: usize, order: IdleOrder) -> Self {
        let slots = (0..capacity)
            .map(|_| {
                Padded(HeapSlot {
                    slot: Slot::new(),
                    parked: AtomicBool::new(false),
                })
            })
            .collect();
        let links = (0..capacity).map(|_| AtomicU32::new(0)).collect();
        let idle = match order {
            #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
            IdleOrder::Fifo if bound > 0 => Idle::Fifo(crossbeam_queue::ArrayQueue::new(bound)),
            IdleOrder::Affinity => Idle::Affinity(Parked {
                bound,
                idle: Padded(AtomicUsize::new(0)),
            }),
            _ => Idle::Lifo(IndexStack::new(capacity, bound)),
        };
        let storage = HeapStorage {
            slots,
            links,
            free: IndexStack::new(capacity, capacity),
            idle,
            #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
            boxes: (boxed > 0).then(|| crossbeam_queue::ArrayQueue::new(boxed)),
        };
        #[cfg(not(all(target_has_atomic = "ptr", not(tarn_loom))))]
        let _ = boxed;
        // Push in reverse so that slot 0 is used first (nicer to read in tests and logs).
        for idx in (0..capacity as u32).rev() {
            let pushed = storage.free.push(&storage.links, idx);
            debug_assert!(pushed.is_ok());
        }
        storage
    }
}

#[cfg(feature = "alloc")]
impl<C, I> HeapStorage<C, I> {
    /// Whether the affinity order counts its parked slots: only when the pool has more slots
    /// than it may keep idle (`max_overflow > 0`).
    #[inline(always)]
    fn counted(&self, p: &Parked) -> bool {
        self.slots.len() > p.bound
    }

    /// Parks slot `idx`, which the caller owns and which holds a connection: from now on any
    /// thread may claim it. Gives the index back if `pool_size` are parked already.
    #[inline]
    fn park(&self, p: &Parked, idx: u32) -> Result<(), u32> {
        if self.counted(p) && p.idle.0.fetch_add_sc(1) >= p.bound {
            p.idle.0.fetch_sub_sc(1);
            return Err(idx);
        }
        // `Release` half: the owner's writes to the slot happen before whoever claims it
        // next reads them. `SeqCst` half: the adapter's wake-up argument (`waiters.rs`).
        self.slots[idx as usize].0.parked.store_sc(true);
        Ok(())
    }

    /// Claims a parked slot, trying `hint` first and then the following slots, round the
    /// array once. The caller owns the slot it returns.
    ///
    /// The hinted slot is tried inline; the scan, needed only when another thread holds
    /// that slot, is out of line (callgrind: 2 fewer instructions per tarn-core cycle and 5
    /// per std adapter cycle than the whole loop inline).
    #[inline]
    fn claim(&self, p: &Parked, hint: u32) -> Option<u32> {
        if let Some(slot) = self.slots.get(hint as usize) {
            if self.take_parked(p, &slot.0.parked) {
                return Some(hint);
            }
        }
        self.claim_scan(p, hint)
    }

    /// The rest of [`claim`](Self::claim): the slots after `hint`, round the array.
    #[inline(never)]
    fn claim_scan(&self, p: &Parked, hint: u32) -> Option<u32> {
        let n = self.slots.len();
        // A hint past the slots (another pool's, or an overflow entry's) starts at the end.
        let mut i = (hint as usize).min(n - 1);
        for _ in 0..n {
            i += 1;
            if i >= n {
                i = 0;
            }
            if self.take_parked(p, &self.slots[i].0.parked) {
                return Some(i as u32);
            }
        }
        None
    }

    /// Takes a parked slot's flag, if it is set.
    #[inline(always)]
    fn take_parked(&self, p: &Parked, parked: &AtomicBool) -> bool {
        // Read before swapping: a slot in use is only read, so its line stays shared instead
        // of being pulled away from the core that uses it.
        if parked.load_sc() && parked.cas_sc(true, false).is_ok() {
            if self.counted(p) {
                p.idle.0.fetch_sub_sc(1);
            }
            return true;
        }
        false
    }
}

#[cfg(feature = "alloc")]
impl<C, I> sealed::Sealed for HeapStorage<C, I> {}

#[cfg(feature = "alloc")]
impl<C, I> Storage<C, I> for HeapStorage<C, I> {
    // Under loom the guards look their slot up at every access, as the array storage does,
    // so that every access to a slot's cell goes through loom's `UnsafeCell` and is checked.
    const SLOTS_STAY: bool = cfg!(not(tarn_loom));
    const OVERFLOWS: bool = cfg!(all(target_has_atomic = "ptr", not(tarn_loom)));
    #[inline]
    fn capacity(&self) -> usize {
        self.slots.len()
    }
    #[inline]
    fn slot(&self, idx: u32) -> &Slot<C, I> {
        &self.slots[idx as usize].0.slot
    }
    #[inline]
    fn index_of(&self, entry: *const Entry<C, I>) -> u32 {
        // The entry lies inside one `Padded<HeapSlot>` of the array, at an offset below its
        // size (`HeapSlot` docs), so the byte distance from the array's start, divided by that
        // size, rounds down to the slot's index. An overflow entry is a separate allocation,
        // outside the array: its distance (wrapping if it lies below) gives no index.
        let start = self.slots.as_ptr() as usize;
        let idx =
            (entry as usize).wrapping_sub(start) / core::mem::size_of::<Padded<HeapSlot<C, I>>>();
        if idx < self.slots.len() {
            idx as u32
        } else {
            u32::MAX
        }
    }
    #[inline]
    fn idle_push(&self, idx: u32) -> Result<(), u32> {
        match &self.idle {
            // Out of line, like the FIFO's push: this is on the checkin path, which a guard's
            // drop inlines.
            Idle::Lifo(s) => s.push_outlined(&self.links, idx),
            #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
            Idle::Fifo(q) => q.push(idx),
            Idle::Affinity(p) => self.park(p, idx),
        }
    }
    #[inline]
    fn idle_pop(&self, hint: u32) -> Option<u32> {
        match &self.idle {
            Idle::Lifo(s) => s.pop(&self.links),
            #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
            Idle::Fifo(q) => q.pop(),
            Idle::Affinity(p) => self.claim(p, hint),
        }
    }
    #[inline]
    fn idle_len(&self) -> usize {
        match &self.idle {
            Idle::Lifo(s) => s.len(),
            #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
            Idle::Fifo(q) => q.len(),
            Idle::Affinity(p) if self.counted(p) => p.idle.0.load(Ordering::SeqCst),
            Idle::Affinity(_) => self
                .slots
                .iter()
                .filter(|s| s.0.parked.load(Ordering::SeqCst))
                .count(),
        }
    }
    #[inline]
    fn free_push(&self, idx: u32) -> Result<(), u32> {
        self.free.push(&self.links, idx)
    }
    #[inline]
    fn free_pop(&self) -> Option<u32> {
        self.free.pop(&self.links)
    }
    #[inline]
    fn boxed_push(&self, entry: BoxedEntry<C, I>) -> Result<(), BoxedEntry<C, I>> {
        #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
        if let Some(q) = &self.boxes {
            return q.push(entry);
        }
        Err(entry)
    }
    #[inline]
    fn boxed_pop(&self) -> Option<BoxedEntry<C, I>> {
        #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
        if let Some(q) = &self.boxes {
            return q.pop();
        }
        None
    }
    #[inline]
    fn boxed_len(&self) -> usize {
        #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
        if let Some(q) = &self.boxes {
            return q.len();
        }
        0
    }
}

/// `N` slots inline, with no allocator: the storage of [`FixedPool`](crate::FixedPool).
///
/// Its idle queue is always the tagged index stack (LIFO): truly lock-free, so an
/// interrupt handler can never be wedged by the thread it preempted.
#[derive(Debug)]
pub struct ArrayStorage<C, I, const N: usize> {
    slots: [Slot<C, I>; N],
    links: [AtomicU32; N],
    free: IndexStack,
    idle: IndexStack,
    /// How many indices were ever taken from the never-used range `0..N`. A const
    /// constructor cannot fill the free stack, so fresh slots are handed out from this
    /// counter first (see `free_pop`).
    fresh: crate::sync::AtomicUsize,
}

impl<C, I, const N: usize> ArrayStorage<C, I, N> {
    #[cfg(not(tarn_loom))]
    /// `N` empty slots, of which at most `bound` may be idle at once.
    pub(crate) const fn new(bound: usize) -> Self {
        ArrayStorage {
            slots: [const { Slot::new() }; N],
            links: [const { AtomicU32::new(0) }; N],
            free: IndexStack::new(N, N),
            idle: IndexStack::new(N, bound),
            fresh: crate::sync::AtomicUsize::new(0),
        }
    }

    #[cfg(tarn_loom)]
    pub(crate) fn new(bound: usize) -> Self {
        ArrayStorage {
            slots: core::array::from_fn(|_| Slot::new()),
            links: core::array::from_fn(|_| AtomicU32::new(0)),
            free: IndexStack::new(N, N),
            idle: IndexStack::new(N, bound),
            fresh: crate::sync::AtomicUsize::new(0),
        }
    }
}

impl<C, I, const N: usize> sealed::Sealed for ArrayStorage<C, I, N> {}

impl<C, I, const N: usize> Storage<C, I> for ArrayStorage<C, I, N> {
    // The slots are inline: they move with the pool.
    const SLOTS_STAY: bool = false;
    const OVERFLOWS: bool = false;
    #[inline]
    fn capacity(&self) -> usize {
        N
    }
    #[inline]
    fn slot(&self, idx: u32) -> &Slot<C, I> {
        &self.slots[idx as usize]
    }
    fn index_of(&self, _entry: *const Entry<C, I>) -> u32 {
        unreachable!("the inline slots move with the pool: guards keep indices")
    }
    #[inline]
    fn idle_push(&self, idx: u32) -> Result<(), u32> {
        self.idle.push(&self.links, idx)
    }
    #[inline]
    fn idle_pop(&self, _hint: u32) -> Option<u32> {
        self.idle.pop(&self.links)
    }
    #[inline]
    fn idle_len(&self) -> usize {
        self.idle.len()
    }
    #[inline]
    fn free_push(&self, idx: u32) -> Result<(), u32> {
        self.free.push(&self.links, idx)
    }
    #[inline]
    fn free_pop(&self) -> Option<u32> {
        if let Some(idx) = self.free.pop(&self.links) {
            return Some(idx);
        }
        // Never-used slots: claim the next one, if any remain. A bounded loop: each retry
        // means another thread claimed one.
        let fresh = &self.fresh;
        let mut n = fresh.load(crate::sync::Ordering::Relaxed);
        while n < N {
            match fresh.compare_exchange_weak(
                n,
                n + 1,
                crate::sync::Ordering::Relaxed,
                crate::sync::Ordering::Relaxed,
            ) {
                Ok(_) => return Some(n as u32),
                Err(seen) => n = seen,
            }
        }
        None
    }
    fn boxed_push(&self, entry: BoxedEntry<C, I>) -> Result<(), BoxedEntry<C, I>> {
        Err(entry)
    }
    fn boxed_pop(&self) -> Option<BoxedEntry<C, I>> {
        None
    }
    fn boxed_len(&self) -> usize {
        0
    }
}
