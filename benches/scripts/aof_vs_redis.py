#!/usr/bin/env python3
"""The append-only file: cachesrv against redis-server 7 on the same machine, in the same run.

Pinned as benches/scripts/cachesrv_vs_redis.py: each server on core 0 (cachesrv with
--server-threads 1), redis-benchmark on core 1; the two servers alternate, each row is
repeated ROUNDS times and each side keeps its best.

`set`: SET throughput (redis-benchmark -t set -c 16 -P 16, random keys over 100 000) with no
persistence, `appendonly yes` + `appendfsync everysec`, and `appendfsync always`; reports each
server's everysec/none ratio and cachesrv's always against Redis's always.

`load`: an AOF directory with 1 000 000 SETs in its incremental file (written by redis-server
fed through `redis-cli --pipe`, automatic rewrite off) is loaded by each server; the time runs
from the process start until it answers DBSIZE with every key (Redis answers LOADING before).

Usage: benches/scripts/aof_vs_redis.py [set|load|all] (default: all)
Environment: ROUNDS (3), N (requests per SET run, 400000), KEYS (1000000), CACHESRV (path to
the release binary).
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHESRV = os.environ.get("CACHESRV", os.path.join(ROOT, "target", "release", "cachesrv"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
N = int(os.environ.get("N", "400000"))
KEYS = int(os.environ.get("KEYS", "1000000"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(kind, data_dir, extra=(), pin="0"):
    port = free_port()
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--daemonize", "no", "--loglevel", "warning", "--dir", data_dir]
    else:
        cmd = [CACHESRV, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--server-threads", "1", "--loglevel", "warning", "--dir", data_dir]
    cmd = ["taskset", "-c", pin] + cmd + list(extra)
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port, t0


def wait_port(port, deadline=120):
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.005)
    raise RuntimeError("server did not start")


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port)] + [str(a) for a in args],
                          capture_output=True, text=True).stdout.strip()


def stop(proc):
    proc.kill()
    proc.wait()


MODES = {
    "none": ["--appendonly", "no"],
    "everysec": ["--appendonly", "yes", "--appendfsync", "everysec"],
    "always": ["--appendonly", "yes", "--appendfsync", "always"],
}


def set_rate(kind, mode):
    """Best effort against a busy machine: a run that fails (a port taken between picking it
    and binding it, say) is started again, at most three times."""
    for attempt in range(3):
        try:
            return set_rate_once(kind, mode)
        except subprocess.CalledProcessError as e:
            print(f"{kind} {mode}: run failed ({e.stderr.strip()[:200]}), again", file=sys.stderr)
    raise RuntimeError(f"{kind} {mode}: three failed runs")


def set_rate_once(kind, mode):
    d = tempfile.mkdtemp(prefix=f"aofbench-{kind}-")
    proc, port, _ = start(kind, d, MODES[mode] + ["--auto-aof-rewrite-percentage", "0"])
    try:
        wait_port(port)
        while cli(port, "PING") != "PONG":
            time.sleep(0.01)
        cmd = ["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "--threads", "1",
               "-c", "16", "-P", "16", "-n", str(N), "-r", "100000", "-t", "set", "--csv"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            cols = [c.strip('"') for c in line.split(",")]
            if cols and cols[0] != "test":
                return float(cols[1])
        raise RuntimeError(out)
    finally:
        stop(proc)
        shutil.rmtree(d, ignore_errors=True)


def run_set():
    print(f"SET, redis-benchmark -c 16 -P 16 -n {N} -r 100000, best of {ROUNDS}")
    best = {}
    for _ in range(ROUNDS):
        for mode in MODES:
            for kind in ("cachesrv", "redis"):
                r = set_rate(kind, mode)
                best[(kind, mode)] = max(best.get((kind, mode), 0), r)
    print(f"{'mode':<10}{'cachesrv ops/s':>16}{'redis ops/s':>14}{'ratio':>8}")
    for mode in MODES:
        c, r = best[("cachesrv", mode)], best[("redis", mode)]
        print(f"{mode:<10}{c:>16.0f}{r:>14.0f}{c / r:>8.2f}")
    for kind in ("cachesrv", "redis"):
        print(f"{kind}: everysec / none = {best[(kind, 'everysec')] / best[(kind, 'none')]:.2f}, "
              f"always / none = {best[(kind, 'always')] / best[(kind, 'none')]:.2f}")


def make_aof(keys):
    """An AOF directory written by redis-server holding `keys` SETs in its incremental file."""
    d = tempfile.mkdtemp(prefix="aofbench-load-")
    proc, port, _ = start("redis", d, ["--appendonly", "yes", "--appendfsync", "no",
                                       "--auto-aof-rewrite-percentage", "0"], pin="0")
    try:
        wait_port(port)
        while cli(port, "PING") != "PONG":
            time.sleep(0.01)
        def proto():
            for i in range(keys):
                k = f"key:{i:010d}"
                v = f"value-{i}"
                yield f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n${len(v)}\r\n{v}\r\n".encode()
        p = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL)
        buf = []
        for b in proto():
            buf.append(b)
            if len(buf) == 10000:
                p.stdin.write(b"".join(buf))
                buf = []
        p.stdin.write(b"".join(buf))
        p.stdin.close()
        p.wait()
        assert cli(port, "DBSIZE") == str(keys), cli(port, "DBSIZE")
        cli(port, "SHUTDOWN", "NOSAVE")
        proc.wait()
    finally:
        if proc.poll() is None:
            stop(proc)
    return d


def load_time(kind, src):
    d = tempfile.mkdtemp(prefix=f"aofbench-load-{kind}-")
    shutil.copytree(os.path.join(src, "appendonlydir"), os.path.join(d, "appendonlydir"))
    proc, port, t0 = start(kind, d, ["--appendonly", "yes", "--auto-aof-rewrite-percentage", "0"])
    try:
        wait_port(port)
        while cli(port, "DBSIZE") != str(KEYS):
            time.sleep(0.005)
        return time.time() - t0
    finally:
        stop(proc)
        shutil.rmtree(d, ignore_errors=True)


def run_load():
    src = make_aof(KEYS)
    size = sum(os.path.getsize(os.path.join(src, "appendonlydir", f))
               for f in os.listdir(os.path.join(src, "appendonlydir")))
    print(f"load {KEYS} keys from an AOF of {size} bytes (written by redis-server), best of {ROUNDS}")
    best = {}
    for _ in range(ROUNDS):
        for kind in ("cachesrv", "redis"):
            t = load_time(kind, src)
            best[kind] = min(best.get(kind, 1e9), t)
    shutil.rmtree(src, ignore_errors=True)
    c, r = best["cachesrv"], best["redis"]
    print(f"cachesrv {c:.2f} s, redis {r:.2f} s, cachesrv / redis = {c / r:.2f}")


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("set", "all"):
        run_set()
    if what in ("load", "all"):
        run_load()


if __name__ == "__main__":
    main()
