#!/usr/bin/env bash
# loom: every model in loom-tests/ at preemption bound 2, then the core models at bound 3
# (except the two three-thread ones, which take ~25 s each there). See loom-tests/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

run() { printf '+ %s\n' "$*"; "$@"; }
export CARGO_TARGET_DIR="$PWD/target/loom"
export RUSTFLAGS="--cfg tarn_loom"

# Never workspace-wide: only this crate's graph is built with --cfg tarn_loom.
LOOM_MAX_PREEMPTIONS=2 run timeout 600 cargo test -p loom-tests --release

core_tests=()
for f in loom-tests/tests/core_*.rs; do
  core_tests+=(--test "$(basename "$f" .rs)")
done
LOOM_MAX_PREEMPTIONS=3 run timeout 300 cargo test -p loom-tests --release "${core_tests[@]}" -- --skip three_threads
echo "loom: ok"
