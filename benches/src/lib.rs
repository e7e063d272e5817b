//! Benchmarks of tarn: the pieces shared by the criterion benches (`benches/core.rs`) and the
//! side-by-side harness (`src/bin/sidebyside.rs`).
//!
//! - [`CountingAlloc`] counts allocations per thread, so a worker can tell how many it made
//!   inside its measured loop.
//! - [`Worker`] is one measuring thread's view of a run: when to stop, whether to check that
//!   no connection is held twice, how long to hold a connection, where to record waits.
//! - [`contenders`] wraps tarn and each peer pool behind one [`Contender`] trait.
//! - [`run`] spawns the threads, times the run and collects a [`RunResult`].
//!
//! Every pool hands out the same kind of "connection": a `u64` whose low 32 bits are a unique
//! id (so a connection handed to two threads at once is caught) and whose high bits count
//! uses ("touching" it is one add).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

pub mod contenders;
pub mod proto;
pub mod stats;

pub use contenders::Contender;

// ---------------------------------------------------------------------------------------------
// Allocation counting

thread_local! {
    // `const` initialiser and no destructor: reading it never allocates and never fails, even
    // while the thread is being torn down.
    static THREAD_ALLOCS: Cell<u64> = const { Cell::new(0) };
}

/// A global allocator that forwards to [`System`] and counts allocations per thread.
///
/// Install it in a binary with `#[global_allocator]`; read the calling thread's count with
/// [`thread_allocs`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

fn count_one() {
    let _ = THREAD_ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; counting touches only a
// thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero size layout),
        // which is `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by this allocator, i.e. by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` was returned by `System` with `layout`; the caller upholds the rest of
        // `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// How many allocations (including reallocations) the calling thread has made so far.
///
/// Always 0 unless [`CountingAlloc`] is the global allocator.
pub fn thread_allocs() -> u64 {
    THREAD_ALLOCS.try_with(Cell::get).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Connections

const ID_BITS: u32 = 16;
const ID_MASK: u64 = (1 << ID_BITS) - 1;
const USE_UNIT: u64 = 1 << 32;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static OPENED: AtomicU64 = AtomicU64::new(0);
static VIOLATIONS: AtomicU64 = AtomicU64::new(0);
static IN_USE: [AtomicBool; 1 << ID_BITS] = [const { AtomicBool::new(false) }; 1 << ID_BITS];

/// Opens a benchmark "connection": a fresh id in the low bits, a use count of 0.
pub fn new_conn() -> u64 {
    OPENED.fetch_add(1, Ordering::Relaxed);
    NEXT_ID.fetch_add(1, Ordering::Relaxed) & ID_MASK
}

/// How many connections [`new_conn`] has opened since the process started.
pub fn opened() -> u64 {
    OPENED.load(Ordering::Relaxed)
}

/// How many times a connection was found in use by two threads at once (smoke mode only).
pub fn violations() -> u64 {
    VIOLATIONS.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// Workers

/// What a run asks of each cycle.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    /// Mark each connection in use while held and count double use (smoke mode).
    pub check: bool,
    /// Busy-loop iterations to hold a connection (0: just touch it).
    pub hold_spins: u32,
    /// Record every checkout's wait, in nanoseconds, in a histogram.
    pub record_waits: bool,
}

/// One measuring thread's state during a run.
#[derive(Debug)]
pub struct Worker<'a> {
    stop: &'a AtomicBool,
    limit: u64,
    mode: Mode,
    /// Checkout waits recorded so far (ns), if the mode records them.
    pub waits: Histogram<u64>,
}

/// The longest checkout wait a wait histogram tells apart (longer ones saturate): 60 s.
pub const WAIT_MAX_NS: u64 = 60_000_000_000;

/// An empty histogram of checkout waits in nanoseconds, 1 ns to [`WAIT_MAX_NS`] at 3
/// significant digits: its memory is fixed when it is made (about 220 KiB), so recording
/// never allocates, and two of them always add up.
///
/// ```
/// let mut h = tarn_benches::wait_histogram();
/// for ns in 1..=100u64 {
///     h.record(ns * 1_000).unwrap();
/// }
/// // Percentiles come back within the histogram's precision (3 significant digits).
/// assert!(h.equivalent(h.value_at_quantile(0.5), 50_000));
/// assert!(h.equivalent(h.value_at_quantile(0.99), 99_000));
/// assert!(h.equivalent(h.max(), 100_000));
/// ```
pub fn wait_histogram() -> Histogram<u64> {
    // Constant bounds that meet `new_with_bounds`' conditions (1 <= low, 2 * low <= high,
    // sigfig <= 5): it cannot fail.
    Histogram::new_with_bounds(1, WAIT_MAX_NS, 3).expect("constant, valid histogram bounds")
}

/// Cycles run between two looks at the stop flag.
pub const BATCH: u64 = 16;

impl Worker<'_> {
    /// Whether the run is over, after `done` cycles.
    #[inline]
    pub fn stopped(&self, done: u64) -> bool {
        done >= self.limit || self.stop.load(Ordering::Relaxed)
    }

    /// Call right before a checkout: the start of the wait, if waits are recorded.
    #[inline]
    pub fn before_checkout(&self) -> Option<Instant> {
        if self.mode.record_waits {
            Some(Instant::now())
        } else {
            None
        }
    }

    /// Call right after a checkout succeeded, with what `before_checkout` returned.
    #[inline]
    pub fn after_checkout(&mut self, start: Option<Instant>) {
        if let Some(start) = start {
            // Sized up front (see `wait_histogram`): recording never allocates.
            let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.waits.saturating_record(ns);
        }
    }

    /// Uses a checked-out connection: touches it, holds it as long as the mode says, and in
    /// check mode flags it in use meanwhile. Returns the touched connection.
    #[inline]
    pub fn use_conn(&self, conn: u64) -> u64 {
        let id = (conn & ID_MASK) as usize;
        if self.mode.check && IN_USE[id].swap(true, Ordering::Acquire) {
            VIOLATIONS.fetch_add(1, Ordering::Relaxed);
        }
        let conn = std::hint::black_box(conn.wrapping_add(USE_UNIT));
        if self.mode.hold_spins > 0 {
            spin(self.mode.hold_spins);
        }
        if self.mode.check {
            IN_USE[id].store(false, Ordering::Release);
        }
        conn
    }
}

