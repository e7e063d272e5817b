#!/usr/bin/env bash
# Miri: tarn-core's unit, integration and doc tests under the interpreter (loops scaled
# down with cfg!(miri)), catching undefined behaviour in the slot protocol and the stack.
set -euo pipefail
cd "$(dirname "$0")/.."

run() { printf '+ %s\n' "$*"; "$@"; }
export CARGO_TARGET_DIR="$PWD/target/miri"

run rustup +nightly component add miri rust-src
run timeout 300 cargo +nightly miri setup
# Tests that leak on purpose (a pool leaked to get a `&'static` for threads): Miri's leak
# check would stop the run, so they run apart with it off; everything else keeps it on.
intentional_leaks=(a_fixed_pool_in_a_static_serves_threads)
# The fuzz corpus replay reads fuzz/corpus/ from disk.
export MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-disable-isolation"
skips=()
for t in "${intentional_leaks[@]}"; do skips+=(--skip "$t"); done

# Unit and integration tests (doc tests are examples, and each one would be interpreted
# from a fresh build: they run in the main test job instead).
run timeout 600 cargo +nightly miri test -p tarn-core --features testing --lib --tests -- "${skips[@]}"
for t in "${intentional_leaks[@]}"; do
  MIRIFLAGS="$MIRIFLAGS -Zmiri-ignore-leaks" \
    run timeout 300 cargo +nightly miri test -p tarn-core --features testing --tests -- --exact "$t"
done
echo "miri: ok"
