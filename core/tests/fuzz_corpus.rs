//! Replays the committed fuzz corpus (`fuzz/corpus/`) as plain tests, decoding every input
//! exactly as the fuzz targets do, plus hand-written scenarios that pin the model's rules.
//!
//! `model`: the pool against the sequential model (`tarn_model::run_ops`).
//! `threads`: the same operations from several threads, checking the invariants
//! (`tarn_model::Concurrent`).

use std::fs;
use std::path::{Path, PathBuf};

use tarn_model::{decode, run_ops, Concurrent, Op, StorageKind};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let data = fs::read(&path).expect("a corpus file");
            (path, data)
        })
        .collect();
    inputs.sort();
    // Under Miri, an evenly spread sample keeps the run short.
    if cfg!(miri) {
        let keep = if target == "threads" { 2 } else { 3 };
        let step = inputs.len().div_ceil(keep).max(1);
        inputs = inputs.into_iter().step_by(step).collect();
    }
    inputs
}

/// Builds an input from a config byte and operations.
fn input(config: [u8; 4], ops: &[Op]) -> Vec<u8> {
    let mut data = config.to_vec();
    for op in ops {
        data.extend_from_slice(&op.encode());
    }
    data
}

#[test]
fn model_corpus_replays_without_divergence() {
    let inputs = corpus("model");
    assert!(!inputs.is_empty(), "the model corpus is committed");
    let mut seen_ops = std::collections::HashSet::new();
    let mut checkouts = 0;
    for (path, data) in &inputs {
        let (config, ops) = decode(data);
        for op in &ops {
            seen_ops.insert(std::mem::discriminant(op));
        }
        match run_ops(&config, &ops) {
            Ok(report) => checkouts += report.checkouts,
            Err(d) => panic!("{}: {d}", path.display()),
        }
    }
    if !cfg!(miri) {
        assert_eq!(seen_ops.len(), 15, "the corpus exercises every operation");
        assert!(checkouts > 0);
    }
}

#[test]
fn threads_corpus_replays_without_broken_invariants() {
    let inputs = corpus("threads");
    assert!(!inputs.is_empty(), "the threads corpus is committed");
    for (_path, data) in &inputs {
        if let Some(run) = Concurrent::new(data) {
            std::thread::scope(|s| {
                for t in 0..run.threads() {
                    let run = &run;
                    s.spawn(move || run.run_thread(t));
                }
            });
            run.finish();
        }
    }
}

fn run(config: [u8; 4], ops: &[Op]) -> tarn_model::Report {
    let data = input(config, ops);
    let (config, ops) = decode(&data);
    run_ops(&config, &ops).unwrap_or_else(|d| panic!("{d}"))
}

// Config byte 0: bit 0 fixed, bits 1-2 pool_size, bits 3-4 max_overflow, bit 5 LIFO,
// bit 6 pre-ping. Byte 1: bit 0 recycle, age (b >> 1) % 8. Byte 2: reset mode.
const HEAP_2_1: u8 = (2 << 1) | (1 << 3);

#[test]
fn decoding_reads_the_documented_layout() {
    let (config, ops) = decode(&[HEAP_2_1 | 0x20 | 0x40, 0b101, 1, 1, 0, 0, 5, 3]);
    assert_eq!(config.storage, StorageKind::Heap);
    assert_eq!((config.pool_size, config.max_overflow), (2, 1));
    assert_eq!(config.order, tarn_core::IdleOrder::Lifo);
    assert!(config.pre_ping);
    assert_eq!(config.recycle, Some(2));
    assert_eq!(config.reset, tarn_core::ResetMode::Commit);
    assert_eq!(config.threads, 3);
    assert_eq!(ops, [Op::Checkout, Op::Checkin(3)]);
    for op in [
        Op::Checkout,
        Op::Checkin(7),
        Op::Invalidate(1),
        Op::SoftInvalidate(2),
        Op::Detach(0),
        Op::CloseDetached(4),
        Op::InvalidateAll,
        Op::Dispose,
        Op::Recreate,
        Op::Advance(5),
        Op::FailConnects(2),
        Op::FailResets(1),
        Op::FailPings(2),
        Op::DisconnectPings(1),
        Op::HookDisconnects(2),
    ] {
        let [a, b] = op.encode();
        assert_eq!(Op::decode(a, b), op);
    }
}

#[test]
fn overflow_is_bounded_and_extra_returns_close() {
    use Op::*;
    let r = run(
        [HEAP_2_1, 0, 0, 0],
        &[
            Checkout,
            Checkout,
            Checkout,
            Checkout,
            Checkin(0),
            Checkin(0),
            Checkin(0),
        ],
    );
    assert_eq!((r.checkouts, r.would_block, r.opened), (3, 1, 3));
}

#[test]
fn hook_disconnect_twice_fails_and_closes_both() {
    use Op::*;
    let r = run(
        [HEAP_2_1, 0, 0, 0],
        &[HookDisconnects(2), Checkout, Checkout],
    );
    assert_eq!((r.failed, r.checkouts, r.opened), (1, 1, 3));
}

