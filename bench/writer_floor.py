#!/usr/bin/env python3
"""The storage floor: the gateway's writer under load against the store alone on the same rows.

Runs the default gateway behind the issue-17 upstream (its own nginx, a fixed generateContent
answer) at wrk -t1 -c32 for `--seconds`, and prints its SQLite threads' CPU per request (as
bench/writer_io.py does). Then stops it and replays the file's rows through the store alone
(`cargo run --release -p gateway-store --example writer_floor`): the same schema, indexes,
pragmas, batches and checkpoint thread, without the span conversion, the queue or the proxy,
on an otherwise idle machine. The example's variants leave parts of the data contract out to
price each of them (see its documentation).

    bench/writer_floor.py [--bin PATH] [--seconds 10] [--requests 100000] [--variants ...] [--loaded]

`--loaded` keeps the machine about as busy as the gateway's run did while the floor runs: wrk
-t1 -c32 against the upstream alone. The floor's writer runs at normal priority, where the
gateway's runs at idle priority and yields its core to every proxy thread woken on it, so that
part of the gateway's contention is not reproduced.

Needs nginx and wrk, like bench/issue17.py, and release builds (made here unless --no-build).
Asserts nothing.
"""

import argparse, os, shutil, signal, subprocess, sys, tempfile, threading, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from issue17 import REL, start_gateway, stop_all, upstream_nginx, free_port, wait_port, wrk  # noqa: E402
from writer_io import sqlite_threads  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(REL / "gateway"), help="the gateway binary to run")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--requests", type=int, default=100000, help="requests the floor replays")
    ap.add_argument("--variants", default="stored,no-repeats,no-attributes,no-metric-rows,spans-only")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--loaded", action="store_true", help="wrk against the upstream meanwhile")
    a = ap.parse_args()
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "gemini-gateway", "-p", "gateway-store",
                        "--example", "writer_floor"], cwd=ROOT, check=True)
    tmp = Path(tempfile.mkdtemp(prefix="gw-floor-"))
    procs = []
    try:
        up = free_port()
        procs.append(upstream_nginx(tmp, up))
        wait_port(up)
        port, gw = start_gateway(a.bin, tmp, "gateway", up, "")
        procs.append(gw)
        wait_port(port)
        time.sleep(1)
        before = sqlite_threads(gw.pid)
        run = wrk(f"http://127.0.0.1:{port}", 32, a.seconds)
        time.sleep(2)
        after = sqlite_threads(gw.pid)
        n = max(run["requests"], 1)
        cpu = sum((after[t][4] + after[t][5]) - (before.get(t, (0,) * 6)[4] + before.get(t, (0,) * 6)[5])
                  for t in after)
        print(f"## The gateway under load: {run['rps']:,.0f} req/s at c=32 for {a.seconds} s; its "
              f"SQLite threads (writer and checkpoint): {cpu / n * 1e6:.1f} µs of CPU per request\n")
        os.killpg(gw.pid, signal.SIGTERM)
        gw.wait(30)
        os.sync()
        print("## The store alone on the same rows" + (" (wrk -c32 on the upstream meanwhile)"
              if a.loaded else "") + "\n", flush=True)
        floor = subprocess.Popen([str(REL / "examples" / "writer_floor"), str(tmp / "gateway.db"),
                                  "--requests", str(a.requests), "--variants", a.variants])
        failed = []
        if a.loaded:
            # wrk in short rounds until the floor is done: its run length is not known before.
            def load():
                try:
                    while floor.poll() is None:
                        wrk(f"http://127.0.0.1:{up}", 32, 2)
                except Exception as e:  # noqa: BLE001 - reported below, the figures are then not "loaded"
                    failed.append(e)
            threading.Thread(target=load, daemon=True).start()
        if floor.wait() != 0:
            sys.exit("writer_floor failed")
        if failed:
            sys.exit(f"the load stopped during the floor ({failed[0]}): these figures are not loaded")
    finally:
        stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
