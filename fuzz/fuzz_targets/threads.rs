//! The same operations from two or three threads on one pool, checking what every
//! interleaving must keep: never more than `pool_size + max_overflow` open, no connection
//! held twice, every opened connection closed exactly once after `dispose`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tarn_model::Concurrent;

fuzz_target!(|data: &[u8]| {
    if let Some(run) = Concurrent::new(data) {
        std::thread::scope(|s| {
            for t in 0..run.threads() {
                let run = &run;
                s.spawn(move || run.run_thread(t));
            }
        });
        run.finish();
    }
});
