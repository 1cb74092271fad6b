#!/usr/bin/env python3
"""The cost of keyspace notifications: SET at -P 16.

`off`: notifications off, the build before keyspace notifications (CACHESRV_BEFORE) against
the current one (CACHESRV), alternating, ROUNDS rounds, best of each side.
`kea`: `notify-keyspace-events KEA` on redis-server 7 and cachesrv, first with no subscriber,
then with one `redis-cli PSUBSCRIBE '__key*__:*'` reading every message (on core 1 with the
benchmark); the subscriber must still be connected at the end of each run.

Servers on core 0 (cachesrv --server-threads 1), redis-benchmark (--threads 1 -c 50) on core 1,
server CPU per operation from /proc/<pid>/stat, as benches/scripts/cachesrv_vs_redis.py.

Usage: CACHESRV_BEFORE=/path/to/old/cachesrv benches/scripts/notify_cost.py [off|kea|all]
Environment: ROUNDS (3), N (requests per run before the x10 of -P 16, 300000), CACHESRV.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cachesrv_vs_redis as base  # noqa: E402

AFTER = base.CACHESRV
BEFORE = os.environ.get("CACHESRV_BEFORE", "")


def run(kind, binary=None, extra=(), subscriber=False):
    if binary:
        base.CACHESRV = binary
    s = base.Server(kind, extra)
    sub = None
    try:
        if subscriber:
            sub = subprocess.Popen(
                ["taskset", "-c", "1", "redis-cli", "-p", str(s.port), "PSUBSCRIBE", "__key*__:*"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while "1" not in s.cmd("PUBSUB", "NUMPAT"):
                pass
        ops, cpu, _, _ = base.bench(s, "set", 16)
        if subscriber and s.cmd("PUBSUB", "NUMPAT").strip() != "1":
            raise RuntimeError(f"{kind}: the subscriber was disconnected")
        return ops, cpu
    finally:
        if sub:
            sub.kill()
            sub.wait()
        s.stop()


def best(rows):
    return max(r[0] for r in rows), min(r[1] for r in rows)


def table(title, left_name, right_name, left, right):
    print(f"\n{title}\n")
    print(f"| test | -P | {left_name} ops/s | {right_name} ops/s | ratio | {left_name} CPU us/op | "
          f"{right_name} CPU us/op | CPU ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    (lo, lc), (ro, rc) = left, right
    print(f"| SET | 16 | {lo:,.0f} | {ro:,.0f} | {ro / lo:.2f} | {lc * 1e6:.2f} | {rc * 1e6:.2f} | "
          f"{rc / lc:.2f} |")


def off():
    if not BEFORE:
        sys.exit("set CACHESRV_BEFORE to the build before keyspace notifications")
    a, b = [], []
    for _ in range(base.ROUNDS):
        a.append(run("cachesrv", BEFORE))
        b.append(run("cachesrv", AFTER))
    table("notifications off: before against after", "before", "after", best(a), best(b))


def kea():
    for subscriber in (False, True):
        a, b = [], []
        extra = ("--notify-keyspace-events", "KEA")
        for _ in range(base.ROUNDS):
            a.append(run("redis", None, extra, subscriber))
            b.append(run("cachesrv", AFTER, extra, subscriber))
        what = "one subscriber" if subscriber else "no subscriber"
        table(f"notify-keyspace-events KEA, {what}", "redis", "cachesrv", best(a), best(b))


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "all"
    if mode in ("off", "all"):
        off()
    if mode in ("kea", "all"):
        kea()
