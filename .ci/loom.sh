#!/usr/bin/env bash
# loom: every model in loom-tests/ at preemption bound 2, then the core models at bound 3
# (except the three-thread ones, which take ~25 s each there). See loom-tests/README.md.
#
# The models run in `--release` (loom explores thousands of executions) with debug
# assertions on, so the core's own accounting checks (`debug_assert!`s such as "a reservation
# found no free slot") fire inside the models too. Its own target directory: these flags
# change every crate's build. The timeouts cap the whole script at 7 minutes; it takes about
# 2 here (a cold build of ~90 s, then ~10 s per bound).
set -euo pipefail
cd "$(dirname "$0")/.."

run() { printf '+ %s\n' "$*"; "$@"; }
export CARGO_TARGET_DIR="$PWD/target/loom-debug"
export RUSTFLAGS="--cfg tarn_loom"
export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true

# Never workspace-wide: only this crate's graph is built with --cfg tarn_loom.
run timeout 240 cargo test -p loom-tests --release --no-run
LOOM_MAX_PREEMPTIONS=2 run timeout 90 cargo test -p loom-tests --release

core_tests=()
for f in loom-tests/tests/core_*.rs; do
  core_tests+=(--test "$(basename "$f" .rs)")
done
LOOM_MAX_PREEMPTIONS=3 run timeout 90 cargo test -p loom-tests --release "${core_tests[@]}" \
  -- --skip three_threads
echo "loom: ok"
