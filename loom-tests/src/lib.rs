//! loom models of tarn-core live in `tests/`; this library is empty.
