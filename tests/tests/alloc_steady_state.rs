//! Zero allocations per checkout/checkin cycle in steady state, counted by a global
//! allocator: tarn-core's heap `Pool` (FIFO and LIFO), its `FixedPool`, and the std adapter's
//! `tarn_pool::Pool::get` / `try_get`.
//!
//! The allocator counts only on a thread that armed it (a `const` thread-local, which needs
//! no allocation itself), so tests running in parallel do not disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tarn_core::testing::ScriptedManager;
use tarn_core::{Builder, FixedPool, IdleOrder, NoClock, NopEvents, Settings};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the `GlobalAlloc`
// contract; the counting touches only `const` thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded from the caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    COUNT.with(|c| c.get())
}

const CYCLES: usize = if cfg!(miri) { 20 } else { 10_000 };

#[test]
fn the_counter_counts() {
    let n = allocations(|| drop(std::hint::black_box(Box::new(7u64))));
    assert_eq!(n, 1, "the counting allocator must see a Box");
}

#[test]
fn core_pool_cycles_allocate_nothing() {
    for order in [IdleOrder::Fifo, IdleOrder::Lifo] {
        let pool = Builder::new(ScriptedManager::new())
            .pool_size(2)
            .max_overflow(1)
            .idle_order(order)
            .build()
            .unwrap();
        // Warm up: open the connections the steady state reuses.
        drop((pool.try_checkout().unwrap(), pool.try_checkout().unwrap()));
        let n = allocations(|| {
            for _ in 0..CYCLES {
                let a = pool.try_checkout().unwrap();
                let b = pool.try_checkout().unwrap();
                drop(a);
                drop(b);
            }
        });
        assert_eq!(n, 0, "{order:?}: {n} allocations in {CYCLES} cycles");
        assert_eq!(
            pool.manager().opened(),
            2,
            "steady state reuses the same connections"
        );
    }
}

#[test]
fn fixed_pool_cycles_allocate_nothing() {
    let pool: FixedPool<ScriptedManager, 3> = FixedPool::with_parts(
        ScriptedManager::new(),
        NopEvents,
        NoClock,
        Settings::new().pool_size(2),
    );
    drop((pool.try_checkout().unwrap(), pool.try_checkout().unwrap()));
    let n = allocations(|| {
        for _ in 0..CYCLES {
            let a = pool.try_checkout().unwrap();
            drop(a);
        }
    });
    assert_eq!(n, 0, "{n} allocations in {CYCLES} cycles");
}

#[test]
fn adapter_get_cycles_allocate_nothing() {
    let pool = tarn_pool::Pool::builder(ScriptedManager::new())
        .pool_size(2)
        .build()
        .unwrap();
    drop((pool.get().unwrap(), pool.get().unwrap()));
    let n = allocations(|| {
        for _ in 0..CYCLES {
            let a = pool.get().unwrap();
            let b = pool.get().unwrap();
            drop(a);
            drop(b);
        }
    });
    assert_eq!(n, 0, "get: {n} allocations in {CYCLES} cycles");
    let n = allocations(|| {
        for _ in 0..CYCLES {
            drop(pool.try_get().unwrap());
        }
    });
    assert_eq!(n, 0, "try_get: {n} allocations in {CYCLES} cycles");
}

#[test]
fn waiting_allocates_nothing_once_warm() {
    // Two threads take turns on one connection, so every checkout but the first waits:
    // the queue reuses its waiter nodes, and its storage is already grown.
    for fairness in [
        tarn_pool::Fairness::Strict,
        tarn_pool::Fairness::Eventual(std::time::Duration::ZERO),
    ] {
        let pool = tarn_pool::Pool::builder(ScriptedManager::new())
            .pool_size(1)
            .max_overflow(0)
            .fairness(fairness)
            .build()
            .unwrap();
        const TURNS: usize = 200;
        let waits = std::sync::atomic::AtomicUsize::new(0);
        let counts: Vec<usize> = std::thread::scope(|s| {
            let run = || {
                // Warm up: the first wait allocates the node (and the queue its storage).
                for _ in 0..20 {
                    let c = pool.get().unwrap();
                    std::thread::sleep(std::time::Duration::from_micros(100));
                    drop(c);
                }
                allocations(|| {
                    for _ in 0..TURNS {
                        let c = pool.get().unwrap();
                        // Hold it long enough for the other thread to queue.
                        std::thread::sleep(std::time::Duration::from_micros(100));
                        if pool.state().waiting > 0 {
                            waits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        drop(c);
                    }
                })
            };
            let a = s.spawn(run);
            let b = s.spawn(run);
            vec![a.join().unwrap(), b.join().unwrap()]
        });
        let waited = waits.load(std::sync::atomic::Ordering::Relaxed);
        println!("{fairness:?}: {waited} checkouts saw a waiter; allocations {counts:?}");
        assert!(
            waited > 0,
            "{fairness:?}: the threads never waited; the test proves nothing"
        );
        assert_eq!(counts, [0, 0], "{fairness:?}: allocations while waiting");
    }
}
