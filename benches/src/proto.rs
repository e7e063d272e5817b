//! Minimal pools that each isolate one design choice (see BENCHMARKS.md, "Where the time
//! goes"). They are not peers: the tables show them beside tarn to explain its figures.
//!
//! The first two differ only in how a checked-out connection travels, to locate tarn-core's
//! single-thread cost.
//!
//! Both are the floor (an `ArrayQueue` of slot indices) plus what tarn-core's cycle does: a
//! slot holding `Option<Entry>` (the connection with its epoch, birth tick and soft mark),
//! an epoch check on return, a guard returned in a `Result`.
//!
//! - [`Moved`]: like tarn-core today: the entry is taken out of the slot into the guard, and
//!   written back by an out-of-line `checkin`.
//! - [`InPlace`]: the entry stays in its slot; the guard is `(pool, index)` and derefs into the
//!   slot; the return path is inline.
//!
//! [`FifoHandoff`] is the simplest strictly first-come-first-served blocking pool (the hold
//! scenario). [`Affinity`] has no shared queue at all: per-slot flags and a per-thread hint,
//! for the cells with several threads.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use crossbeam_queue::ArrayQueue;

use crate::contenders::{Contender, Kind};
use crate::{drive, new_conn, Worker};

/// A connection with the bookkeeping tarn-core keeps beside it.
#[derive(Debug)]
struct Entry {
    conn: u64,
    epoch: usize,
    /// Unread here; carried so the entry has tarn-core's size.
    #[allow(dead_code)]
    born: u64,
    soft: bool,
}

/// Slots whose ownership follows the idle queue.
struct Slots {
    queue: ArrayQueue<u32>,
    /// Slot `i` is accessed only by the thread that popped `i` from `queue`, until it pushes
    /// `i` back (or, at build time, by the builder before any index is pushed).
    slots: Box<[UnsafeCell<Option<Entry>>]>,
    epoch: AtomicUsize,
}

// SAFETY: the cells are shared only under the ownership protocol on `slots`: the queue hands
// each index to one thread at a time, and its pop/push give the needed happens-before.
unsafe impl Sync for Slots {}

impl Slots {
    fn new(size: usize) -> Self {
        let slots: Box<[_]> = (0..size)
            .map(|_| {
                UnsafeCell::new(Some(Entry {
                    conn: new_conn(),
                    epoch: 0,
                    born: 0,
                    soft: false,
                }))
            })
            .collect();
        let queue = ArrayQueue::new(size);
        for i in 0..size {
            let _ = queue.push(i as u32);
        }
        Slots {
            queue,
            slots,
            epoch: AtomicUsize::new(0),
        }
    }
}

/// The entry moves into the guard and back.
pub struct Moved(Slots);

/// The guard of [`Moved`]: owns the entry while checked out.
#[derive(Debug)]
pub struct MovedGuard<'a> {
    pool: &'a Moved,
    idx: u32,
    entry: Option<Entry>,
}

impl Moved {
    /// A pool of `size`, all idle.
    pub fn new(size: usize) -> Self {
        Moved(Slots::new(size))
    }

    #[inline]
    fn try_get(&self) -> Result<MovedGuard<'_>, ()> {
        let idx = self.0.queue.pop().ok_or(())?;
        // SAFETY: `idx` was popped from the queue, so this thread owns slot `idx`.
        let entry = unsafe { (*self.0.slots[idx as usize].get()).take() };
        Ok(MovedGuard {
            pool: self,
            idx,
            entry,
        })
    }

    #[inline(never)]
    fn checkin(&self, idx: u32, entry: Entry) {
        if entry.soft || entry.epoch != self.0.epoch.load(Ordering::Acquire) {
            return; // stale: would be closed
        }
        // SAFETY: the guard owned slot `idx`; it is on no queue until the push below.
        unsafe { *self.0.slots[idx as usize].get() = Some(entry) };
        let _ = self.0.queue.push(idx);
    }
}

impl Deref for MovedGuard<'_> {
    type Target = u64;
    fn deref(&self) -> &u64 {
        &self.entry.as_ref().expect("entry present until drop").conn
    }
}

