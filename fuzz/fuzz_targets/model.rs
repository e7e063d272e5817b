//! Random operation sequences on one pool, checked step by step against the sequential
//! model (`tarn_model`): outcomes, which connection is handed out, which are closed,
//! and every counter. Input format: `tarn_model::decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tarn_model::{decode, run_ops};

fuzz_target!(|data: &[u8]| {
    let (config, ops) = decode(data);
    if let Err(divergence) = run_ops(&config, &ops) {
        panic!("{config:?}: {divergence}");
    }
});
