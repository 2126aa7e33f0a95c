#!/usr/bin/env python3
"""The sustained run of bench/issue17.py alone, with the writer's queue sampled while it lasts.

`bench/issue17.py` reports the spans dropped over the whole run; this shows when. It starts the
same upstream (nginx, one worker, a fixed generateContent answer) and the default gateway (its
API on a free port for `/metrics`), runs `wrk -t1 -c32` for `--seconds`, and every `--every`
seconds prints, from `/metrics` and the file system: spans written, spans dropped because the
queue was full, the queue's depth, the writer's promotions (to normal priority, to nice -10),
and the sizes of the WAL and of the database, and the gateway's resident set.

    bench/sustain.py [--seconds 60] [--every 1] [--no-build] [--bin PATH]

Needs nginx and wrk, like bench/issue17.py. Asserts nothing.
"""

import argparse, os, shutil, signal, sqlite3, subprocess, tempfile, threading, time, urllib.request
from pathlib import Path

from issue17 import REL, ROOT, free_port, upstream_nginx, wait_port, wrk

# `/metrics` lines sampled, by the name they start with, and their column titles.
SAMPLED = [
    ("gateway_spans_exported_total", "written"),
    ('gateway_spans_dropped_total{reason="queue_full"}', "dropped"),
    ("gateway_writer_queue_depth", "queued"),
    ("gateway_writer_priority_boosts_total", "boosts"),
    ("gateway_writer_priority_urgent_total", "urgent"),
]


def sample(api):
    text = urllib.request.urlopen(f"http://127.0.0.1:{api}/metrics", timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        for name, title in SAMPLED:
            if line.startswith(name + " "):
                values[title] = int(float(line.rsplit(" ", 1)[1]))
    return values


def rss_mib(pid):
    """The process's resident set now (VmRSS), in MiB; 0 once it is gone."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def mib(path):
    return os.path.getsize(path) / (1 << 20) if os.path.exists(path) else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--every", type=float, default=1.0)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--bin", help="the gateway binary to run (default: the release build)")
    a = ap.parse_args()
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "gemini-gateway"], cwd=ROOT, check=True)
    tmp = Path(tempfile.mkdtemp(prefix="gw-sustain-"))
    up, port, api = free_port(), free_port(), free_port()
    upstream = upstream_nginx(tmp, up)
    db = tmp / "gateway.db"
    cfg = tmp / "gateway.toml"
    cfg.write_text(f'[proxy]\nlisten = "127.0.0.1:{port}"\nupstream = "http://127.0.0.1:{up}"\n'
                   f'shutdown_grace_seconds = 2\n[storage]\npath = "{db}"\n'
                   f'[api]\nlisten = "127.0.0.1:{api}"\n')
    gw = subprocess.Popen([a.bin or str(REL / "gateway"), "--config", str(cfg)], start_new_session=True,
                          stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "w"))
    rows = []
    stop = threading.Event()
    try:
        wait_port(up)
        wait_port(port)
        wait_port(api)
        time.sleep(1)

        def sampler():
            t0 = time.time()
            while not stop.is_set():
                try:
                    rows.append((time.time() - t0, sample(api), mib(f"{db}-wal"), mib(db), rss_mib(gw.pid)))
                except OSError as e:
                    rows.append((time.time() - t0, {"error": str(e)}, 0.0, 0.0, 0.0))
                stop.wait(a.every)

        th = threading.Thread(target=sampler)
        th.start()
        result = wrk(f"http://127.0.0.1:{port}", 32, a.seconds)
        stop.set()
        th.join()
        gw.send_signal(signal.SIGTERM)
        gw.wait(60)
        stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM traces").fetchone()[0]
    finally:
        stop.set()
        for p in (gw, upstream):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(30)
        # The database of a minute at full rate is gigabytes: not left behind.
        shutil.rmtree(tmp, ignore_errors=True)
    titles = [t for _, t in SAMPLED]
    print(f"## Sustained {a.seconds} s at c=32 through the default gateway, sampled every {a.every} s\n")
    print("| s | " + " | ".join(titles) + " | WAL (MiB) | database (MiB) | RSS (MiB) |")
    print("|---" * (len(titles) + 4) + "|")
    for t, v, wal, size, rss in rows:
        print(f"| {t:.1f} | " + " | ".join(f"{v.get(k, '')}" for k in titles)
              + f" | {wal:.0f} | {size:.0f} | {rss:.0f} |")
    answered = result["requests"] - result["non2xx"]
    peak = max((r[4] for r in rows), default=0.0)
    print(f"\n{result['rps']:,.0f} req/s, p99 {result['p99']:.2f} ms; {answered:,} answered, "
          f"{stored:,} trace rows after SIGTERM (wrk stops counting before its last in-flight answers); "
          f"peak sampled RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