#[test]
fn stale_soft_recycled_and_failed_connections_are_replaced() {
    use Op::*;
    let r = run(
        [HEAP_2_1 | 0x40, 0b011, 0, 0], // pre-ping, recycle after 1 tick
        &[
            Checkout,
            Checkout,
            SoftInvalidate(0),
            Checkin(0),
            Checkin(0), // one kept
            InvalidateAll,
            Checkout,
            Checkin(0), // replaced
            Advance(2),
            Checkout,
            Checkin(0), // recycled
            FailPings(1),
            Checkout,
            Checkin(0), // pinged out
            DisconnectPings(1),
            Checkout,
            FailResets(1),
            Checkin(0), // reset fails
            FailConnects(1),
            Checkout,
            Checkout,
            Detach(0),
            CloseDetached(0),
            Dispose,
            Recreate,
            Checkout,
        ],
    );
    assert!(r.opened >= 7, "{r:?}");
    assert_eq!(r.pools, 2);
}

#[test]
fn fixed_pool_follows_the_same_rules() {
    use Op::*;
    // Fixed storage, pool_size 1: four slots, one kept idle, LIFO.
    let r = run(
        [1 | (1 << 1), 0, 2, 0],
        &[
            Checkout,
            Checkout,
            Checkout,
            Checkout,
            Checkout,
            Checkin(1),
            Checkin(0),
            Checkout,
            Dispose,
            Checkin(0),
        ],
    );
    assert_eq!((r.checkouts, r.would_block), (5, 1));
}

#[test]
fn zero_capacity_is_refused() {
    let r = run([0, 0, 0, 0], &[Op::Checkout]);
    assert_eq!(r.pools, 0);
}

#[test]
fn recycle_replaces_only_connections_strictly_older_than_the_age() {
    use Op::*;
    // Recycle age 2 ticks: at age 2 the connection is kept, at age 3 it is replaced.
    let r = run(
        [HEAP_2_1, 0b101, 0, 0],
        &[
            Checkout,
            Checkin(0),
            Advance(2),
            Checkout,
            Checkin(0),
            Advance(1),
            Checkout,
        ],
    );
    assert_eq!((r.checkouts, r.opened), (3, 2));
}

// Config byte 2, bit 2: unlimited overflow; bit 3: keep nothing idle.
const UNLIMITED: u8 = 4;
const RETAIN_NOTHING: u8 = 8;

#[test]
fn unlimited_overflow_never_blocks_and_keeps_pool_size_idle() {
    use Op::*;
    // Heap, pool_size 2 (max_overflow ignored), every order byte: always FIFO, never blocks.
    for order in [0, 0x20, 0x80] {
        let r = run(
            [(2 << 1) | order, 0, UNLIMITED, 0],
            &[
                Checkout,
                Checkout,
                Checkout,
                Checkout,
                Checkout,
                Checkin(4), // the newest first: the idle set is empty, so it is kept
                Checkin(0),
                Checkin(0), // the idle set is full now: closed
                Invalidate(0),
                SoftInvalidate(0),
                Checkin(0),
                Checkout,
                Checkout,
                Checkout,
                Dispose,
            ],
        );
        assert_eq!((r.checkouts, r.would_block), (8, 0), "{r:?}");
    }
    // pool_size 0 with unlimited overflow keeps every return (up to the cap).
    let r = run(
        [0, 0, UNLIMITED, 0],
        &[
            Checkout,
            Checkout,
            Checkout,
            Checkin(0),
            Checkin(0),
            Checkin(0),
            Checkout,
        ],
    );
    assert_eq!((r.checkouts, r.opened), (4, 3));
}

#[test]
fn a_pool_that_keeps_nothing_closes_every_return_in_every_shape() {
    use Op::*;
    for (b0, b2) in [
        (HEAP_2_1, RETAIN_NOTHING),            // bounded heap
        (0, RETAIN_NOTHING | UNLIMITED),       // NullPool's shape
        (1 | (1 << 1), RETAIN_NOTHING),        // fixed
        (HEAP_2_1 | 0x80, RETAIN_NOTHING | 1), // affinity, commit
    ] {
        let r = run(
            [b0, 0, b2, 0],
            &[
                Checkout,
                Checkin(0),
                Checkout,
                Checkin(0),
                Checkout,
                Invalidate(0),
            ],
        );
        assert_eq!((r.checkouts, r.opened), (3, 3), "{b0:#x} {b2:#x}: {r:?}");
    }
}

#[test]
fn a_fixed_pool_reads_unlimited_overflow_as_its_slots() {
    use Op::*;
    let r = run(
        [1 | (1 << 1), 0, UNLIMITED, 0],
        &[Checkout, Checkout, Checkout, Checkout, Checkout],
    );
    assert_eq!((r.checkouts, r.would_block), (4, 1));
}
