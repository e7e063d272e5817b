#!/usr/bin/env bash
# ThreadSanitizer over the multi-thread tests: tarn-core's (its tests and the replayed
# threads fuzz corpus), and the std adapter's test files that start threads.
# A TSan report makes the test binary exit 66 even when the summary says "ok": every
# command's exit code is checked, never its output.
set -euo pipefail
cd "$(dirname "$0")/.."

run() { printf '+ %s\n' "$*"; "$@"; }
export CARGO_TARGET_DIR="$PWD/target/tsan"
export RUSTFLAGS="-Zsanitizer=thread"
export RUSTDOCFLAGS="-Zsanitizer=thread"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1}"
host="$(rustc -vV | sed -n 's/^host: //p')"

run rustup +nightly component add rust-src

tsan_test() {
  local rc=0
  printf '+ cargo +nightly test -Zbuild-std --target %s %s\n' "$host" "$*"
  timeout 600 cargo +nightly test -Zbuild-std --target "$host" "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "tsan: failed with exit code $rc (66 means ThreadSanitizer reported a race)" >&2
    exit "$rc"
  fi
}

# The core: every test target (not the doc tests, which TSan cannot instrument here).
tsan_test -p tarn-core --features testing --lib --tests

# The std adapter's multi-thread tests, whichever exist now: every *stress* / *thread*
# test file, and every other one that starts threads.
adapter_tests=()
shopt -s nullglob
for f in std-adapter/tests/*.rs; do
  name="$(basename "$f" .rs)"
  if [[ "$name" == *stress* || "$name" == *thread* ]] || grep -qE 'thread::(spawn|scope)|std::thread' "$f"; then
    adapter_tests+=(--test "$name")
  fi
done
shopt -u nullglob
if [ "${#adapter_tests[@]}" -gt 0 ]; then
  tsan_test -p tarn-pool "${adapter_tests[@]}"
else
  echo "tsan: no multi-thread tests in std-adapter/tests/ yet"
fi
echo "tsan: ok"
