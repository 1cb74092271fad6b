#!/usr/bin/env bash
# Two builds of cachesrv against each other on the GET/SET path, alternating A, B, A, B...:
# each server pinned to core 0 (`--server-threads 1`), redis-benchmark pinned to core 1, and
# the server's own CPU (user + system ticks from /proc/<pid>/stat, fields 14 and 15) over the
# run, so a shared machine's noise shows in ops/s more than in CPU per request.
#
# Usage: benches/scripts/cachesrv_ab.sh BIN_A BIN_B [rounds] [requests]
#        (defaults: 2 rounds of 2 000 000 requests per test; needs redis-benchmark, taskset)
# Prints one line per run: build, round, SET and GET requests per second, the server's CPU
# ticks and microseconds of CPU per request (both tests together).
set -euo pipefail
a="$1"; b="$2"; rounds="${3:-2}"; n="${4:-2000000}"
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() {
  local name="$1" bin="$2" round="$3" port pid t0 t1 csv set get
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  taskset -c 0 "$bin" --port "$port" --save '' --server-threads 1 --loglevel warning >/dev/null &
  pid=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  t0=$(ticks "$pid")
  csv=$(taskset -c 1 redis-benchmark -p "$port" -c 16 -P 16 -n "$n" -t get,set -r 100000 --csv)
  t1=$(ticks "$pid")
  kill -INT "$pid"; wait "$pid" || true
  set=$(echo "$csv" | awk -F'","' '/^"SET"/ {print $2}')
  get=$(echo "$csv" | awk -F'","' '/^"GET"/ {print $2}')
  awk -v name="$name" -v r="$round" -v s="$set" -v g="$get" -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" \
    'BEGIN { printf "%s round %d: SET %.0f/s GET %.0f/s, server CPU %d ticks, %.3f us per request\n", name, r, s, g, t, t * 1e6 / hz / (2 * n) }'
}
for r in $(seq "$rounds"); do
  run A "$a" "$r"
  run B "$b" "$r"
done
