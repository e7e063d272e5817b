#!/usr/bin/env bash
# Fuzzing: each cargo-fuzz target for FUZZ_SECONDS (default 60), starting from the
# committed corpus. New inputs go to target/fuzz/corpus-<name>, not into the repository;
# a failing input is saved under fuzz/artifacts/<name>/ and printed.
set -euo pipefail
cd "$(dirname "$0")/.."

run() { printf '+ %s\n' "$*"; "$@"; }
seconds="${FUZZ_SECONDS:-60}"
target_dir="$PWD/target/fuzz"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  run timeout 600 cargo install cargo-fuzz --locked
fi

cd fuzz
run timeout 900 cargo +nightly fuzz build --target-dir "$target_dir"
for name in model threads; do
  work="$target_dir/corpus-$name"
  mkdir -p "$work"
  extra=()
  envs=()
  # Thread start-up inside std allocates per-thread data that LeakSanitizer reports
  # spuriously; connection leaks are caught by the target's own close counts. libFuzzer's
  # flag turns off the check per input; ASAN_OPTIONS turns off the one at exit, which once
  # reported a scoped thread's handle (48 bytes, std's `Thread::new`) after a clean run.
  if [ "$name" = threads ]; then
    extra+=(-detect_leaks=0)
    envs+=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
  fi
  # `timeout`: a panic unwinding into a spinning Drop would hang instead of failing.
  run "${envs[@]}" timeout $((seconds + 240)) cargo +nightly fuzz run --target-dir "$target_dir" "$name" \
    "$work" "corpus/$name" -- -max_total_time="$seconds" -max_len=516 "${extra[@]}" \
    2>&1 | tee "$target_dir/$name.log" | grep -vE '^(#[0-9]+|"|###### )' || {
      echo "fuzz: $name failed; artifacts:" >&2
      ls -l "artifacts/$name" >&2 || true
      exit 1
    }
  # Executions and final corpus size (libFuzzer's "DONE" line: corp: <inputs>/<bytes>).
  grep -E 'DONE' "$target_dir/$name.log"
done
echo "fuzz: ok"
