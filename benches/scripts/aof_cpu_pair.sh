#!/bin/bash
# Two release cachesrv servers on core 0 at the same time, one `redis-benchmark -c 16 -P 16
# -n 4000000 -r 100000 -t set` each on core 1: both share whatever else the machine runs, so
# the ratio of their CPU per request is steadier than alternating runs on a busy machine.
#
# Usage: benches/scripts/aof_cpu_pair.sh "<args A>" "<args B>"
#   benches/scripts/aof_cpu_pair.sh "" "--appendonly yes --appendfsync everysec"
# Prints each side's ops/s and CPU ticks (user + system, all threads) and ticks A / B (for
# A without persistence and B with it: the CPU cost ratio, which is the throughput ratio when
# the server is the bottleneck). CACHESRV_BIN, CACHESRV_BIN_B: the binaries (default:
# target/release/cachesrv of this checkout for both). N: requests per side (4000000); C and P:
# the benchmark's clients and pipeline depth (16 and 16). REDIS=1: two redis-server instead
# (the control run), their ticks including the rewrite children they have waited for.
root="$(cd "$(dirname "$0")/../.." && pwd)"
A="${CACHESRV_BIN:-$root/target/release/cachesrv}"; B="${CACHESRV_BIN_B:-$A}"
AA=$1; BA=$2; N=${N:-4000000}
rm -rf /tmp/pa /tmp/pb; mkdir -p /tmp/pa /tmp/pb
if [ "${REDIS:-0}" = 1 ]; then
  # shellcheck disable=SC2086
  taskset -c 0 redis-server --port 7401 --dir /tmp/pa --save "" $AA >/dev/null 2>&1 &
  PA=$!
  # shellcheck disable=SC2086
  taskset -c 0 redis-server --port 7402 --dir /tmp/pb --save "" $BA >/dev/null 2>&1 &
  PB=$!
  sleep 0.6
  t() { awk '{print $14+$15+$16+$17}' "/proc/$1/stat"; }
else
  # shellcheck disable=SC2086
  taskset -c 0 "$A" --port 7401 --server-threads 1 --dir /tmp/pa --save "" $AA >/dev/null 2>&1 &
  PA=$!
  # shellcheck disable=SC2086
  taskset -c 0 "$B" --port 7402 --server-threads 1 --dir /tmp/pb --save "" $BA >/dev/null 2>&1 &
  PB=$!
  sleep 0.6
  t() { awk '{print $14+$15}' "/proc/$1/stat"; }
fi
a0=$(t "$PA"); b0=$(t "$PB")
(taskset -c 1 redis-benchmark -p 7401 -c "${C:-16}" -P "${P:-16}" -n "$N" -r 100000 -t set --csv | tail -1 > /tmp/pa.out; t "$PA" > /tmp/pa.t) &
J1=$!
(taskset -c 1 redis-benchmark -p 7402 -c "${C:-16}" -P "${P:-16}" -n "$N" -r 100000 -t set --csv | tail -1 > /tmp/pb.out; t "$PB" > /tmp/pb.t) &
J2=$!
wait "$J1" "$J2"
ta=$(( $(cat /tmp/pa.t) - a0 )); tb=$(( $(cat /tmp/pb.t) - b0 ))
oa=$(awk -F'"' '{print $4}' /tmp/pa.out); ob=$(awk -F'"' '{print $4}' /tmp/pb.out)
redis-cli -p 7401 shutdown nosave >/dev/null 2>&1; redis-cli -p 7402 shutdown nosave >/dev/null 2>&1; sleep 0.5
echo "A $oa ops/s ticks=$ta | B $ob ops/s ticks=$tb | ticks A/B $(echo "scale=3; $ta/$tb" | bc)"
