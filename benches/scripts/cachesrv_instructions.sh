#!/usr/bin/env bash
# User-space instructions per request of cachesrv, counted by valgrind's callgrind: the same
# for the same binary and requests whatever else the machine does, so small changes to the
# request path can be compared where timings are too noisy.
#
# Usage: benches/scripts/cachesrv_instructions.sh [tests] [pipeline] [requests]
#        (defaults: get,set,incr 16 200000; needs valgrind and redis-benchmark)
# CACHESRV_ARGS: more server arguments, e.g. "--appendonly yes --appendfsync everysec" (the
# data directory is a temporary one).
# Counts include start-up and shutdown (a fixed few million instructions).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${CACHESRV:-$root/target/release/cachesrv}"
tests="${1:-get,set,incr}"; pipeline="${2:-16}"; n="${3:-200000}"
[ -x "$bin" ] || { echo "build first: cargo build --release -p cachesrv" >&2; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for t in ${tests//,/ }; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$t" "$bin" --port "$port" --save '' \
    --server-threads 1 --loglevel warning --dir "$out" ${CACHESRV_ARGS:-} >/dev/null 2>"$out/valgrind.$t" &
  pid=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-benchmark -p "$port" --threads 1 -c 50 -n "$n" -P "$pipeline" -t "$t" --csv >/dev/null
  kill -INT "$pid"; wait "$pid" || true
  total=$(awk '/^(summary|totals):/ {print $2; exit}' "$out/cg.$t")
  echo "$t -P $pipeline: $((total / n)) instructions per request ($total for $n requests)"
done
