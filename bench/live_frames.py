#!/usr/bin/env python3
"""Added latency per Live API frame: the gateway against direct, over WebSocket.

Starts fake-gemini and two gateways: "gateway-on", the default (every turn an LLM span with its
usage and cost, written to SQLite), and "gateway-off" (built-in plugins and SQLite off), then
runs the same Live sessions against each target, taking turns session by session. Each turn is one client frame (`realtimeInput` text)
answered by five server frames (three answer parts, `generationComplete`, `turnComplete` with
`usageMetadata`); every server frame's latency is its arrival time measured from the client
frame that caused it, so a frame through the gateway crossed it twice (request and answer).
Prints a markdown table: median and p99 per target, and the gateway's added latency (gateway
minus direct, per statistic), for the first frame of each answer (one frame each way through
the gateway), the last (`turnComplete` with `usageMetadata`: the gateway meters the turn and
emits its span before forwarding it) and all of them. Asserts nothing, except that gateway-on stored every session and turn.

    .venv/bin/python bench/live_frames.py [--sessions 20] [--turns 100] [--release]

Needs the `websockets` package (a dependency of google-genai: the tests' .venv has it) and the
binaries in target/debug (or target/release with --release; build them first).
"""

import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
MODEL = "gemini-live-bench"  # not a thinking model in the fake: no thought part
# "gateway-off": the same binary with the built-in plugins and SQLite off (frames are still
# decoded and turns still spanned, nothing is priced or stored).
OFF = "token_cost = false\nmetric_snapshots = false\nsqlite = false\n"
# Cores: the gateways alone on 0; the fake and this client on 1 (as bench/compare.py).
GW_CPU, LOAD_CPU = "0", "1"


def pin(cpu):
    return ["taskset", "-c", cpu] if os.cpu_count() and os.cpu_count() > 1 else []


def wait_port(port, proc, log, timeout=60):
    import socket

    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"exited early:\n{Path(log).read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"port {port} never opened")


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session(base, turns, samples):
    """One Live session of `turns` turns; appends (frame index, or "last" for the frame with
    `usageMetadata`, and seconds since the client frame) per server frame."""
    with connect(base + PATH, additional_headers={"x-goog-api-key": "bench-key"},
                 max_size=None, compression=None) as ws:
        ws.send(json.dumps({"setup": {"model": f"models/{MODEL}"}}))
        assert "setupComplete" in json.loads(ws.recv())
        for n in range(turns):
            msg = json.dumps({"realtimeInput": {"text": f"turn {n} of the benchmark"}})
            t0 = time.perf_counter()
            ws.send(msg)
            k = 0
            while True:
                frame = ws.recv()
                dt = time.perf_counter() - t0
                last = b"usageMetadata" in (frame if isinstance(frame, bytes) else frame.encode())
                samples.append(("last" if last else k, dt))
                k += 1
                if last:
                    break


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--turns", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=2, help="sessions per target not measured")
    ap.add_argument("--release", action="store_true")
    a = ap.parse_args()
    target = ROOT / "target" / ("release" if a.release else "debug")
    tmp = Path(tempfile.mkdtemp(prefix="live-bench-"))
    procs = []
    try:
        fake = subprocess.Popen(pin(LOAD_CPU) + [str(target / "fake-gemini"), "--listen",
                                "127.0.0.1:0"], stdout=subprocess.PIPE,
                                stderr=open(tmp / "fake.log", "w"), text=True)
        procs.append(fake)
        upstream = re.search(r"http://\S+", fake.stdout.readline()).group(0)
        bases = {"direct": upstream.replace("http://", "ws://")}
        gateways = {}
        for name, builtins in [("gateway-off", OFF), ("gateway-on", "")]:
            port = free_port()
            db = tmp / f"{name}.db"
            (tmp / f"{name}.toml").write_text(
                f'[proxy]\nlisten = "127.0.0.1:{port}"\nupstream = "{upstream}"\nthreads = 1\n'
                f'shutdown_grace_seconds = 5\n[storage]\npath = "{db}"\n[builtins]\n{builtins}'
            )
            log = tmp / f"{name}.log"
            gw = subprocess.Popen(pin(GW_CPU) + [str(target / "gateway"), "--config",
                                  str(tmp / f"{name}.toml")], stdout=subprocess.DEVNULL,
                                  stderr=open(log, "w"), env={**os.environ, "RUST_LOG": "warn"})
            procs.append(gw)
            wait_port(port, gw, log)
            bases[name] = f"ws://127.0.0.1:{port}"
            gateways[name] = (gw, db)
        # This client shares core 1 with the fake.
        if pin(LOAD_CPU):
            os.sched_setaffinity(0, {int(LOAD_CPU)})
        samples = {name: [] for name in bases}
        for _ in range(a.warmup):
            for base in bases.values():
                session(base, a.turns, [])
        for _ in range(a.sessions):
            for name, base in bases.items():
                session(base, a.turns, samples[name])
        for gw, _ in gateways.values():
            gw.terminate()
            gw.wait(timeout=60)
        conn = sqlite3.connect(gateways["gateway-on"][1])
        sessions = conn.execute("SELECT COUNT(*) FROM traces").fetchone()[0]
        turns = conn.execute(
            "SELECT COUNT(*) FROM spans WHERE instr(attributes, '\"gateway.live.turn.index\"') > 0"
        ).fetchone()[0]
        want = (a.sessions + a.warmup, (a.sessions + a.warmup) * a.turns)
        if (sessions, turns) != want:
            sys.exit(f"stored {sessions} sessions and {turns} turns, expected {want}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def stats(xs):
        return statistics.median(xs) * 1e3, pct(xs, 99) * 1e3

    build = "release" if a.release else "debug"
    print(f"Live frames: {a.sessions} sessions x {a.turns} turns per target ({build} build), "
          f"{len(samples['gateway-on'])} server frames per target; stored {sessions} sessions, "
          f"{turns} turn spans.\n")
    print("| frames | target | frames measured | p50 ms | p99 ms | added p50 ms | added p99 ms |")
    print("|---|---|---|---|---|---|---|")
    rows = [
        ("first of a turn", lambda k: k == 0),
        ("last of a turn (usage)", lambda k: k == "last"),
        ("every frame", lambda k: True),
    ]
    for label, keep in rows:
        direct = stats([s for k, s in samples["direct"] if keep(k)])
        for name in bases:
            xs = [s for k, s in samples[name] if keep(k)]
            p50, p99 = stats(xs)
            print(f"| {label} | {name} | {len(xs)} | {p50:.3f} | {p99:.3f} | "
                  f"{p50 - direct[0]:+.3f} | {p99 - direct[1]:+.3f} |")


if __name__ == "__main__":
    main()
