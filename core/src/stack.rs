//! tarn's own tagged index stack: a bounded, lock-free LIFO of slot indices.
//!
//! It holds small integers (slot indices), never pointers, and needs no allocator: the
//! `next` links live in a caller-provided array with one entry per index. The head is one
//! atomic word that packs three fields:
//!
//! ```text
//!   | tag (the remaining high bits) | count (B bits) | top (B bits) |
//! ```
//!
//! where `B` is the number of bits needed for `capacity` (the value `capacity` itself marks
//! the empty stack). Every successful push or pop replaces the whole word with one
//! compare-and-swap and increments the tag, so:
//!
//! - **ABA is caught.** A pop reads `top` and `next[top]`, then swaps the head. If, in the
//!   meantime, `top` was popped and pushed back (perhaps onto a different `next`), the tag
//!   has moved on and the swap fails:
//!
//!   | step | thread A (pop)                   | thread B                  | head (top, count, tag) |
//!   |------|----------------------------------|---------------------------|------------------------|
//!   | 1    | reads head = (3, 2, 7), next = 5 |                           | (3, 2, 7)              |
//!   | 2    |                                  | pop 3, pop 5, push 3      | (3, 1, 10)             |
//!   | 3    | CAS (3,2,7) → (5,1,8) **fails**  |                           | (3, 1, 10)             |
//!
//!   Without the tag, step 3 would install 5, which B holds: one slot handed out twice.
//!   The tag is finite, so a pop preempted for exactly a multiple of `2^tag_bits` successful
//!   operations could still be fooled; on 64-bit targets `tag_bits ≥ 34`, on 32-bit targets
//!   it is at least 12 for the largest pools and 24 for an 8-slot pool.
//! - **The bound is exact.** `count` sits in the same word, so "is the stack full?" and "push"
//!   are one atomic step: a checkin never closes a connection because some other thread's
//!   pop was half done.
//! - **It is lock-free and needs no compare-and-swap in hardware.** On targets without it
//!   (thumbv6m, riscv32imc) the `portable-atomic` feature supplies the swap. No thread ever
//!   waits for another to finish: a preempted thread (or an interrupted one, on bare metal)
//!   cannot wedge the others, which is why this is the queue of the allocation-free pool.
//!
//! Memory ordering: a push writes `next[idx]` (and, in the pool, the slot's contents) before
//! its swap, which releases them; a pop acquires the head it swaps, so everything written
//! before the push is visible to the thread that pops the index. Both are `SeqCst` rather
//! than just release/acquire (free on x86, where every swap is a full barrier) so that an
//! adapter can rely on the store-buffer rule: a push followed by a `SeqCst` load of the
//! adapter's waiter count, against a `SeqCst` registration followed by a pop that finds the
//! stack empty, cannot both miss each other (see `Waiters::released`).

use crate::sync::{AtomicU32, AtomicUsize, Ordering, SeqCst};

/// The largest number of indices a stack (and so a pool) can hold on this target.
///
/// Chosen so that the tag keeps enough bits to make ABA practically impossible.
pub const MAX_CAPACITY: usize = if usize::BITS >= 64 { 32_767 } else { 1_023 };

/// Bits needed to store every value in `0..=capacity`.
pub(crate) const fn index_bits(capacity: usize) -> u32 {
    usize::BITS - capacity.leading_zeros()
}

/// A bounded lock-free LIFO of indices in `0..capacity`, linked through `next`.
///
/// The stack does not own its links: the caller passes the same `next` array (one
/// [`AtomicU32`] per index) to every operation. An index must be in at most one stack per
/// `next` array at a time; the pool guarantees that by the slot ownership protocol.
#[derive(Debug)]
pub(crate) struct IndexStack {
    /// `tag | count | top`, see the module docs.
    head: AtomicUsize,
    /// The value of `top` that means "empty"; equal to the capacity.
    nil: usize,
    /// Bits per field (`count` and `top`).
    bits: u32,
    /// Largest `count`: a push onto a stack holding `bound` indices fails.
    bound: usize,
}

