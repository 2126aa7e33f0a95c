#!/usr/bin/env python3
"""Attack figures for docs/faults.md: each attack of the hardening issue against the release
gateway, with its memory (RSS), the connections it holds, and what a normal client gets
meanwhile (one request at a time, a fresh keep-alive connection after any failure).

    bench/attacks.py [--only NAME[,NAME]] [--no-build]

Builds gateway, fake-gemini and the pii-tagger plugin in release (skipped with --no-build),
runs each attack against a fresh gateway in a temporary directory, prints a Markdown table.
Asserts nothing; stdlib only. The gateway runs with a soft file limit of 1024 (the usual
default, the limit the slowloris finding was measured under) and the runner's hard limit, which
the gateway raises its soft limit to at start.
"""

import argparse
import gzip
import http.client
import json
import os
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
REL = os.path.join(ROOT, "target", "release")
BIN = REL
EXTRA = ""
BODY = b'{"contents":[{"parts":[{"text":"hi"}]}]}'
GEN = "/v1beta/models/gemini-3.8-flash:generateContent"
NOFILE = 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, log):
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"exited early:\n{open(log).read()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"port {port} never opened:\n{open(log).read()[-3000:]}")


def limit_files():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(NOFILE, hard), hard))


class Gateway:
    """A release gateway in a temporary directory, with the API on its own port."""

    def __init__(self, upstream, proxy="", extra="", api=True, storage=""):
        self.dir = tempfile.mkdtemp(prefix="attack-")
        self.port, self.api_port = free_port(), free_port()
        self.db = os.path.join(self.dir, "gateway.db")
        self.log = os.path.join(self.dir, "gateway.log")
        conf = os.path.join(self.dir, "gateway.toml")
        with open(conf, "w") as f:
            f.write(
                f'[proxy]\nlisten = "127.0.0.1:{self.port}"\nupstream = "{upstream}"\n'
                f"shutdown_grace_seconds = 5\n{proxy}\n"
                f'[storage]\npath = "{self.db}"\n{storage}\n'
                + (f'[api]\nlisten = "127.0.0.1:{self.api_port}"\n' if api else "")
                + f"{extra}\n{EXTRA}\n"
            )
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "gateway"), "--config", conf],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"),
            preexec_fn=limit_files,
        )
        wait_port(self.port, self.proc, self.log)

    def status(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def sockets(self):
        n = 0
        try:
            for fd in os.listdir(f"/proc/{self.proc.pid}/fd"):
                try:
                    if os.readlink(f"/proc/{self.proc.pid}/fd/{fd}").startswith("socket:"):
                        n += 1
                except OSError:
                    pass
        except OSError:
            pass
        return n

    def metrics(self):
        c = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=60)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        return text

    def metric(self, name, text=None):
        for line in (text or self.metrics()).splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    def stop(self):
        """SIGTERM; returns the seconds until exit."""
        t = time.time()
        self.proc.terminate()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.time() - t

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Sampler(threading.Thread):
    """Peak RSS (MiB) and peak sockets of the gateway, every 50 ms."""

    def __init__(self, gw):
        super().__init__(daemon=True)
        self.gw, self.stop_flag = gw, threading.Event()
        self.peak_rss = self.peak_sockets = 0

    def run(self):
        while not self.stop_flag.is_set():
            try:
                self.peak_rss = max(self.peak_rss, self.gw.status("VmRSS"))
                self.peak_sockets = max(self.peak_sockets, self.gw.sockets())
            except OSError:
                return
            time.sleep(0.05)

    def finish(self):
        self.stop_flag.set()
        self.join()
        return self.peak_rss / 1024, self.peak_sockets


class NormalClient(threading.Thread):
    """One well-behaved client: sequential generateContent calls, each on a new connection,
    with a 10 s timeout."""

    def __init__(self, port, path=GEN, headers=None):
        super().__init__(daemon=True)
        self.port, self.path, self.headers = port, path, headers or {}
        self.stop_flag = threading.Event()
        self.ok = self.failed = 0
        self.latencies = []

    def run(self):
        conn = None
        while not self.stop_flag.is_set():
            t = time.time()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("POST", self.path, BODY, {"x-goog-api-key": "k", **self.headers})
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    self.ok += 1
                    self.latencies.append(time.time() - t)
                else:
                    self.failed += 1
                # A fresh connection for every request: a new client must get in too.
                conn.close()
                conn = None
            except (OSError, http.client.HTTPException):
                self.failed += 1
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.05)
        if conn:
            conn.close()

    def finish(self):
        self.stop_flag.set()
        self.join()
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000 if lat else float("nan")
        worst = lat[-1] * 1000 if lat else float("nan")
        return f"{self.ok} ok, {self.failed} failed (p50 {p50:.0f} ms, max {worst:.0f} ms)"


