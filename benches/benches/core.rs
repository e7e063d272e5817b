//! Criterion micro-benchmarks of tarn's hot paths, one group per API path, setup outside
//! `b.iter`:
//!
//! - `checkout_checkin/uncontended`: check a connection out and return it, one thread (the
//!   FIFO queue, and the affinity order with a `Hint`);
//! - `try_get/exhausted`: the failing non-blocking checkout of a pool whose only connection
//!   is out (and, for the affinity order, whose 16 connections are out: its scan visits
//!   every slot);
//! - `invalidate_all`: pool-wide invalidation (an epoch bump);
//! - `state`: the counter snapshot.
//!
//! Each group measures tarn-core's `Pool` and, with the `adapter` feature, `tarn_pool::Pool`.
//! Run: `cargo bench -p tarn-benches --bench core` (add `--features adapter` for `tarn`).

use std::hint::black_box;

use criterion::Criterion;
use tarn_benches::contenders::UnitManager;

fn core_pool(size: usize) -> tarn_core::Pool<UnitManager> {
    core_pool_in(size, tarn_core::IdleOrder::Fifo)
}

fn core_pool_in(size: usize, order: tarn_core::IdleOrder) -> tarn_core::Pool<UnitManager> {
    tarn_core::Builder::new(UnitManager)
        .pool_size(size)
        .max_overflow(0)
        .idle_order(order)
        .build()
        .expect("valid settings")
}

#[cfg(feature = "adapter")]
fn adapter_pool(size: usize) -> tarn_pool::Pool<UnitManager> {
    tarn_pool::Pool::builder(UnitManager)
        .pool_size(size)
        .max_overflow(0)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("valid settings")
}

fn checkout_checkin(c: &mut Criterion) {
    let mut g = c.benchmark_group("checkout_checkin/uncontended");
    let pool = core_pool(4);
    drop(pool.try_checkout().expect("opens"));
    g.bench_function("tarn-core try_checkout", |b| {
        b.iter(|| {
            let mut conn = pool.try_checkout().expect("idle connection");
            *conn = black_box(*conn + 1);
        })
    });
    let affinity = core_pool_in(4, tarn_core::IdleOrder::Affinity);
    let mut hint = tarn_core::Hint::new();
    drop(affinity.try_checkout_hinted(&mut hint).expect("opens"));
    g.bench_function("tarn-core affinity try_checkout_hinted", |b| {
        b.iter(|| {
            let mut conn = affinity
                .try_checkout_hinted(&mut hint)
                .expect("idle connection");
            *conn = black_box(*conn + 1);
        })
    });
    #[cfg(feature = "adapter")]
    {
        let pool = adapter_pool(4);
        drop(pool.get().expect("opens"));
        g.bench_function("tarn get", |b| {
            b.iter(|| {
                let mut conn = pool.get().expect("idle connection");
                *conn = black_box(*conn + 1);
            })
        });
    }
    g.finish();
}

fn try_get_exhausted(c: &mut Criterion) {
    let mut g = c.benchmark_group("try_get/exhausted");
    let pool = core_pool(1);
    let _held = pool.try_checkout().expect("opens");
    g.bench_function("tarn-core try_checkout", |b| {
        b.iter(|| black_box(pool.try_checkout().is_err()))
    });
    let affinity = core_pool_in(16, tarn_core::IdleOrder::Affinity);
    let mut hint = tarn_core::Hint::new();
    let _all: Vec<_> = (0..16)
        .map(|_| affinity.try_checkout_hinted(&mut hint).expect("opens"))
        .collect();
    g.bench_function("tarn-core affinity, 16 out", |b| {
        b.iter(|| black_box(affinity.try_checkout_hinted(&mut hint).is_err()))
    });
    #[cfg(feature = "adapter")]
    {
        let pool = adapter_pool(1);
        let _held = pool.get().expect("opens");
        g.bench_function("tarn try_get", |b| {
            b.iter(|| black_box(pool.try_get().is_err()))
        });
    }
    g.finish();
}

fn invalidate_all(c: &mut Criterion) {
    let mut g = c.benchmark_group("invalidate_all");
    let pool = core_pool(4);
    g.bench_function("tarn-core", |b| {
        b.iter(|| black_box(&pool).invalidate_all())
    });
    #[cfg(feature = "adapter")]
    {
        let pool = adapter_pool(4);
        g.bench_function("tarn", |b| b.iter(|| black_box(&pool).invalidate_all()));
    }
    g.finish();
}

fn state(c: &mut Criterion) {
    let mut g = c.benchmark_group("state");
    let pool = core_pool(4);
    let _held = pool.try_checkout().expect("opens");
    g.bench_function("tarn-core", |b| {
        b.iter(|| black_box(black_box(&pool).state()))
    });
    #[cfg(feature = "adapter")]
    {
        let pool = adapter_pool(4);
        let _held = pool.get().expect("opens");
        g.bench_function("tarn", |b| b.iter(|| black_box(black_box(&pool).state())));
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    checkout_checkin(&mut c);
    try_get_exhausted(&mut c);
    invalidate_all(&mut c);
    state(&mut c);
    c.final_summary();
}
