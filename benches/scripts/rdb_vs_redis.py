#!/usr/bin/env python3
"""RDB persistence of cachesrv against redis-server 7 on the same machine, in the same run.

A data set of N keys (default 1 000 000: 90% strings of 20-60 bytes, 4% hashes of 8 fields,
3% lists of 8 elements, 3% sets of 8 members) is loaded into redis-server with
`redis-cli --pipe` and saved; that one file is then used by both servers:

- load: time from starting the server on the file until it answers PING (best of ROUNDS);
- bgsave: BGSAVE of the loaded data, from the command until INFO shows it done (polled every
  2 ms; best of ROUNDS); Redis forks, cachesrv serializes one shard at a time in a thread;
- p99: while a BGSAVE runs, one client sends SET requests one at a time (fresh keys, 40-byte
  values) and records each round trip; the p50/p99/max of those taken during the save, and
  the same client's p99 with no save running, for comparison.

Servers are pinned to core 0 (cachesrv with --server-threads 1), the client to core 1.

Usage: benches/scripts/rdb_vs_redis.py
Environment: N (keys, 1000000), ROUNDS (3), CACHESRV (release binary path), WORK (scratch dir).
"""

import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHESRV = os.environ.get("CACHESRV", os.path.join(ROOT, "target", "release", "cachesrv"))
N = int(os.environ.get("N", "1000000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
WORK = os.environ.get("WORK", "/tmp/rdb-bench")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise RuntimeError("closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        t = line[:1]
        if t == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if t == b"*":
            return [self.reply() for _ in range(int(line[1:]))]
        if t == b":":
            return int(line[1:])
        if t == b"-":
            raise RuntimeError(line.decode())
        return line[1:]

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        return self.reply()


def info(c, field):
    text = c.cmd("INFO", "persistence").decode()
    for line in text.split("\r\n"):
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    raise KeyError(field)


class Server:
    def __init__(self, kind, dirname):
        self.kind = kind
        self.port = free_port()
        if kind == "redis":
            cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
                   "--dir", dirname]
        else:
            cmd = [CACHESRV, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--server-threads", "1", "--loglevel", "warning", "--dir", dirname]
        cmd = ["taskset", "-c", "0"] + cmd
        self.start = time.time()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while True:
            try:
                c = Conn(self.port)
                if c.cmd("PING") == b"PONG":
                    break
            except (OSError, RuntimeError):
                pass
            if time.time() > deadline:
                raise RuntimeError(f"{kind} did not start")
            time.sleep(0.002)
        self.ready = time.time() - self.start

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def make_dataset(path):
    """Writes the data set with redis-server and returns the RDB file's path."""
    d = os.path.join(WORK, "src")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    srv = Server("redis", d)
    rnd = random.Random(7)
    pipe = subprocess.Popen(["redis-cli", "-p", str(srv.port), "--pipe"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)

    def enc(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    chunk = []
    for i in range(N):
        r = i % 100
        if r < 90:
            chunk.append(enc("SET", f"key:{i}", "v" * rnd.randint(20, 60)))
        elif r < 94:
            args = ["HSET", f"hash:{i}"]
            for f in range(8):
                args += [f"field{f}", f"value-{i}-{f}"]
            chunk.append(enc(*args))
        elif r < 97:
            chunk.append(enc("RPUSH", f"list:{i}", *[f"item-{j}" for j in range(8)]))
        else:
            chunk.append(enc("SADD", f"set:{i}", *[f"member-{j}" for j in range(8)]))
        if len(chunk) >= 10000:
            pipe.stdin.write(b"".join(chunk))
            chunk = []
    pipe.stdin.write(b"".join(chunk))
    pipe.stdin.close()
    pipe.wait()
    c = Conn(srv.port)
    assert c.cmd("DBSIZE") == N, "data set incomplete"
    c.cmd("SAVE")
    srv.stop()
    shutil.copy(os.path.join(d, "dump.rdb"), path)
    return path


def fresh_dir(kind, rdb):
    d = os.path.join(WORK, kind)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    shutil.copy(rdb, os.path.join(d, "dump.rdb"))
    return d


def bgsave(srv):
    """Seconds from BGSAVE to done, and the latencies of a client writing meanwhile."""
    c = Conn(srv.port)
    w = Conn(srv.port)
    lat = []
    stop = threading.Event()
    during = []

    def writer():
        n = 0
        while not stop.is_set():
            n += 1
            t = time.perf_counter()
            w.cmd("SET", f"w:{n}", "x" * 40)
            dt = time.perf_counter() - t
            lat.append((t, dt))

    th = threading.Thread(target=writer)
    th.start()
    time.sleep(1.0)
    saves = int(info(c, "rdb_saves"))
    t0 = time.perf_counter()
    c.cmd("BGSAVE")
    while info(c, "rdb_bgsave_in_progress") == "1" or int(info(c, "rdb_saves")) == saves:
        time.sleep(0.002)
    t1 = time.perf_counter()
    time.sleep(0.2)
    stop.set()
    th.join()
    status = info(c, "rdb_last_bgsave_status")
    assert status == "ok", status
    during = sorted(dt for (t, dt) in lat if t0 <= t <= t1)
    before = sorted(dt for (t, dt) in lat if t < t0)
    return t1 - t0, during, before


def pct(v, q):
    return v[min(len(v) - 1, int(len(v) * q))] if v else float("nan")


def main():
    os.makedirs(WORK, exist_ok=True)
    rdb = os.path.join(WORK, f"dataset-{N}.rdb")
    if not os.path.exists(rdb):
        make_dataset(rdb)
    size = os.path.getsize(rdb)
    print(f"data set: {N} keys, RDB file {size / 1e6:.1f} MB (written by redis-server)")
    best = {"redis": {}, "cachesrv": {}}
    for rnd in range(ROUNDS):
        for kind in ("redis", "cachesrv"):
            srv = Server(kind, fresh_dir(kind, rdb))
            c = Conn(srv.port)
            assert c.cmd("DBSIZE") == N, f"{kind} did not load every key"
            secs, during, before = bgsave(srv)
            srv.stop()
            row = {"load": srv.ready, "bgsave": secs,
                   "p50": pct(during, 0.5), "p99": pct(during, 0.99),
                   "max": during[-1] if during else float("nan"),
                   "base_p99": pct(before, 0.99), "ops": len(during)}
            print(f"round {rnd + 1} {kind:8}: load {row['load']:.3f} s, bgsave {secs:.3f} s, "
                  f"writes during save {row['ops']}: p50 {row['p50'] * 1e3:.3f} ms, "
                  f"p99 {row['p99'] * 1e3:.3f} ms, max {row['max'] * 1e3:.3f} ms "
                  f"(p99 before the save {row['base_p99'] * 1e3:.3f} ms)")
            b = best[kind]
            for k in ("load", "bgsave", "p99", "p50", "max", "base_p99"):
                b[k] = min(b.get(k, float("inf")), row[k])
    r, o = best["redis"], best["cachesrv"]
    print()
    print("| measure | redis-server | cachesrv | cachesrv / redis |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| load {N} keys (s) | {r['load']:.3f} | {o['load']:.3f} | {o['load'] / r['load']:.2f} |")
    print(f"| BGSAVE {N} keys (s) | {r['bgsave']:.3f} | {o['bgsave']:.3f} | {o['bgsave'] / r['bgsave']:.2f} |")
    for k, name in (("p50", "p50"), ("p99", "p99"), ("max", "max")):
        print(f"| writer {name} during BGSAVE (ms) | {r[k] * 1e3:.3f} | {o[k] * 1e3:.3f} | "
              f"{o[k] / r[k]:.2f} |")
    print(f"| writer p99 without a save (ms) | {r['base_p99'] * 1e3:.3f} | {o['base_p99'] * 1e3:.3f} | "
          f"{o['base_p99'] / r['base_p99']:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
