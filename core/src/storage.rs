//! Where a pool keeps its slots and index queues: on the heap ([`HeapStorage`], built by
//! [`Builder`](crate::Builder)) or inline in the pool ([`ArrayStorage`], for
//! [`FixedPool`](crate::FixedPool) in a `static`).
//!
//! Both hold the same three things: the slots, the free stack (indices of empty slots) and
//! the idle queue (indices of slots holding an idle connection, at most `pool_size`). The
//! idle queue is tarn's tagged [`IndexStack`] (LIFO) or, with `alloc` on targets with
//! compare-and-swap, crossbeam's `ArrayQueue` (FIFO). Both honour the same contract:
//! bounded, `push` gives the index back when full, `Release` on push and `Acquire` on pop.

use crate::slot::Slot;
use crate::stack::IndexStack;
use crate::sync::AtomicU32;

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
}

mod sealed {
    pub trait Sealed {}
}

/// Storage of a pool's slots and index queues. Implemented by [`HeapStorage`] and
/// [`ArrayStorage`] only.
pub trait Storage<C, I>: sealed::Sealed {
    /// Whether every slot stays at one address for as long as the storage lives, even when
    /// the storage (and the pool that holds it) is moved.
    ///
    /// True for [`HeapStorage`], whose slots are allocated once, apart from the pool; false
    /// for [`ArrayStorage`], whose slots are inline and move with the pool (a guard may own
    /// its pool, e.g. a `Box`-like pointer that derefs to a pool stored inside it). A
    /// checked-out guard keeps a pointer to its connection only when this is true; otherwise
    /// it looks its slot up from the pool at every access.
    #[doc(hidden)]
    const SLOTS_STAY: bool;
    #[doc(hidden)]
    fn slots(&self) -> &[Slot<C, I>];
    #[doc(hidden)]
    fn idle_push(&self, idx: u32) -> Result<(), u32>;
    #[doc(hidden)]
    fn idle_pop(&self) -> Option<u32>;
    #[doc(hidden)]
    fn idle_len(&self) -> usize;
    #[doc(hidden)]
    fn free_push(&self, idx: u32) -> Result<(), u32>;
    #[doc(hidden)]
    fn free_pop(&self) -> Option<u32>;
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
    slots: alloc::vec::Vec<Slot<C, I>>,
    /// `next` links shared by the free stack and a LIFO idle queue: an index is in at most
    /// one of them at a time.
    links: alloc::boxed::Box<[AtomicU32]>,
    free: IndexStack,
    idle: Idle,
}

#[cfg(feature = "alloc")]
impl<C, I> HeapStorage<C, I> {
    /// Allocates `capacity` empty slots with every index on the free stack.
    ///
    /// The caller has checked `1 <= capacity <= MAX_CAPACITY`, `pool_size <= capacity`,
    /// and that FIFO is available.
    pub(crate) fn new(capacity: usize, pool_size: usize, order: IdleOrder) -> Self {
        let slots = (0..capacity).map(|_| Slot::new()).collect();
        let links = (0..capacity).map(|_| AtomicU32::new(0)).collect();
        let idle = match order {
            #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
            IdleOrder::Fifo if pool_size > 0 => {
                Idle::Fifo(crossbeam_queue::ArrayQueue::new(pool_size))
            }
            _ => Idle::Lifo(IndexStack::new(capacity, pool_size)),
        };
        let storage = HeapStorage {
            slots,
            links,
            free: IndexStack::new(capacity, capacity),
            idle,
        };
        // Push in reverse so that slot 0 is used first (nicer to read in tests and logs).
        for idx in (0..capacity as u32).rev() {
            let pushed = storage.free.push(&storage.links, idx);
            debug_assert!(pushed.is_ok());
        }
        storage
    }
}

#[cfg(feature = "alloc")]
impl<C, I> sealed::Sealed for HeapStorage<C, I> {}

#[cfg(feature = "alloc")]
impl<C, I> Storage<C, I> for HeapStorage<C, I> {
    // Under loom the guards look their slot up at every access, as the array storage does,
    // so that every access to a slot's cell goes through loom's `UnsafeCell` and is checked.
    const SLOTS_STAY: bool = cfg!(not(tarn_loom));
    #[inline]
    fn slots(&self) -> &[Slot<C, I>] {
        &self.slots
    }
    #[inline]
    fn idle_push(&self, idx: u32) -> Result<(), u32> {
        match &self.idle {
            // Out of line, like the FIFO's push: this is on the checkin path, which a guard's
            // drop inlines.
            Idle::Lifo(s) => s.push_outlined(&self.links, idx),
            #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
            Idle::Fifo(q) => q.push(idx),
        }
    }
    #[inline]
    fn idle_pop(&self) -> Option<u32> {
        match &self.idle {
            Idle::Lifo(s) => s.pop(&self.links),
            #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
            Idle::Fifo(q) => q.pop(),
        }
    }
    #[inline]
    fn idle_len(&self) -> usize {
        match &self.idle {
            Idle::Lifo(s) => s.len(),
            #[cfg(all(target_has_atomic = "ptr", not(tarn_loom)))]
            Idle::Fifo(q) => q.len(),
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
    pub(crate) const fn new(pool_size: usize) -> Self {
        ArrayStorage {
            slots: [const { Slot::new() }; N],
            links: [const { AtomicU32::new(0) }; N],
            free: IndexStack::new(N, N),
            idle: IndexStack::new(N, pool_size),
            fresh: crate::sync::AtomicUsize::new(0),
        }
    }

    #[cfg(tarn_loom)]
    pub(crate) fn new(pool_size: usize) -> Self {
        ArrayStorage {
            slots: core::array::from_fn(|_| Slot::new()),
            links: core::array::from_fn(|_| AtomicU32::new(0)),
            free: IndexStack::new(N, N),
            idle: IndexStack::new(N, pool_size),
            fresh: crate::sync::AtomicUsize::new(0),
        }
    }
}

impl<C, I, const N: usize> sealed::Sealed for ArrayStorage<C, I, N> {}

impl<C, I, const N: usize> Storage<C, I> for ArrayStorage<C, I, N> {
    // The slots are inline: they move with the pool.
    const SLOTS_STAY: bool = false;
    #[inline]
    fn slots(&self) -> &[Slot<C, I>] {
        &self.slots
    }
    #[inline]
    fn idle_push(&self, idx: u32) -> Result<(), u32> {
        self.idle.push(&self.links, idx)
    }
    #[inline]
    fn idle_pop(&self) -> Option<u32> {
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
}
