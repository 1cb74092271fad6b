#!/usr/bin/env bash
# Instructions per guarded call (input and output stages, every local detector on), counted
# by callgrind: the difference of CALLS=2N and CALLS=N runs, divided by N, so set-up and
# warm-up cancel out. Usage: benches/scripts/guard_ir.sh [BIN] (default: the guard_ir bench,
# built by `cargo bench -p benches --bench guard_ir --no-run`);
# env SIZE, TEXT (ascii|mixed), N (default 5).
set -euo pipefail
BIN=${1:-$(cargo bench -p benches --bench guard_ir --no-run 2>&1 | grep -o "target/release/deps/guard_ir-[0-9a-f]*" | tail -1)}
N=${N:-5}
ir() {
  local out
  out=$(mktemp)
  CALLS=$1 valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" >/dev/null 2>&1
  grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
  rm -f "$out"
}
a=$(ir "$N")
b=$(ir $((2 * N)))
echo "SIZE=${SIZE:-102400} TEXT=${TEXT:-ascii}: $(( (b - a) / N )) instructions per call"