/// Busy-loops `n` iterations of a loop the compiler cannot remove.
#[inline(never)]
pub fn spin(n: u32) {
    let mut x = 0u32;
    for i in 0..n {
        x = std::hint::black_box(x.wrapping_add(i));
    }
    std::hint::black_box(x);
}

/// How many [`spin`] iterations take about `target` on this machine (median of a few tries).
pub fn calibrate_spins(target: Duration) -> u32 {
    let probe = 100_000u32;
    let mut per_iter: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            spin(probe);
            t.elapsed().as_nanos() as f64 / probe as f64
        })
        .collect();
    per_iter.sort_by(f64::total_cmp);
    ((target.as_nanos() as f64 / per_iter[3]).round() as u32).max(1)
}

// ---------------------------------------------------------------------------------------------
// Runs

/// What one timed run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Wall-clock time from the start barrier until every worker stopped.
    pub elapsed: Duration,
    /// Cycles completed by each thread.
    pub per_thread: Vec<u64>,
    /// Allocations made inside the measured loops, all threads together.
    pub allocs: u64,
    /// Every recorded checkout wait (ns), all threads together.
    pub waits: Histogram<u64>,
}

impl RunResult {
    /// Cycles completed by all threads.
    pub fn cycles(&self) -> u64 {
        self.per_thread.iter().sum()
    }

    /// Wall-clock nanoseconds per completed cycle (the inverse of throughput).
    pub fn ns_per_cycle(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.cycles().max(1) as f64
    }

    /// Allocations per completed cycle.
    pub fn allocs_per_cycle(&self) -> f64 {
        self.allocs as f64 / self.cycles().max(1) as f64
    }
}

