//! tarn: the std adapter of the tarn connection pool (work in progress).
#![forbid(unsafe_code)]

pub mod managers;

pub use tarn_core as core;
