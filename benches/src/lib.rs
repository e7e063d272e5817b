//! Benchmarks of tarn; see `benches/`.
