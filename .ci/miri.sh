#!/usr/bin/env bash
# Miri: tarn-core's unit, integration and doc tests under the interpreter (loops scaled
# down with cfg!(miri)), catching undefined behaviour in the slot protocol and the stack.
set -euo pipefail
cd "$(dirname "$0")/.."

run() { printf '+ %s\n' "$*"; "$@"; }
export CARGO_TARGET_DIR="$PWD/target/miri"

run rustup +nightly component add miri rust-src
run timeout 300 cargo +nightly miri setup
# Many seeds would multiply the run time; one thread-schedule seed per run, as printed.
export MIRIFLAGS="${MIRIFLAGS:-}"
run timeout 900 cargo +nightly miri test -p tarn-core --features testing
echo "miri: ok"
