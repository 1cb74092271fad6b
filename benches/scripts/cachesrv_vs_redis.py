#!/usr/bin/env python3
"""cachesrv against redis-server 7 on the same machine, in the same run.

Both servers are pinned to core 0 (cachesrv with --server-threads 1), redis-benchmark
(--threads 1, -c 50) to core 1. For every row the two servers alternate, each row is repeated
ROUNDS times and each side keeps its best. Besides ops/s, the server's own CPU time per
operation is read from /proc/<pid>/stat (utime + stime) around each run.

`floor` adds target/release/nil_server (benches/src/bin/nil_server.rs) to the GET rows: a
server that parses each request and answers nil with the same system calls and nothing else,
the lowest CPU per request any server using read/write/epoll_wait can reach here.

`control` runs the ops table with a second redis-server in cachesrv's place: how far apart two
identical servers land under the same protocol (the noise floor of the ops goals).

`hll_block` measures PFADD (one HyperLogLog, random elements) with redis-benchmark's custom
command mode, and LPUSH+BLPOP pairs: two redis-benchmark processes on core 1, one running
`BLPOP q 0` and one `LPUSH q x` with the same request count, so every push feeds a blocked or
blocking pop; pairs/s is the count over the wall time of the slower of the two.

`block_timeout` times `BLPOP none <t>` from the client side (20 tries per timeout): how late
each server answers a timed-out blocking command.


`zset` measures sorted sets: ZADD (random scores and members), ZRANGE 0 9 of a 1 000-member
set and ZINCRBY at -P 16 (ops/s and server CPU per op, as `ops`), and used_memory per member
of one sorted set of 1 000 000 members.

`bitmap` measures SETBIT and GETBIT (bit 100 of one of 100 000 keys) and BITCOUNT of a
125 000-byte bitmap (whole and bytes 0-99) at -P 16, as `zset`.

`evalsha` runs a rate limiter script (INCR, EXPIRE NX and TTL on one of 1000 keys, three
redis.call per script) with EVALSHA at -P 16, both servers on core 0 as in `ops`.

`acl` (only when asked) runs SET and GET at -P 16 on a build without the ACL (CACHESRV_BASE),
the current build and Redis, then as a user whose key patterns are checked (`~key:*`).

Usage: benches/scripts/cachesrv_vs_redis.py [ops|memory|lru|threads|floor|control|hll_block|block_timeout|zset|bitmap|evalsha|acl|all]
(default: all; `control` and `acl` only when asked)
Environment: ROUNDS (3), N (requests per run, 300000), CACHESRV and NIL_SERVER (paths to the
release binaries).
"""