impl DerefMut for MovedGuard<'_> {
    fn deref_mut(&mut self) -> &mut u64 {
        &mut self.entry.as_mut().expect("entry present until drop").conn
    }
}

impl Drop for MovedGuard<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.pool.checkin(self.idx, entry);
        }
    }
}

/// The entry stays in its slot; the guard is a pointer and an index.
pub struct InPlace(Slots);

/// The guard of [`InPlace`].
#[derive(Debug)]
pub struct InPlaceGuard<'a> {
    pool: &'a InPlace,
    idx: u32,
}

impl InPlace {
    /// A pool of `size`, all idle.
    pub fn new(size: usize) -> Self {
        InPlace(Slots::new(size))
    }

    #[inline]
    fn try_get(&self) -> Result<InPlaceGuard<'_>, ()> {
        let idx = self.0.queue.pop().ok_or(())?;
        Ok(InPlaceGuard { pool: self, idx })
    }

    #[inline]
    fn entry(&self, idx: u32) -> *mut Option<Entry> {
        self.0.slots[idx as usize].get()
    }
}

impl Deref for InPlaceGuard<'_> {
    type Target = u64;
    fn deref(&self) -> &u64 {
        // SAFETY: the guard owns slot `idx` (popped from the queue) until it is dropped.
        let entry = unsafe { &*self.pool.entry(self.idx) };
        &entry.as_ref().expect("idle slots hold an entry").conn
    }
}

impl DerefMut for InPlaceGuard<'_> {
    fn deref_mut(&mut self) -> &mut u64 {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
        let entry = unsafe { &mut *self.pool.entry(self.idx) };
        &mut entry.as_mut().expect("idle slots hold an entry").conn
    }
}

impl Drop for InPlaceGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard owns slot `idx` until the push below.
        let entry = unsafe { &*self.pool.entry(self.idx) };
        if let Some(e) = entry {
            if e.soft || e.epoch != self.pool.0.epoch.load(Ordering::Acquire) {
                return; // stale: would be closed
            }
        }
        let _ = self.pool.0.queue.push(self.idx);
    }
}

macro_rules! proto_contender {
    ($t:ty, $name:literal) => {
        impl Contender for $t {
            fn name(&self) -> &'static str {
                $name
            }
            fn kind(&self) -> Kind {
                Kind::Spinning
            }
            fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
                barrier.wait();
                drive(w, |w| {
                    let mut conn = loop {
                        if let Ok(c) = self.try_get() {
                            break c;
                        }
                        std::thread::yield_now();
                    };
                    *conn = w.use_conn(*conn);
                })
            }
        }
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($name)
            }
        }
    };
}

proto_contender!(Moved, "proto: entry moved");
proto_contender!(InPlace, "proto: entry in place");

// ---------------------------------------------------------------------------------------------
// Strict first-come-first-served hand-off, for the hold scenario

const NO_CONN: u64 = u64::MAX;

#[derive(Debug)]
struct HandoffWaiter {
    thread: std::thread::Thread,
    /// The connection handed to this waiter, or `NO_CONN`.
    conn: std::sync::atomic::AtomicU64,
}

thread_local! {
    // One waiter node per thread, reused: waiting allocates nothing after the first time.
    static ME: std::sync::Arc<HandoffWaiter> = std::sync::Arc::new(HandoffWaiter {
        thread: std::thread::current(),
        conn: std::sync::atomic::AtomicU64::new(NO_CONN),
    });
}

#[derive(Debug)]
struct HandoffInner {
    idle: Vec<u64>,
    waiters: std::collections::VecDeque<std::sync::Arc<HandoffWaiter>>,
}

/// The simplest strictly fair blocking pool: a returned connection goes straight to the
/// longest waiter (never back to the idle list while anyone waits), and a newcomer queues
/// behind every waiter. It shows what strict first-come-first-served costs by itself.
#[derive(Debug)]
pub struct FifoHandoff {
    inner: std::sync::Mutex<HandoffInner>,
}

