//! tarn: the std adapter of the tarn connection pool (work in progress).
#![forbid(unsafe_code)]
pub use tarn_core as core;
