#!/bin/bash
# SET throughput and server CPU of one release cachesrv, for `appendonly` comparisons.
#
# Usage: benches/scripts/aof_cpu.sh [server args...]
#   benches/scripts/aof_cpu.sh                                          # no persistence
#   benches/scripts/aof_cpu.sh --appendonly yes --appendfsync everysec
# Starts cachesrv pinned to core 0 with one server thread (data directory /tmp/aofq), runs
# `redis-benchmark -c 16 -P 16 -n 4000000 -r 100000 -t set` pinned to core 1, and prints the
# benchmark's CSV line with the server's user and system CPU ticks (all its threads) over the
# run. Run the configurations alternately, several times each, and compare ratios.
# CACHESRV_BIN: the binary (default: target/release/cachesrv of this checkout). C, P and N:
# the benchmark's clients, pipeline depth and requests (16, 16, 4000000). `C=1 P=256` makes
# every loop turn one batch of 256 requests, so the server's CPU per request does not depend
# on how the two processes' timing groups requests into batches.
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${CACHESRV_BIN:-$root/target/release/cachesrv}"
rm -rf /tmp/aofq; mkdir -p /tmp/aofq
taskset -c 0 "$bin" --port 7302 --server-threads 1 --dir /tmp/aofq --save "" "$@" >/dev/null 2>&1 &
PID=$!
sleep 0.5
u0=$(awk "{print \$14}" /proc/$PID/stat); s0=$(awk "{print \$15}" /proc/$PID/stat)
out=$(taskset -c 1 redis-benchmark -p 7302 -c "${C:-16}" -P "${P:-16}" -n "${N:-4000000}" -r 100000 -t set --csv | tail -1)
u1=$(awk "{print \$14}" /proc/$PID/stat); s1=$(awk "{print \$15}" /proc/$PID/stat)
redis-cli -p 7302 shutdown nosave >/dev/null 2>&1; sleep 0.5
echo "$* : $out user=$(( (u1-u0) )) sys=$(( (s1-s0) )) ticks"
