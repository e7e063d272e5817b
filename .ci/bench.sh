#!/usr/bin/env bash
# Benchmarks in CI: build them all, then run the side-by-side harness in smoke mode.
# Smoke mode checks correctness only (every contender makes progress; no connection is ever
# held by two threads at once) and never asserts a timing: this machine is shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."

timeout 1200 cargo bench --no-run -p tarn-benches --all-features
# Same profile as `cargo bench`, so the library built above is reused.
timeout 300 cargo run --profile bench -p tarn-benches --all-features --bin sidebyside -- --smoke >/dev/null
