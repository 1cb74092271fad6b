#!/usr/bin/env python3
"""Instructions per `tools/call` of the gateway with telemetry off and on (exporting to a live
OTLP/HTTP receiver in this script), counted by callgrind: for each setting, the difference of
a run of 2N calls and one of N calls, divided by N, so start-up and warm-up cancel out.

Usage: benches/scripts/otel_ir.py [BIN]   (default target/release/secure-mcp-gateway;
build it with `cargo build --release -p gateway`). Environment: N (default 300),
KEEP=1 keeps the callgrind files (/tmp/otel-ir-{off,on}-{N}.out) for callgrind_annotate.
"""
import http.client, http.server, json, os, signal, socket, subprocess, sys, tempfile, threading, time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/secure-mcp-gateway"
N = int(os.environ.get("N", "300"))
KEY = "bench-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKL"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def wait_port(port, secs=120):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def post(conn, body, sid=None):
    h = {"content-type": "application/json", "accept": "application/json, text/event-stream",
         "authorization": f"Bearer {KEY}", "mcp-protocol-version": "2025-11-25"}
    if sid:
        h["mcp-session-id"] = sid
    conn.request("POST", "/mcp/", json.dumps(body), h)
    r = conn.getresponse()
    data = r.read()
    return r, data


def calls(port, n):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    r, _ = post(conn, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "ir", "version": "1"}}})
    sid = r.getheader("mcp-session-id")
    post(conn, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    for i in range(n):
        r, data = post(conn, {"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                              "params": {"name": "echo", "arguments": {"message": "ping"}}}, sid)
        assert b'"result"' in data, data


def run(cfg, n, tag):
    out = f"/tmp/otel-ir-{tag}-{n}.out"
    port = free_port()
    g = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", BIN,
                          "--config", cfg, "start", "--host", "127.0.0.1", "--port", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    calls(port, 20)  # warm-up, the same in every run
    calls(port, n)
    g.send_signal(signal.SIGTERM)
    g.wait(120)
    with open(out) as f:
        total = next(int(l.split()[1]) for l in f if l.startswith(("summary:", "totals:")))
    if os.environ.get("KEEP") != "1":
        os.remove(out)
    return total


def main():
    rport = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", rport), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    uport = free_port()
    up = subprocess.Popen([BIN, "demo-server", "--port", str(uport)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(uport)
    d = tempfile.mkdtemp()
    try:
        servers = [{"server_name": "demo", "tools": {}, "config": {
            "url": f"http://127.0.0.1:{uport}/mcp", "transport": "streamable-http"}}]
        res = {}
        for tag, extra in [("off", {}), ("on", {"enkrypt_telemetry": {
                "enabled": True, "url": f"http://127.0.0.1:{rport}"}})]:
            common = {"enkrypt_log_level": "WARNING", "enkrypt_embedded_cache_port": 0,
                      "enkrypt_embedded_cache_password": "bench-embedded-pw-0123456789", **extra}
            cfg = {"common_mcp_gateway_config": common,
                   "mcp_configs": {"c1": {"mcp_config_name": "bench", "mcp_config": servers}},
                   "projects": {"p1": {"project_name": "bench", "mcp_config_id": "c1", "users": ["u1"]}},
                   "users": {"u1": {"email": "bench@example.com"}},
                   "apikeys": {KEY: {"project_id": "p1", "user_id": "u1"}}}
            path = os.path.join(d, f"{tag}.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            a = run(path, N, tag)
            b = run(path, 2 * N, tag)
            res[tag] = (b - a) / N
            print(f"telemetry {tag}: {res[tag]:,.0f} instructions per call", flush=True)
        print(f"on / off: {res['on'] / res['off']:.3f}")
    finally:
        up.kill()
        subprocess.run(["rm", "-rf", d])


main()