/// Runs `contender` on `threads` threads for about `duration` and measures it.
///
/// Every thread prepares (e.g. builds its async runtime) before a common barrier; the clock
/// starts at the barrier and stops when the last thread has seen the stop flag and finished
/// its batch.
pub fn run(contender: &dyn Contender, threads: usize, duration: Duration, mode: Mode) -> RunResult {
    run_inner(contender, threads, Some(duration), u64::MAX, mode)
}

/// Runs `contender` on one thread for `cycles` cycles (rounded up to a whole batch), with no
/// stop flag: for instruction counts under callgrind.
pub fn run_fixed(contender: &dyn Contender, cycles: u64) -> RunResult {
    run_inner(contender, 1, None, cycles, Mode::default())
}

fn run_inner(
    contender: &dyn Contender,
    threads: usize,
    duration: Option<Duration>,
    limit: u64,
    mode: Mode,
) -> RunResult {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut w = Worker {
                        stop: &stop,
                        limit,
                        mode,
                        waits: wait_histogram(),
                    };
                    let (cycles, allocs) = contender.work(&mut w, &barrier);
                    (cycles, allocs, w.waits)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        if let Some(duration) = duration {
            std::thread::sleep(duration);
            stop.store(true, Ordering::Relaxed);
        }
        let mut result = RunResult {
            elapsed: Duration::ZERO,
            per_thread: Vec::with_capacity(threads),
            allocs: 0,
            waits: wait_histogram(),
        };
        for h in handles {
            let (cycles, allocs, waits) = h.join().expect("a benchmark worker panicked");
            result.per_thread.push(cycles);
            result.allocs += allocs;
            // Same bounds on both sides: adding cannot fail.
            let _ = result.waits.add(&waits);
        }
        result.elapsed = start.elapsed();
        result
    })
}

/// How many batches each thread runs before its allocations are counted: one-time set-up
/// that a pool does the first time a thread meets contention (a waiter node, a queue grown
/// to the crowd) is not a cost per cycle. The same for every contender.
pub const WARM_UP_BATCHES: u64 = 4;

/// Runs `cycle` in batches until the worker is stopped; returns (cycles, allocations).
///
/// The allocation count covers the loop only, after its first [`WARM_UP_BATCHES`] batches
/// (the cycles count from the start). Contenders call this from [`Contender::work`] after
/// their own preparation and the barrier.
#[inline]
pub fn drive(w: &mut Worker<'_>, mut cycle: impl FnMut(&mut Worker<'_>)) -> (u64, u64) {
    let mut a0 = thread_allocs();
    let mut n = 0;
    while !w.stopped(n) {
        for _ in 0..BATCH {
            cycle(w);
        }
        n += BATCH;
        if n == WARM_UP_BATCHES * BATCH {
            a0 = thread_allocs();
        }
    }
    (n, thread_allocs() - a0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contenders::{self, Kind};

    /// A "pool" that hands the same connection to every thread: the smoke check must see it.
    struct SharesOneConnection(u64);

    impl Contender for SharesOneConnection {
        fn name(&self) -> &'static str {
            "broken"
        }
        fn kind(&self) -> Kind {
            Kind::Blocking
        }
        fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
            barrier.wait();
            drive(w, |w| {
                w.use_conn(self.0);
            })
        }
    }

    #[test]
    fn smoke_check_catches_a_connection_held_twice() {
        let before = violations();
        let broken = SharesOneConnection(new_conn());
        let mode = Mode {
            check: true,
            hold_spins: 2_000,
            record_waits: false,
        };
        let r = run(&broken, 4, Duration::from_millis(100), mode);
        assert!(r.cycles() > 0);
        assert!(violations() > before, "double use went unnoticed");
    }

    #[test]
    fn every_contender_completes_cycles_on_one_thread() {
        let protos = [
            "proto: entry moved",
            "proto: entry in place",
            "proto: FIFO hand-off",
        ];
        for name in contenders::ALL.iter().chain(&protos) {
            let pool = contenders::build(name, 2);
            let r = run_fixed(pool.as_ref(), 100);
            assert_eq!(r.cycles(), 112, "{name}: whole batches of {BATCH}");
            assert_eq!(pool.name(), *name);
        }
    }
}
