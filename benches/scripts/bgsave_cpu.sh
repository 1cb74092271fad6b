#!/bin/bash
# CPU of BGSAVE: a server on core 0 is filled with `DEBUG POPULATE 1000000` (string keys
# `key:<n>` holding `value:<n>`), then saves 5 times in a row; prints the server's CPU ticks
# (user + system, all threads; for redis-server also its waited-for children, the forked
# savers) over the 5 saves.
#
# Usage: benches/scripts/bgsave_cpu.sh [binary]   (default target/release/cachesrv)
#   REDIS=1 benches/scripts/bgsave_cpu.sh          (redis-server, the control)
# N: keys (1000000); SAVES: saves (5); PORT (7421).
root="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${1:-$root/target/release/cachesrv}"; N=${N:-1000000}; SAVES=${SAVES:-5}; PORT=${PORT:-7421}
dir=$(mktemp -d)
if [ "${REDIS:-0}" = 1 ]; then
  taskset -c 0 redis-server --port "$PORT" --dir "$dir" --save "" --enable-debug-command yes >/dev/null 2>&1 &
  BIN=redis-server
else
  taskset -c 0 "$BIN" --port "$PORT" --dir "$dir" --save "" >/dev/null 2>&1 &
fi
P=$!
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
if ! redis-cli -p "$PORT" debug populate "$N" | grep -q OK; then
  # A build without DEBUG POPULATE: the same keys through SETs.
  python3 -c "
import sys
o = sys.stdout.buffer
for j in range($N):
    k, v = b'key:%d' % j, b'value:%d' % j
    o.write(b'*3\r\n\$3\r\nSET\r\n\$%d\r\n%s\r\n\$%d\r\n%s\r\n' % (len(k), k, len(v), v))
" | redis-cli -p "$PORT" --pipe >/dev/null
fi
t() { awk '{print $14+$15+$16+$17}' "/proc/$P/stat"; }
busy() { redis-cli -p "$PORT" info persistence | tr -d '\r' | grep -q '^rdb_bgsave_in_progress:1'; }
t0=$(t)
for _ in $(seq "$SAVES"); do
  redis-cli -p "$PORT" bgsave >/dev/null
  sleep 0.05
  while busy; do sleep 0.02; done
done
t1=$(t)
redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1
rm -rf "$dir"
echo "$(basename "$BIN"): $SAVES BGSAVEs of $N keys: $((t1 - t0)) ticks"