impl IndexStack {
    crate::sync::const_fn! {
        /// An empty stack for indices `0..capacity`, holding at most `bound` of them.
        ///
        /// `capacity` must be at most [`MAX_CAPACITY`] and `bound <= capacity`; the pool
        /// validates both before it builds a stack.
        pub(crate) fn new(capacity: usize, bound: usize) -> Self {
            let bits = index_bits(capacity);
            IndexStack {
                head: AtomicUsize::new(capacity), // top = nil, count = 0, tag = 0
                nil: capacity,
                bits,
                bound: if bound < capacity { bound } else { capacity },
            }
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        (1usize << self.bits) - 1
    }

    #[inline]
    fn unpack(&self, word: usize) -> (usize, usize, usize) {
        let m = self.mask();
        (word & m, (word >> self.bits) & m, word >> (2 * self.bits))
    }

    #[inline]
    fn pack(&self, top: usize, count: usize, tag: usize) -> usize {
        // The tag simply wraps: its high bits fall off the word.
        top | (count << self.bits) | (tag.wrapping_shl(2 * self.bits))
    }

    /// Pushes `idx`; gives it back if the stack already holds `bound` indices.
    ///
    /// Everything the caller wrote before the push (the slot's contents) is visible to
    /// whoever pops `idx`.
    #[inline]
    pub(crate) fn push(&self, next: &[AtomicU32], idx: u32) -> Result<(), u32> {
        debug_assert!((idx as usize) < self.nil);
        let mut word = self.head.load(Ordering::Relaxed);
        loop {
            let (top, count, tag) = self.unpack(word);
            if count >= self.bound {
                // Confirm "full" on the current value, not on a possibly stale read: a swap
                // of the word with itself succeeds only if it is still the latest.
                match self.head.cas_sc(word, word) {
                    Ok(_) => return Err(idx),
                    Err(seen) => {
                        word = seen;
                        continue;
                    }
                }
            }
            // Only this thread may write `next[idx]`: it owns `idx` until the swap below
            // publishes it.
            next[idx as usize].store(top as u32, Ordering::Relaxed);
            let new = self.pack(idx as usize, count + 1, tag.wrapping_add(1));
            match self.head.cas_weak_sc(word, new) {
                Ok(_) => return Ok(()),
                Err(seen) => word = seen,
            }
        }
    }

    /// [`push`](Self::push), out of line: for callers on a path where the stack is one of
    /// two queue kinds (the heap pool's LIFO idle queue), so that the path stays small
    /// enough to inline, as a call to crossbeam's out-of-line push does.
    #[cfg(feature = "alloc")]
    #[inline(never)]
    pub(crate) fn push_outlined(&self, next: &[AtomicU32], idx: u32) -> Result<(), u32> {
        self.push(next, idx)
    }

    /// Pops the most recently pushed index, or `None` if the stack is empty.
    #[inline]
    pub(crate) fn pop(&self, next: &[AtomicU32]) -> Option<u32> {
        let mut word = self.head.load_sc();
        loop {
            let (top, count, tag) = self.unpack(word);
            if top == self.nil {
                return None;
            }
            // May be stale if `top` was popped and pushed again meanwhile; the tag makes the
            // swap below fail in that case, so a stale value is never installed.
            let below = next[top].load(Ordering::Relaxed) as usize;
            let new = self.pack(below, count - 1, tag.wrapping_add(1));
            match self
                .head
                .compare_exchange_weak(word, new, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Some(top as u32),
                Err(seen) => word = seen,
            }
        }
    }

    /// How many indices the stack holds (a snapshot).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.unpack(self.head.load(Ordering::Relaxed)).1
    }
}

#[cfg(all(test, not(tarn_loom)))]
mod tests {
    use super::*;

    fn links(n: usize) -> alloc::vec::Vec<AtomicU32> {
        (0..n).map(|_| AtomicU32::new(0)).collect()
    }

    #[test]
    fn pops_in_reverse_push_order() {
        let next = links(4);
        let s = IndexStack::new(4, 4);
        for i in 0..4 {
            s.push(&next, i).unwrap();
        }
        assert_eq!(s.len(), 4);
        for i in (0..4).rev() {
            assert_eq!(s.pop(&next), Some(i));
        }
        assert_eq!(s.pop(&next), None);
    }

    #[test]
    fn push_beyond_bound_gives_the_index_back() {
        let next = links(4);
        let s = IndexStack::new(4, 2);
        s.push(&next, 0).unwrap();
        s.push(&next, 1).unwrap();
        assert_eq!(s.push(&next, 2), Err(2));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn zero_bound_holds_nothing() {
        let next = links(1);
        let s = IndexStack::new(1, 0);
        assert_eq!(s.push(&next, 0), Err(0));
        assert_eq!(s.pop(&next), None);
    }

    #[test]
    fn tag_wraps_without_corrupting_fields() {
        let next = links(3);
        let s = IndexStack::new(3, 3);
        // Far more operations than a small tag field could count on 32-bit targets.
        let rounds = if cfg!(miri) { 1_000 } else { 100_000 };
        for _ in 0..rounds {
            s.push(&next, 2).unwrap();
            s.push(&next, 0).unwrap();
            assert_eq!(s.pop(&next), Some(0));
            assert_eq!(s.pop(&next), Some(2));
        }
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn largest_capacity_packs() {
        let next = links(MAX_CAPACITY);
        let s = IndexStack::new(MAX_CAPACITY, MAX_CAPACITY);
        s.push(&next, (MAX_CAPACITY - 1) as u32).unwrap();
        assert_eq!(s.pop(&next), Some((MAX_CAPACITY - 1) as u32));
        assert!(2 * index_bits(MAX_CAPACITY) + 12 <= usize::BITS);
    }
}