impl FifoHandoff {
    /// A pool of `size`, all idle.
    pub fn new(size: usize) -> Self {
        FifoHandoff {
            inner: std::sync::Mutex::new(HandoffInner {
                idle: (0..size).map(|_| new_conn()).collect(),
                waiters: std::collections::VecDeque::with_capacity(256),
            }),
        }
    }

    fn get(&self) -> u64 {
        let me = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if inner.waiters.is_empty() {
                if let Some(c) = inner.idle.pop() {
                    return c;
                }
            }
            let me = ME.with(std::sync::Arc::clone);
            inner.waiters.push_back(std::sync::Arc::clone(&me));
            me
        };
        loop {
            let c = me.conn.swap(NO_CONN, Ordering::Acquire);
            if c != NO_CONN {
                return c;
            }
            std::thread::park();
        }
    }

    fn put(&self, conn: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.waiters.pop_front() {
            Some(w) => {
                drop(inner);
                w.conn.store(conn, Ordering::Release);
                w.thread.unpark();
            }
            None => inner.idle.push(conn),
        }
    }
}

impl Contender for FifoHandoff {
    fn name(&self) -> &'static str {
        "proto: FIFO hand-off"
    }
    fn kind(&self) -> Kind {
        Kind::Blocking
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        barrier.wait();
        drive(w, |w| {
            let t = w.before_checkout();
            let conn = self.get();
            w.after_checkout(t);
            self.put(w.use_conn(conn));
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Per-thread affinity, for the cells with several threads

/// One slot of [`Affinity`], alone on its cache line so that threads using different slots
/// never touch the same line.
#[repr(align(128))]
struct AffinitySlot {
    busy: std::sync::atomic::AtomicBool,
    /// Accessed only by the thread that set `busy` from false to true, until it clears it.
    conn: UnsafeCell<u64>,
}

/// A pool with no shared queue: each slot has its own busy flag, and a thread first tries
/// the slot it used last (a thread-local hint), then the others in turn. With at least as
/// many connections as threads, each thread settles on a slot of its own and a cycle touches
/// one cache line that no other core wants: the design that keeps several threads from
/// paying a cache-line transfer per operation, as queue-based pools (the floor, tarn) do.
pub struct Affinity {
    slots: Box<[AffinitySlot]>,
}

// SAFETY: a slot's `conn` is touched only by the thread that won its `busy` flag (an
// `Acquire` compare-exchange) until it clears it (a `Release` store): one thread at a time,
// each seeing the last one's writes.
unsafe impl Sync for Affinity {}

thread_local! {
    static HINT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A connection checked out of [`Affinity`].
pub struct AffinityGuard<'a> {
    slot: &'a AffinitySlot,
}

impl std::fmt::Debug for AffinityGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AffinityGuard")
    }
}

impl Affinity {
    /// A pool of `size`, all idle.
    pub fn new(size: usize) -> Self {
        Affinity {
            slots: (0..size)
                .map(|_| AffinitySlot {
                    busy: std::sync::atomic::AtomicBool::new(false),
                    conn: UnsafeCell::new(new_conn()),
                })
                .collect(),
        }
    }

    fn try_get(&self) -> Result<AffinityGuard<'_>, ()> {
        let n = self.slots.len();
        let hint = HINT.with(|h| h.get());
        for k in 0..n {
            let i = (hint + k) % n;
            let slot = &self.slots[i];
            if !slot.busy.load(Ordering::Relaxed)
                && slot
                    .busy
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                HINT.with(|h| h.set(i));
                return Ok(AffinityGuard { slot });
            }
        }
        Err(())
    }
}

impl Deref for AffinityGuard<'_> {
    type Target = u64;
    fn deref(&self) -> &u64 {
        // SAFETY: this guard won the slot's flag and has not cleared it (see `Affinity`).
        unsafe { &*self.slot.conn.get() }
    }
}

impl DerefMut for AffinityGuard<'_> {
    fn deref_mut(&mut self) -> &mut u64 {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { &mut *self.slot.conn.get() }
    }
}

impl Drop for AffinityGuard<'_> {
    fn drop(&mut self) {
        self.slot.busy.store(false, Ordering::Release);
    }
}

proto_contender!(Affinity, "proto: per-thread affinity");
