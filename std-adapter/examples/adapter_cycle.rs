//! Prints the cost of one uncontended checkout + checkin cycle on the queue pool, borrowed
//! and owned guards, with and without a listener. A quick look, not a benchmark: the
//! `benches/` harness is where comparisons live.
//!
//! ```sh
//! cargo run -p tarn --release --example adapter_cycle
//! ```

use std::hint::black_box;
use std::time::Instant;

use tarn_pool::{Events, Manager, Pool, ResetMode};

/// Connections are numbers; reset does nothing.
struct Numbers;

impl Manager for Numbers {
    type Connection = u64;
    type Error = std::convert::Infallible;
    fn connect(&self) -> Result<u64, Self::Error> {
        Ok(7)
    }
    fn reset(&self, _: &mut u64, _: ResetMode) -> Result<(), Self::Error> {
        Ok(())
    }
    fn close(&self, _: u64) {}
}

struct Nop;
impl<C> Events<C> for Nop {}

fn measure(name: &str, mut f: impl FnMut()) {
    const N: u32 = 5_000_000;
    for _ in 0..N / 10 {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..N {
            f();
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(N));
    }
    println!("{name:<40} {best:6.1} ns/cycle (best of 5)");
}

fn main() {
    core_only();
    let pool = Pool::builder(Numbers).pool_size(4).build().unwrap();
    measure("get + drop (borrowed guard)", || {
        let c = pool.get().unwrap();
        black_box(*c);
    });
    measure("try_get + drop", || {
        let c = pool.try_get().unwrap();
        black_box(*c);
    });
    measure("get_owned + drop", || {
        let c = pool.get_owned().unwrap();
        black_box(*c);
    });
    let none = Pool::builder(Numbers)
        .pool_size(4)
        .reset_on_return(ResetMode::None)
        .build()
        .unwrap();
    measure("get + drop, reset None", || {
        let c = none.get().unwrap();
        black_box(*c);
    });
    let heard = Pool::builder(Numbers)
        .pool_size(4)
        .listener(Nop)
        .build()
        .unwrap();
    measure("get + drop, one no-op listener", || {
        let c = heard.get().unwrap();
        black_box(*c);
    });
}

#[allow(dead_code)]
fn core_only() {
    let core = tarn_core::Builder::new(Numbers)
        .pool_size(4)
        .build()
        .unwrap();
    measure("core try_checkout + drop", || {
        let c = core.try_checkout().unwrap();
        black_box(*c);
    });
}
