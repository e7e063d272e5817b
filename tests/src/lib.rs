//! Integration tests of tarn live in `tests/`; this library is empty.
