#!/usr/bin/env python3
"""Writes cachesrv/src/cmd/meta/redis7_commands.txt from a running redis-server 7.0.

Usage: redis7_commands.py [port]   (default 6379)

For every command and subcommand (`config|get`), the file holds its `COMMAND INFO` reply
(without the nested subcommands, which cachesrv fills in from its own table) and its
`COMMAND DOCS` entry (without `subcommands`), read in RESP3, one token per line:
`@name` starts a command; `*n` array, `%n` map, `~n` set, `:n` integer, `+text` simple
string, `$text` bulk string (backslash escapes for `\\`, `\\n`, `\\r`), `_` null.
"""
import socket
import sys


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(1 << 20)
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def exact(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.s.recv(1 << 20)
        d, self.buf = self.buf[:n], self.buf[n + 2:]
        return d

    def read(self):
        l = self.line()
        t, rest = l[:1], l[1:]
        if t in (b"$", b"="):
            return ("$", self.exact(int(rest)).decode())
        if t == b"+":
            return ("+", rest.decode())
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return (":", int(rest))
        if t == b"_":
            return ("_", None)
        if t in (b"*", b"~"):
            return (t.decode(), [self.read() for _ in range(int(rest))])
        if t == b"%":
            return ("%", [(self.read(), self.read()) for _ in range(int(rest))])
        raise RuntimeError("unexpected reply type %r" % l)


def esc(s):
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def tokens(node, out):
    t, v = node
    if t in ("*", "~"):
        out.append("%s%d" % (t, len(v)))
        for x in v:
            tokens(x, out)
    elif t == "%":
        out.append("%%%d" % len(v))
        for k, x in v:
            tokens(k, out)
            tokens(x, out)
    elif t == ":":
        out.append(":%d" % v)
    elif t == "_":
        out.append("_")
    else:
        out.append(t + esc(v))


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
    c = Conn(port)
    c.send("HELLO", "3")
    infos = {}
    for info in c.send("COMMAND", "INFO")[1]:
        name = info[1][0][1]
        infos[name] = info
        for sub in info[1][9][1]:
            infos[sub[1][0][1]] = sub
    docs = {}
    for (_, name), doc in c.send("COMMAND", "DOCS")[1]:
        fields = doc[1]
        docs[name] = ("%", [(k, v) for k, v in fields if k[1] != "subcommands"])
        for k, v in fields:
            if k[1] == "subcommands":
                for (_, sname), sdoc in v[1]:
                    docs[sname] = sdoc
    out = []
    for name in sorted(infos):
        info = infos[name]
        if info[1][9][1]:
            info = ("*", info[1][:9] + [("*", [])])
        out.append("@" + name)
        tokens(info, out)
        tokens(docs[name], out)
    sys.stdout.write("\n".join(out) + "\n")


main()
