#!/usr/bin/env bash
# no_std: tarn-core builds for bare-metal targets with and without `alloc` (thumbv6m and
# riscv32imc through portable-atomic, where crossbeam's ArrayQueue does not exist and the
# tagged stack serves), no `std` enters its dependency graph (nostd-check/), and the
# firmware example that uses a `static` FixedPool builds for the three targets.
set -euo pipefail
cd "$(dirname "$0")/.."

run() { printf '+ %s\n' "$*"; "$@"; }
export CARGO_TARGET_DIR="$PWD/target/nostd"

run rustup target add thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf

# tarn-core itself. `critical-section` selects portable-atomic's critical-section backend,
# which a library build needs only declared (the firmware provides it at link time).
run timeout 600 cargo build -p tarn-core --no-default-features --target thumbv7em-none-eabihf
run timeout 600 cargo build -p tarn-core --target thumbv7em-none-eabihf
for target in thumbv6m-none-eabi riscv32imc-unknown-none-elf; do
  run timeout 600 cargo build -p tarn-core --no-default-features --features critical-section --target "$target"
  run timeout 600 cargo build -p tarn-core --features critical-section --target "$target"
done

# The dependency graph, for the log.
run cargo tree -p tarn-core -e normal --target thumbv6m-none-eabi --features critical-section

# No std in the graph: a no_std staticlib with its own panic handler (and allocator) fails
# with "duplicate lang item panic_impl" on the host, or "can't find crate for std" on
# bare metal, if anything links std.
(
  cd nostd-check
  run timeout 600 cargo build
  run timeout 600 cargo build --features alloc
  run timeout 600 cargo build --features alloc --target thumbv7em-none-eabihf
)

# The firmware example: a #![no_std] #![no_main] program with a `static` FixedPool.
(
  cd firmware-example
  for target in thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imc-unknown-none-elf; do
    run timeout 600 cargo build --release --target "$target"
    ls -l "$CARGO_TARGET_DIR/$target/release/tarn-firmware-example"
  done
)
echo "nostd: ok"