def parallel(n, work):
    """Runs work(i) for i in range(n) on n threads."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def flood(port, count, workers, make):
    """`count` requests from `workers` keep-alive clients; make(i) -> (path, headers, body)."""
    next_i = iter(range(count))
    lock = threading.Lock()
    done = {"ok": 0, "other": 0}

    def work(_):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                i = next(next_i, None)
            if i is None:
                break
            path, headers, body = make(i)
            try:
                conn.request("POST", path, body, headers)
                r = conn.getresponse()
                r.read()
                with lock:
                    done["ok" if r.status == 200 else "other"] += 1
            except (OSError, http.client.HTTPException):
                with lock:
                    done["other"] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.close()

    parallel(workers, work)
    return done


# ---- attacks: each returns (attack description, notes); the runner measures around it ----


def label_flood(gw):
    n = 20_000

    def make(i):
        model = f"flood-{i:05}-" + "abcdefghij" * 100
        return f"/v1beta/models/{model}:generateContent", {"x-goog-api-key": "k"}, BODY

    t = time.time()
    done = flood(gw.port, n, 16, make)
    secs = time.time() - t
    page = gw.metrics()
    other = gw.metric("gateway_metric_label_overflow_total", page)
    return (
        f"{n:,} requests, distinct 1 KB model names, 16 clients",
        f"{done['ok']:,} answered in {secs:.0f} s; /metrics {len(page) / 1024:.0f} KiB, "
        f"{other:,.0f} labels as `_OTHER`",
    )


def stalled_uploads(gw):
    n, sent, declared = 300, 15 << 19, 8 << 20  # 7.5 MiB of 8 MiB each
    socks = []
    chunk = b" " * (1 << 20)
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(
            f"POST {GEN} HTTP/1.1\r\nhost: x\r\nx-goog-api-key: k\r\n"
            f"content-type: application/json\r\ncontent-length: {declared}\r\n\r\n".encode()
        )
        left = sent
        while left:
            s.sendall(chunk[: min(left, len(chunk))])
            left -= min(left, len(chunk))
        socks.append(s)
    time.sleep(5)
    held = gw.metric("gateway_parse_budget_bytes_held")
    for s in socks:
        s.close()
    time.sleep(2)
    return (
        f"{n} uploads sending 7.5 of 8 MiB, then stalling (5 s)",
        f"RSS after they close {gw.status('VmRSS') / 1024:.0f} MiB"
        + (f"; budget held {held / 2**20:.0f} MiB" if held else ""),
    )


def trickle(socks, rounds):
    """One header byte on each socket every 5 s, `rounds` times; then how many are still open
    (closes them)."""
    for _ in range(rounds):
        time.sleep(5)
        for s in socks:
            try:
                s.send(b"x")
            except OSError:
                pass
    alive = 0
    for s in socks:
        try:
            s.setblocking(False)
            alive += s.recv(1) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
        s.close()
    return alive


def slowloris(gw):
    n = 1100  # over the gateway's file limit of 1024
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            s.sendall(b"POST " + GEN.encode() + b" HTTP/1.1\r\nhost: x\r\n")
            socks.append(s)
        except OSError:
            break
    alive = trickle(socks, 6)
    return (
        f"{n} connections feeding headers a byte per 5 s (30 s)",
        f"{len(socks)} opened, {alive} still open at the end",
    )


def slowloris_keepalive(gw):
    """slowloris on the second request of kept-alive connections: each answers one request in
    full, then feeds the next header a byte per 5 s for 40 s (past the 30 s header timeout,
    within the 60 s keep-alive timeout that bounds each read)."""
    n = 1100
    socks = []
    for _ in range(n):
        try:
            c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
            c.request("POST", GEN, BODY, {"x-goog-api-key": "k"})
            c.getresponse().read()
            c.sock.sendall(b"POST " + GEN.encode() + b" HTTP/1.1\r\nhost: x\r\n")
            socks.append(c.sock)
        except OSError:
            break
    alive = trickle(socks, 8)
    return (
        f"{n} kept-alive connections, each answered once, then feeding the next header a byte "
        "per 5 s (40 s)",
        f"{len(socks)} opened, {alive} still open at the end",
    )


def idle_keepalive(gw):
    n = 500
    conns = []
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        c.request("POST", GEN, BODY, {"x-goog-api-key": "k"})
        c.getresponse().read()
        conns.append(c)
    held_now = gw.sockets()
    time.sleep(65)
    held_later = gw.sockets()
    for c in conns:
        c.close()
    return (
        f"{n} keep-alive connections left idle after one request (65 s)",
        f"gateway sockets {held_now} after the requests, {held_later} after 65 s",
    )


def property_flood(gw):
    n = 2000
    headers = {f"x-gateway-property-p{i:03}": "v" * 2000 for i in range(200)}
    headers["x-goog-api-key"] = "k"
    done = flood(gw.port, n, 8, lambda i: (GEN, headers, BODY))
    conn = sqlite3.connect(gw.db)
    priced = conn.execute("SELECT COUNT(*) FROM traces WHERE cost_usd IS NOT NULL").fetchone()[0]
    return (
        f"{n:,} requests with 200 property headers of 2 KB, 8 clients",
        f"{done['ok']:,} answered; {priced:,} traces stored with their cost",
    )


class Hostile(BaseHTTPRequestHandler):
    """An upstream answering `x-attack: bomb` with a gzip bomb and `x-attack: overflow` with a
    usage of u64::MAX; anything else gets a normal answer."""

    protocol_version = "HTTP/1.1"
    bomb = gzip.compress(b" " * (64 << 20), 9)
    normal = json.dumps(
        {
            "candidates": [{"content": {"parts": [{"text": "ok"}], "role": "model"},
                            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1,
                              "totalTokenCount": 4},
            "modelVersion": "gemini-3.8-flash",
        }
    ).encode()
    overflow = normal.replace(b'"promptTokenCount": 3', b'"promptTokenCount": 18446744073709551615')

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        attack = self.headers.get("x-attack")
        body = {"bomb": self.bomb, "overflow": self.overflow}.get(attack, self.normal)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        if attack == "bomb":
            self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def gzip_bomb(gw):
    n = 200
    done = flood(gw.port, n, 8, lambda i: (GEN, {"x-goog-api-key": "k", "x-attack": "bomb"}, BODY))
    errors = gw.metric("gateway_response_decode_errors_total") or 0
    return (
        f"{n} answers that are gzip bombs (64 MiB in {len(Hostile.bomb) // 1024} KiB), 8 clients",
        f"{done['ok']} answered; {errors:.0f} decode truncations counted",
    )


def overflow_usage(gw):
    n = 2000
    done = flood(
        gw.port, n, 8, lambda i: (GEN, {"x-goog-api-key": "k", "x-attack": "overflow"}, BODY)
    )
    time.sleep(2)
    conn = sqlite3.connect(gw.db)
    unpriced, top = conn.execute(
        "SELECT SUM(unpriced), MAX(COALESCE(cost_usd, 0)) FROM traces WHERE input_tokens IS NULL"
    ).fetchone()
    return (
        f"{n:,} answers with a usage of u64::MAX, 8 clients",
        f"{done['ok']:,} answered; {unpriced or 0:,} flagged unpriced, highest cost ${top or 0:g}",
    )


def slow_plugin(gw):
    n = 1000
    t = time.time()
    done = flood(gw.port, n, 32, lambda i: (GEN, {"x-goog-api-key": "k"}, BODY))
    secs = time.time() - t
    return (
        f"a plugin whose completion hook takes 200 ms; {n:,} requests, 32 clients",
        f"{done['ok']:,} answered in {secs:.1f} s ({done['ok'] / secs:.0f} req/s)",
    )


def log_has(gw, needle):
    with open(gw.log) as f:
        return f.read().count(needle)


def health(gw):
    c = http.client.HTTPConnection("127.0.0.1", gw.api_port, timeout=10)
    c.request("GET", "/healthz")
    status = c.getresponse().status
    c.close()
    return status


def db_unlink_replace(gw):
    stop = threading.Event()
    answered = [0]
    lock = threading.Lock()

    def load(_):
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
        while not stop.is_set():
            try:
                conn.request("POST", GEN, BODY, {"x-goog-api-key": "k"})
                r = conn.getresponse()
                r.read()
                with lock:
                    answered[0] += r.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(3)
    probe = sqlite3.connect(gw.db)
    at_unlink = probe.execute("SELECT COUNT(*) FROM traces").fetchone()[0]
    probe.close()
    os.unlink(gw.db)
    time.sleep(3)
    # Replace by renaming another gateway database (a copy of the current one) over the path.
    copy = gw.db + ".copy"
    src = sqlite3.connect(gw.db)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    at_copy = dst.execute("SELECT COUNT(*) FROM traces").fetchone()[0]
    dst.close()
    os.rename(copy, gw.db)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join()
    # The normal client's requests count as sent too: stop it before counting.
    gw.normal.stop_flag.set()
    gw.normal.join()
    time.sleep(2)
    stored = sqlite3.connect(gw.db).execute("SELECT COUNT(*) FROM traces").fetchone()[0]
    page = gw.metrics()
    lost = gw.metric("gateway_traces_dropped_total", page) or 0
    dropped = sum(
        float(l.rsplit(" ", 1)[1])
        for l in page.splitlines()
        if l.startswith("gateway_spans_dropped_total")
    )
    return (
        "8 clients for 9 s; the database unlinked at 3 s, replaced by rename at 6 s",
        f"{answered[0]:,} answered to the load; traces: {at_unlink:,} in the file when unlinked, "
        f"{at_copy:,} in the new file when copied, {stored - at_copy:,} written into the "
        f"replacement after; {dropped:.0f} spans ({lost:.0f} traces) counted as dropped; "
        f"stored + counted = {stored + lost:,.0f} of {answered[0] + gw.normal.ok + gw.normal.failed:,} sent; /healthz "
        f"{health(gw)}; log: {log_has(gw, 'deleted or moved away')} deleted, "
        f"{log_has(gw, 'replaced by another file')} replaced",
    )


ATTACKS = {
    "label_flood": (label_flood, "fake", "", ""),
    "stalled_uploads": (stalled_uploads, "fake", "", ""),
    "slowloris": (slowloris, "fake", "", ""),
    "slowloris_keepalive": (slowloris_keepalive, "fake", "", ""),
    "idle_keepalive": (idle_keepalive, "fake", "", ""),
    "property_flood": (property_flood, "fake", "", ""),
    "gzip_bomb": (gzip_bomb, "hostile", "max_parse_bytes = 1048576", ""),
    "overflow_usage": (overflow_usage, "hostile", "", ""),
    "slow_plugin": (slow_plugin, "fake", "", "plugin"),
    "db_unlink_replace": (db_unlink_replace, "fake", "", ""),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="", help="comma-separated attack names")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--bin-dir", default=REL, help="where gateway and fake-gemini are")
    ap.add_argument("--extra", default="", help="TOML appended to every gateway config")
    args = ap.parse_args()
    global BIN, EXTRA
    BIN, EXTRA = args.bin_dir, args.extra.replace("\\n", "\n")
    only = [a for a in args.only.split(",") if a] or list(ATTACKS)
    if not args.no_build:
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "gemini-gateway", "-p", "fake-gemini",
             "-p", "pii-tagger"],
            cwd=ROOT, check=True,
        )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    fake_port = free_port()
    fake_log = tempfile.NamedTemporaryFile(prefix="fake-", suffix=".log", delete=False).name
    fake = subprocess.Popen(
        [os.path.join(BIN, "fake-gemini"), "--listen", f"127.0.0.1:{fake_port}", "--chunks", "1"],
        stdout=subprocess.DEVNULL, stderr=open(fake_log, "w"),
    )
    wait_port(fake_port, fake, fake_log)
    hostile = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=hostile.serve_forever, daemon=True).start()
    upstreams = {
        "fake": f"http://127.0.0.1:{fake_port}",
        "hostile": f"http://127.0.0.1:{hostile.server_address[1]}",
    }
    plugin = os.path.join(BIN, "libpii_tagger.so")
    rows = []
    try:
        for name in only:
            attack, upstream, proxy, extra = ATTACKS[name]
            if extra == "plugin":
                extra = f'[[plugins]]\npath = "{plugin}"\n[plugins.config]\ncomplete_sleep_ms = 200\n'
            gw = Gateway(upstreams[upstream], proxy, extra)
            try:
                idle = gw.status("VmRSS") / 1024
                sampler = Sampler(gw)
                sampler.start()
                normal = NormalClient(gw.port)
                normal.start()
                gw.normal = normal
                what, notes = attack(gw)
                served = normal.finish()
                peak, sockets = sampler.finish()
                after = gw.status("VmRSS") / 1024
                shutdown = gw.stop()
                if name == "slow_plugin":
                    notes += f"; SIGTERM to exit {shutdown:.1f} s"
                rows.append((name, what, f"{idle:.0f} / {peak:.0f} / {after:.0f}", sockets,
                             served, notes))
                print(f"{name}: {rows[-1]}", file=sys.stderr, flush=True)
            finally:
                gw.cleanup()
    finally:
        fake.terminate()
        hostile.shutdown()
    print("| attack | what | RSS MiB idle / peak / after | gateway sockets (peak) | "
          "normal client during the attack | notes |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


if __name__ == "__main__":
    main()
