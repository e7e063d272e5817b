#!/usr/bin/env bash
# Miri: tarn-core's unit, integration and doc tests under the interpreter (loops scaled
# down with cfg!(miri)), catching undefined behaviour in the slot protocol and the stack.
set -euo pipefail
cd "$(dirname "$0")/.."

run() { printf '+ %s\n' "$*"; "$@"; }
export CARGO_TARGET_DIR="$PWD/target/miri"

run rustup +nightly component add miri rust-src
run timeout 300 cargo +nightly miri setup
# The fuzz corpus replay reads fuzz/corpus/ from disk.
export MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-disable-isolation"

# Unit and integration tests, with Miri's leak check on (doc tests are examples, and each
# one would be interpreted from a fresh build: they run in the main test job instead).
run timeout 600 cargo +nightly miri test -p tarn-core --features testing --lib --tests
echo "miri: ok"