import os
import random
import socket
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHESRV = os.environ.get("CACHESRV", os.path.join(ROOT, "target", "release", "cachesrv"))
NIL_SERVER = os.environ.get("NIL_SERVER", os.path.join(ROOT, "target", "release", "nil_server"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
N = int(os.environ.get("N", "300000"))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, kind, extra=(), pin="0", threads=1, binary=None):
        self.kind = kind
        self.port = free_port()
        if kind == "redis":
            cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
        elif kind == "nil":
            cmd = [NIL_SERVER, str(self.port)]
        else:
            cmd = [binary or CACHESRV, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--server-threads", str(threads), "--loglevel", "warning"]
        cmd += list(extra)
        if pin is not None:
            cmd = ["taskset", "-c", pin] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError(f"{kind} did not start")
                time.sleep(0.02)

    def cpu_split(self):
        """(user, system) CPU seconds of the server process."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) / TICK, int(rest[12]) / TICK

    def cpu(self):
        return sum(self.cpu_split())

    def rss(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def cmd(self, *args):
        out = subprocess.run(["redis-cli", "-p", str(self.port)] + [str(a) for a in args],
                             capture_output=True, text=True, check=True)
        return out.stdout

    def info(self, field):
        for line in self.cmd("INFO", "memory").splitlines():
            if line.startswith(field + ":"):
                return int(line.split(":", 1)[1])
        raise KeyError(field)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def bench(server, test, pipeline, n=N, pin="1", clients=50, command=None, auth=()):
    """`command`: an argument list to run instead of the built-in `test` (with -r 1000).
    `auth`: redis-benchmark's --user/-a arguments."""
    # Pipelined runs are ~15x faster: more requests keep the CPU-time reading (10 ms ticks)
    # precise.
    if pipeline > 1:
        n *= 10
    cmd = ["redis-benchmark", "-p", str(server.port), "--threads", "1", "-c", str(clients), "-n", str(n),
           "-P", str(pipeline), "--csv"] + list(auth)
    cmd += ["-r", "1000"] + list(command) if command else ["-t", test]
    if pin is not None:
        cmd = ["taskset", "-c", pin] + cmd
    u0, s0 = server.cpu_split()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    u1, s1 = server.cpu_split()
    for line in out.splitlines():
        cols = [c.strip('"') for c in line.split(",")]
        if cols and cols[0] != "test":
            return float(cols[1]), (u1 - u0 + s1 - s0) / n, (u1 - u0) / n, (s1 - s0) / n
    raise RuntimeError(out)


def bench_custom(server, args, pipeline, n=N, pin="1", clients=50, extra=()):
    """redis-benchmark running one custom command: (ops/s, server CPU s/op)."""
    if pipeline > 1:
        n *= 10
    cmd = ["redis-benchmark", "-p", str(server.port), "--threads", "1", "-c", str(clients), "-n", str(n),
           "-P", str(pipeline), "--csv"] + list(extra) + list(args)
    if pin is not None:
        cmd = ["taskset", "-c", pin] + cmd
    c0 = server.cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    c1 = server.cpu()
    for line in out.splitlines():
        cols = [c.strip('"') for c in line.split(",")]
        if len(cols) > 1 and cols[0] != "test":
            return float(cols[1]), (c1 - c0) / n
    raise RuntimeError(out)


def bench_cmd(server, args, pipeline, n=N, pin="1", clients=50, rand=None):
    """bench_custom with redis-benchmark's -r (random key space) when `rand` is given."""
    extra = ["-r", str(rand)] if rand else []
    return bench_custom(server, args, pipeline, n=n, pin=pin, clients=clients, extra=extra)


def bench_pairs(server, pipeline, n=N // 3, pin="1", clients=50):
    """LPUSH and BLPOP from two redis-benchmark processes at once: (pairs/s, server CPU
    s/pair)."""
    if pipeline > 1:
        n *= 10
    base = ["redis-benchmark", "-p", str(server.port), "--threads", "1", "-c", str(clients), "-n", str(n),
            "-P", str(pipeline), "--csv"]
    if pin is not None:
        base = ["taskset", "-c", pin] + base
    c0 = server.cpu()
    t0 = time.time()
    pop = subprocess.Popen(base + ["BLPOP", "q", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    push = subprocess.Popen(base + ["LPUSH", "q", "x"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    push.wait()
    pop.wait()
    wall = time.time() - t0
    c1 = server.cpu()
    if pop.returncode != 0 or push.returncode != 0:
        raise RuntimeError("redis-benchmark failed")
    left = server.cmd("LLEN", "q").strip()
    if left != "0":
        raise RuntimeError(f"{left} elements left")
    return n / wall, (c1 - c0) / n


def hll_block_table():
    rows = [("PFADD", 1), ("PFADD", 16), ("LPUSH+BLPOP", 1), ("LPUSH+BLPOP", 16)]
    best = {}
    servers = {"redis": Server("redis", pin="0"), "cachesrv": Server("cachesrv", pin="0", threads=1)}
    try:
        for rnd in range(ROUNDS):
            for name, p in rows:
                order = ["redis", "cachesrv"] if rnd % 2 == 0 else ["cachesrv", "redis"]
                for kind in order:
                    s = servers[kind]
                    if name == "PFADD":
                        rps, cpu = bench_custom(s, ["PFADD", "hll", "ele:__rand_int__"], p,
                                                extra=["-r", "10000000"])
                    else:
                        rps, cpu = bench_pairs(s, p)
                    old = best.get((name, p, kind))
                    best[(name, p, kind)] = (max(rps, old[0]) if old else rps,
                                             min(cpu, old[1]) if old else cpu)
    finally:
        for s in servers.values():
            s.stop()
    print("\n| test | -P | redis ops/s | cachesrv ops/s | ratio | redis CPU us/op | cachesrv CPU us/op | CPU ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, p in rows:
        r, c = best[(name, p, "redis")], best[(name, p, "cachesrv")]
        cr = c[1] / r[1] if r[1] > 0 else float("nan")
        print(f"| {name} | {p} | {r[0]:,.0f} | {c[0]:,.0f} | {c[0]/r[0]:.2f} | {r[1]*1e6:.2f} | {c[1]*1e6:.2f} | {cr:.2f} |")


def timeout_table(tries=20):
    timeouts = (0.01, 0.02, 0.05, 0.1, 0.25)
    res = {}
    for kind in ("redis", "cachesrv"):
        s = Server(kind, pin=None, threads=2)
        try:
            sock = socket.create_connection(("127.0.0.1", s.port))
            f = sock.makefile("rb")
            for t in timeouts:
                late = []
                for _ in range(tries):
                    t0 = time.perf_counter()
                    sock.sendall(resp("BLPOP", "none", t))
                    line = f.readline()
                    late.append((time.perf_counter() - t0 - t) * 1000)
                    assert line.startswith(b"*-1"), line
                res[(kind, t)] = (sum(late) / len(late), min(late), max(late))
            sock.close()
        finally:
            s.stop()
    print("\n| timeout | redis late ms (mean / min / max) | cachesrv late ms (mean / min / max) |")
    print("| ---: | ---: | ---: |")
    for t in timeouts:
        cells = " | ".join("{:.1f} / {:.1f} / {:.1f}".format(*res[(k, t)]) for k in ("redis", "cachesrv"))
        print(f"| {t} s | {cells} |")


ZSET_ROWS = [
    # (label, command, -r)
    ("ZADD", ["ZADD", "zadd", "__rand_int__", "member:__rand_int__"], 1_000_000),
    ("ZRANGE 0 9 (1 000 members)", ["ZRANGE", "zbench", "0", "9"], None),
    ("ZRANGE 0 9 WITHSCORES", ["ZRANGE", "zbench", "0", "9", "WITHSCORES"], None),
    ("ZINCRBY", ["ZINCRBY", "zinc", "1", "member:__rand_int__"], 100_000),
]


def rows_table(rows, setup, pipeline=16):
    """Each (label, command, -r) row against both servers on core 0 (after `setup(server)`),
    rounds alternating the servers, best of ROUNDS: ops/s and server CPU per op."""
    best = {}
    servers = {"redis": Server("redis", pin="0"), "cachesrv": Server("cachesrv", pin="0")}
    try:
        for s in servers.values():
            setup(s)
        for rnd in range(ROUNDS):
            for label, args, rand in rows:
                order = ["redis", "cachesrv"] if rnd % 2 == 0 else ["cachesrv", "redis"]
                for kind in order:
                    rps, cpu = bench_cmd(servers[kind], args, pipeline, rand=rand)
                    old = best.get((label, kind))
                    best[(label, kind)] = (max(rps, old[0]), min(cpu, old[1])) if old else (rps, cpu)
    finally:
        for s in servers.values():
            s.stop()
    print(f"\n| command | -P | redis ops/s | cachesrv ops/s | ratio | redis CPU us/op | cachesrv CPU us/op | CPU ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, _, _ in rows:
        r, c = best[(label, "redis")], best[(label, "cachesrv")]
        cr = c[1] / r[1] if r[1] > 0 else float("nan")
        print(f"| {label} | {pipeline} | {r[0]:,.0f} | {c[0]:,.0f} | {c[0]/r[0]:.2f} | {r[1]*1e6:.2f} | {c[1]*1e6:.2f} | {cr:.2f} |")


def pipe(server, data):
    subprocess.run(["redis-cli", "-p", str(server.port), "--pipe"], input=data, capture_output=True, check=True)


def zset_ops_table():
    data = b"".join(resp(b"ZADD", b"zbench", i * 1.5, b"member:%d" % i) for i in range(1000))
    rows_table(ZSET_ROWS, lambda s: pipe(s, data))


BITMAP_ROWS = [
    # (label, command, -r)
    # redis-benchmark's __rand_int__ has leading zeros, which a bit offset may not have: the
    # randomness goes into the key (100 000 small bitmaps).
    ("SETBIT (bit 100 of one of 100 000 keys)", ["SETBIT", "bits:__rand_int__", "100", "1"], 100_000),
    ("GETBIT (same keys)", ["GETBIT", "bits:__rand_int__", "100"], 100_000),
    ("BITCOUNT (125 000-byte key)", ["BITCOUNT", "bmap"], None),
    ("BITCOUNT 0 99", ["BITCOUNT", "bmap", "0", "99"], None),
]


def bitmap_table():
    rng = random.Random(11)
    data = b"".join(resp(b"SETBIT", b"bmap", rng.randrange(1_000_000), 1) for _ in range(200_000))
    data += resp(b"SETBIT", b"bmap", 999_999, 1)
    counts = []

    def setup(s):
        pipe(s, data)
        counts.append(s.cmd("BITCOUNT", "bmap").strip())
        if len(set(counts)) != 1:
            raise RuntimeError(f"BITCOUNT differs between the servers: {counts}")

    rows_table(BITMAP_ROWS, setup)


def zset_memory_table(count=1_000_000):
    print("\n| sorted set of 1 000 000 members (`member:<n>`, 8-14 bytes) | redis used_memory B/member | cachesrv used_memory B/member | ratio | redis RSS B/member | cachesrv RSS B/member | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    res = {}
    for kind in ("redis", "cachesrv"):
        s = Server(kind, pin=None, threads=1)
        try:
            used0, rss0 = s.info("used_memory"), s.rss()
            rng = random.Random(7)
            chunks = []
            for base in range(0, count, 100):
                args = [b"ZADD", b"big"]
                for i in range(base, min(base + 100, count)):
                    args += [b"%.3f" % (rng.random() * 1e6), b"member:%d" % i]
                chunks.append(resp(*args))
            subprocess.run(["redis-cli", "-p", str(s.port), "--pipe"], input=b"".join(chunks), capture_output=True, check=True)
            card = int(s.cmd("ZCARD", "big"))
            assert card == count, card
            res[kind] = ((s.info("used_memory") - used0) / count, (s.rss() - rss0) / count)
        finally:
            s.stop()
    r, c = res["redis"], res["cachesrv"]
    print(f"| random scores | {r[0]:.1f} | {c[0]:.1f} | {c[0]/r[0]:.2f} | {r[1]:.1f} | {c[1]:.1f} | {c[1]/r[1]:.2f} |")


def geomean(xs):
    p = 1.0
    for x in xs:
        p *= x
    return p ** (1.0 / len(xs))


def ops_table(threads=1, pin_servers="0", pin_bench="1", control=False):
    """The ops table. `control`: a second redis-server takes cachesrv's place, to show how far
    two identical servers drift apart under the same protocol on this machine."""
    tests = ["set", "get", "incr", "mset"]
    best = {}
    second = Server("redis", pin=pin_servers) if control else Server("cachesrv", pin=pin_servers, threads=threads)
    servers = {"redis": Server("redis", pin=pin_servers), "cachesrv": second}
    try:
        for rnd in range(ROUNDS):
            for p in (1, 16):
                for t in tests:
                    order = ["redis", "cachesrv"] if rnd % 2 == 0 else ["cachesrv", "redis"]
                    for kind in order:
                        rps, cpu, user, system = bench(servers[kind], t, p, pin=pin_bench)
                        key = (t, p, kind)
                        old = best.get(key)
                        # Best throughput; the CPU split of the run with the least CPU.
                        if old is None or cpu < old[1]:
                            best[key] = (max(rps, old[0]) if old else rps, cpu, user, system)
                        else:
                            best[key] = (max(rps, old[0]),) + old[1:]
    finally:
        for s in servers.values():
            s.stop()
    b = "redis B" if control else "cachesrv"
    print(f"\n| test | -P | redis ops/s | {b} ops/s | ratio | redis CPU us/op | {b} CPU us/op | CPU ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ratios = []
    for p in (1, 16):
        for t in tests:
            r, c = best[(t, p, "redis")], best[(t, p, "cachesrv")]
            ratio = c[0] / r[0]
            ratios.append(ratio)
            cr = c[1] / r[1] if r[1] > 0 else float("nan")
            print(f"| {t.upper()} | {p} | {r[0]:,.0f} | {c[0]:,.0f} | {ratio:.2f} | {r[1]*1e6:.2f} | {c[1]*1e6:.2f} | {cr:.2f} |")
    print(f"\ngeometric mean of ops/s ratios: {geomean(ratios):.3f}; lowest row: {min(ratios):.3f}; highest row: {max(ratios):.3f}")
    print("\nCPU per op split into user and system time (us):\n")
    print(f"| test | -P | redis user | redis system | {b} user | {b} system |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for p in (1, 16):
        for t in tests:
            r, c = best[(t, p, "redis")], best[(t, p, "cachesrv")]
            print(f"| {t.upper()} | {p} | {r[2]*1e6:.2f} | {r[3]*1e6:.2f} | {c[2]*1e6:.2f} | {c[3]*1e6:.2f} |")


RATE_LIMITER = """local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
local ttl = redis.call('TTL', KEYS[1])
if n > tonumber(ARGV[2]) then return {0, ttl} end
return {1, ttl}"""


def evalsha_table(pipeline=16):
    """EVALSHA of RATE_LIMITER against both servers, alternating, best of ROUNDS each."""
    servers = {"redis": Server("redis", pin="0"), "cachesrv": Server("cachesrv", pin="0")}
    best = {}
    try:
        shas = {k: s.cmd("SCRIPT", "LOAD", RATE_LIMITER).strip() for k, s in servers.items()}
        assert shas["redis"] == shas["cachesrv"], shas
        command = ["EVALSHA", shas["redis"], "1", "rl:__rand_int__", "60", "1000000"]
        for rnd in range(ROUNDS):
            order = ["redis", "cachesrv"] if rnd % 2 == 0 else ["cachesrv", "redis"]
            for kind in order:
                # A tenth of the requests of the built-in tests: a script is ~10 commands' work.
                rps, cpu, user, system = bench(servers[kind], "evalsha", pipeline, n=N // 10,
                                               command=command)
                old = best.get(kind)
                if old is None or cpu < old[1]:
                    best[kind] = (max(rps, old[0]) if old else rps, cpu, user, system)
                else:
                    best[kind] = (max(rps, old[0]),) + old[1:]
    finally:
        for s in servers.values():
            s.stop()
    r, c = best["redis"], best["cachesrv"]
    print("\n| test | -P | redis ops/s | cachesrv ops/s | ratio | redis CPU us/op | cachesrv CPU us/op | CPU ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| EVALSHA rate limiter | {pipeline} | {r[0]:,.0f} | {c[0]:,.0f} | {c[0]/r[0]:.2f} | "
          f"{r[1]*1e6:.2f} | {c[1]*1e6:.2f} | {c[1]/r[1]:.2f} |")
    print(f"\nuser / system (us/op): redis {r[2]*1e6:.2f} / {r[3]*1e6:.2f}, "
          f"cachesrv {c[2]*1e6:.2f} / {c[3]*1e6:.2f}")


def floor_table():
    kinds = ["redis", "cachesrv", "nil"]
    best = {}
    servers = {k: Server(k, pin="0") for k in kinds}
    try:
        for rnd in range(ROUNDS):
            for p in (1, 16):
                order = kinds[rnd % 3:] + kinds[:rnd % 3]
                for kind in order:
                    _, cpu, user, system = bench(servers[kind], "get", p)
                    if (p, kind) not in best or cpu < best[(p, kind)][0]:
                        best[(p, kind)] = (cpu, user, system)
    finally:
        for s in servers.values():
            s.stop()
    print("\n| GET -P | redis CPU us/op | cachesrv | nil_server | cachesrv/redis | nil_server/redis |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for p in (1, 16):
        r, c, f = (best[(p, k)][0] for k in kinds)
        print(f"| {p} | {r*1e6:.2f} | {c*1e6:.2f} | {f*1e6:.2f} | {c/r:.2f} | {f/r:.2f} |")
    print("\nuser / system split (us/op):\n")
    print("| GET -P | redis | cachesrv | nil_server |")
    print("| ---: | ---: | ---: | ---: |")
    for p in (1, 16):
        cells = " | ".join(f"{best[(p, k)][1]*1e6:.2f} / {best[(p, k)][2]*1e6:.2f}" for k in kinds)
        print(f"| {p} | {cells} |")


def resp(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def load(server, count, value_len, ttl):
    value = b"v" * value_len
    chunks = []
    for i in range(count):
        key = b"key:%010d" % i
        if ttl:
            chunks.append(resp(b"SET", key, value, b"EX", b"100000"))
        else:
            chunks.append(resp(b"SET", key, value))
    data = b"".join(chunks)
    subprocess.run(["redis-cli", "-p", str(server.port), "--pipe"], input=data, capture_output=True, check=True)


def memory_table(count=1_000_000):
    print(f"\n| keys (14-byte keys) | redis used_memory B/key | cachesrv used_memory B/key | ratio | redis RSS B/key | cachesrv RSS B/key | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for value_len, ttl in ((100, False), (16, False), (100, True)):
        res = {}
        for kind in ("redis", "cachesrv"):
            s = Server(kind, pin=None, threads=1)
            try:
                used0, rss0 = s.info("used_memory"), s.rss()
                load(s, count, value_len, ttl)
                time.sleep(0.5)
                dbsize = int(s.cmd("DBSIZE"))
                assert dbsize == count, dbsize
                res[kind] = ((s.info("used_memory") - used0) / count, (s.rss() - rss0) / count)
            finally:
                s.stop()
        r, c = res["redis"], res["cachesrv"]
        label = f"{value_len}-byte values" + (", EX" if ttl else "")
        print(f"| {label} | {r[0]:.1f} | {c[0]:.1f} | {c[0]/r[0]:.2f} | {r[1]:.1f} | {c[1]:.1f} | {c[1]/r[1]:.2f} |")


def lru_run(server, keyspace, ops, seed=7):
    """80/20 access: 80% of operations hit 20% of the keys. GET; on a miss, SET. Pipelined
    in batches, the same sequence for every server. Returns the hit rate after warm-up."""
    rng = random.Random(seed)
    hot = keyspace // 5
    sock = socket.create_connection(("127.0.0.1", server.port))
    f = sock.makefile("rb")
    value = b"x" * 100
    hits = misses = 0
    batch = 500
    done = 0
    warm = ops // 5
    while done < ops:
        keys = []
        for _ in range(batch):
            k = rng.randrange(hot) if rng.random() < 0.8 else hot + rng.randrange(keyspace - hot)
            keys.append(b"lru:%d" % k)
        sock.sendall(b"".join(resp(b"GET", k) for k in keys))
        missed = []
        for k in keys:
            line = f.readline()
            if line.startswith(b"$-1"):
                missed.append(k)
            else:
                f.read(int(line[1:]) + 2)
        if done >= warm:
            hits += batch - len(missed)
            misses += len(missed)
        if missed:
            sock.sendall(b"".join(resp(b"SET", k, value) for k in missed))
            for _ in missed:
                f.readline()
        done += batch
    sock.close()
    return hits / (hits + misses)


ACL_USER = ["ACL", "SETUSER", "bench", "on", ">pw", "+@all", "~key:*", "&*"]


def acl_table(pipeline=16):
    """SET and GET at -P 16 on cachesrv before the ACL (CACHESRV_BASE), cachesrv with it, and
    Redis; and as a user whose key patterns are checked (`~key:*`, the keys redis-benchmark
    uses), against Redis with the same user."""
    base = os.environ.get("CACHESRV_BASE")
    if not base or not os.path.exists(base):
        sys.exit("CACHESRV_BASE must name a release build of cachesrv without the ACL")
    servers = {"redis": Server("redis", pin="0"), "cachesrv": Server("cachesrv", pin="0"),
               "base": Server("cachesrv", pin="0", binary=base)}
    for kind in ("redis", "cachesrv"):
        servers[kind].cmd(*ACL_USER)
    rows = [("SET", ()), ("GET", ()), ("SET", ("--user", "bench", "-a", "pw")),
            ("GET", ("--user", "bench", "-a", "pw"))]
    best = {}
    try:
        for rnd in range(ROUNDS):
            for test, auth in rows:
                kinds = ["base", "cachesrv", "redis"] if not auth else ["cachesrv", "redis"]
                if rnd % 2:
                    kinds.reverse()
                for kind in kinds:
                    rps, cpu, _, _ = bench(servers[kind], test.lower(), pipeline, auth=auth)
                    old = best.get((test, auth, kind))
                    best[(test, auth, kind)] = (max(rps, old[0]) if old else rps,
                                                min(cpu, old[1]) if old else cpu)
    finally:
        for s in servers.values():
            s.stop()
    print(f"\n| test (-P {pipeline}) | user | base ops/s | cachesrv ops/s | redis ops/s | cachesrv/base | cachesrv/redis | base CPU us/op | cachesrv CPU us/op | redis CPU us/op |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for test, auth in rows:
        c, r = best[(test, auth, "cachesrv")], best[(test, auth, "redis")]
        b = best.get((test, auth, "base"))
        user = "bench (~key:*)" if auth else "default"
        bcells = (f"{b[0]:,.0f}", f"{c[0]/b[0]:.2f}", f"{b[1]*1e6:.3f}") if b else ("-", "-", "-")
        print(f"| {test} | {user} | {bcells[0]} | {c[0]:,.0f} | {r[0]:,.0f} | {bcells[1]} | {c[0]/r[0]:.2f} | {bcells[2]} | {c[1]*1e6:.3f} | {r[1]*1e6:.3f} |")


def lru_table(keyspace=200_000, ops=1_000_000, maxmemory_mb=8):
    print(f"\nLRU quality: allkeys-lru, {keyspace} keys of ~110 bytes, 80/20 access, {ops} operations")
    print("| server | maxmemory | hit rate | keys held at the end |")
    print("| --- | ---: | ---: | ---: |")
    held = {}

    def row(kind, mem_bytes):
        s = Server(kind, extra=["--maxmemory", str(mem_bytes), "--maxmemory-policy", "allkeys-lru"], pin=None)
        try:
            rate = lru_run(s, keyspace, ops)
            n = int(s.cmd("DBSIZE"))
        finally:
            s.stop()
        print(f"| {kind} | {mem_bytes / 2**20:.2f} MiB | {rate*100:.2f}% | {n} |")
        return n

    mem = maxmemory_mb * 2**20
    held["redis"] = row("redis", mem)
    held["cachesrv"] = row("cachesrv", mem)
    # The same number of keys as Redis held: compares the eviction choices alone.
    row("cachesrv", int(mem * held["redis"] / held["cachesrv"]))


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    subprocess.run(["redis-server", "--version"], check=True)
    if not os.path.exists(CACHESRV):
        sys.exit(f"build first: cargo build --release -p cachesrv ({CACHESRV} missing)")
    if what in ("ops", "all"):
        print("\n## ops: both servers on core 0 (cachesrv --server-threads 1), redis-benchmark --threads 1 -c 50 on core 1")
        ops_table()
    if what == "control":
        print("\n## control: redis-server against a second redis-server, same protocol as ops")
        ops_table(control=True)
    if what in ("threads", "all"):
        print("\n## ops, for the record: cachesrv --server-threads 2, nothing pinned")
        ops_table(threads=2, pin_servers=None, pin_bench=None)
    if what in ("floor", "all"):
        if not os.path.exists(NIL_SERVER):
            sys.exit(f"build first: cargo build --release -p benches --bin nil_server ({NIL_SERVER} missing)")
        print("\n## floor: GET against a server that only parses and answers nil, all on core 0")
        floor_table()
    if what in ("hll_block", "all"):
        print("\n## PFADD and LPUSH+BLPOP pairs: servers on core 0 (cachesrv --server-threads 1), redis-benchmark on core 1")
        hll_block_table()
    if what in ("block_timeout", "all"):
        print("\n## BLPOP timeouts: how late the reply comes (cachesrv --server-threads 2, nothing pinned)")
        timeout_table()
    if what in ("evalsha", "all"):
        print("\n## EVALSHA: a three-call rate limiter script, both servers on core 0, redis-benchmark on core 1")
        evalsha_table()
    if what in ("memory", "all"):
        print("\n## memory per key after loading 1 000 000 keys")
        memory_table()
    if what in ("zset", "all"):
        print("\n## sorted sets: both servers on core 0, redis-benchmark --threads 1 -c 50 on core 1")
        zset_ops_table()
        zset_memory_table()
    if what in ("bitmap", "all"):
        print("\n## bitmaps: both servers on core 0, redis-benchmark --threads 1 -c 50 on core 1")
        bitmap_table()
    if what == "acl":
        print("\n## ACL: SET/GET -P 16 before and after the ACL, and as a restricted user; servers on core 0, redis-benchmark on core 1")
        acl_table()
    if what in ("lru", "all"):
        print("\n## LRU quality")
        lru_table()


if __name__ == "__main__":
    main()
