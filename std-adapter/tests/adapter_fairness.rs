//! The measured scenario: 16 threads on a pool of 4, with strict and with eventual fairness,
//! on the FIFO queue and on the affinity order.
//! Prints the worst lateness of a timeout and the spread of checkouts per thread (run with
//! `--nocapture`). Asserts only generous correctness bounds; the figures themselves are for
//! the report, not for assertions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tarn_core::testing::ScriptedManager;
use tarn_pool::{Fairness, IdleOrder, Pool};

const THREADS: usize = 16;
const POOL: usize = 4;

#[test]
fn sixteen_threads_on_a_pool_of_four() {
    scenario(Fairness::Strict, IdleOrder::Fifo);
}

#[test]
fn sixteen_threads_on_a_pool_of_four_eventually_fair() {
    scenario(
        Fairness::Eventual(Duration::from_micros(500)),
        IdleOrder::Fifo,
    );
}

#[test]
fn sixteen_threads_on_a_pool_of_four_affinity() {
    scenario(Fairness::Strict, IdleOrder::Affinity);
    scenario(
        Fairness::Eventual(Duration::from_micros(500)),
        IdleOrder::Affinity,
    );
}

fn scenario(fairness: Fairness, order: IdleOrder) {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pool_size(POOL)
        .max_overflow(0)
        .timeout(Duration::from_secs(20))
        .fairness(fairness)
        .idle_order(order)
        .build()
        .unwrap();

    // Phase 1, fairness: every thread loops get / hold / drop for a fixed time.
    let run = Duration::from_millis(if cfg!(debug_assertions) { 1500 } else { 2000 });
    let stop = AtomicBool::new(false);
    let counts = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let c = pool.get().expect("served within 20 s");
                    // Hold it a little, as a query would.
                    let until = Instant::now() + Duration::from_micros(50);
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    drop(c);
                    n += 1;
                }
                counts.lock().unwrap().push(n);
            });
        }
        std::thread::sleep(run);
        stop.store(true, Ordering::Relaxed);
    });
    let counts = counts.into_inner().unwrap();
    let total: u64 = counts.iter().sum();
    let min = *counts.iter().min().unwrap();
    let max = *counts.iter().max().unwrap();
    let mean = total as f64 / THREADS as f64;
    let sd = (counts
        .iter()
        .map(|&c| (c as f64 - mean).powi(2))
        .sum::<f64>()
        / THREADS as f64)
        .sqrt();
    println!(
        "fairness ({fairness:?}, {order:?}): {THREADS} threads, pool {POOL}, {run:?}: {total} checkouts; per thread min {min} max {max} mean {mean:.0} sd {sd:.0} (cv {:.1}%), max/min {:.2}",
        100.0 * sd / mean,
        max as f64 / min.max(1) as f64
    );
    assert!(min > 0, "a thread was starved: {counts:?}");

    // Phase 2, timeouts: 4 holders keep every connection; 12 waiters time out.
    let lateness = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        let held: Vec<_> = (0..POOL).map(|_| pool.get().unwrap()).collect();
        for i in 0..(THREADS - POOL) {
            let (pool, lateness) = (&pool, &lateness);
            s.spawn(move || {
                for round in 0..5u64 {
                    let timeout = Duration::from_millis(10 + 7 * ((i as u64 + round) % 6));
                    let start = Instant::now();
                    let err = pool.get_timeout(timeout).unwrap_err();
                    let waited = start.elapsed();
                    assert!(err.is_timeout());
                    assert!(
                        waited >= timeout,
                        "timed out early: {waited:?} < {timeout:?}"
                    );
                    lateness.lock().unwrap().push(waited - timeout);
                }
            });
        }
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(600));
            drop(held);
        });
    });
    let mut late = lateness.into_inner().unwrap();
    late.sort();
    let worst = *late.last().unwrap();
    let median = late[late.len() / 2];
    println!(
        "timeout lateness ({fairness:?}, {order:?}): {} timeouts, median {median:?}, worst {worst:?}",
        late.len()
    );
    assert!(
        worst < Duration::from_secs(1),
        "a deadline was badly missed: {worst:?}"
    );
    assert_eq!(pool.state().waiting, 0);
    drop(pool);
    manager.assert_all_closed_once(0);
}
