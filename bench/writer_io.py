#!/usr/bin/env python3
"""Bytes and CPU per request of the SQLite writer and its checkpoint thread, under load.

Starts the issue-17 upstream (its own nginx, a fixed generateContent answer) and the default
gateway on a new database, grows the file for `--warm` seconds at wrk -t1 -c32, then measures
`--seconds` more and prints, per request, what each of the two threads wrote and read through
system calls (`wchar`/`rchar` of `/proc/<pid>/task/<tid>/io`: WAL frames and checkpoint copies,
page reads that missed SQLite's cache), the write and read system calls that did it, and its
CPU (user and system apart).

    bench/writer_io.py [--bin PATH] [--warm 10] [--seconds 20]

Needs nginx and wrk, like bench/issue17.py, and a release build (`--bin` picks another
binary). Asserts nothing.
"""

import argparse, shutil, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from issue17 import REL, free_port, stop_all, task_times, upstream_nginx, wait_port, wrk  # noqa: E402


def sqlite_threads(pid):
    """(wchar, rchar, write calls, read calls, user s, system s) of the gateway's `sqlite-*`
    threads, by thread name."""
    out = {}
    for tid, (name, user, system) in task_times(pid).items():
        if name.startswith("sqlite-"):
            io = Path(f"/proc/{pid}/task/{tid}/io").read_text().splitlines()
            io = dict(line.split(": ") for line in io if line)
            out[name] = (int(io["wchar"]), int(io["rchar"]), int(io["syscw"]), int(io["syscr"]),
                         user, system)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(REL / "gateway"), help="the gateway binary to run")
    ap.add_argument("--warm", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=20)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gw-writer-io-"))
    procs = []
    try:
        up, gw = free_port(), free_port()
        procs.append(upstream_nginx(tmp, up))
        cfg = tmp / "gateway.toml"
        cfg.write_text(f'[proxy]\nlisten = "127.0.0.1:{gw}"\nupstream = "http://127.0.0.1:{up}"\n'
                       f'shutdown_grace_seconds = 2\n[storage]\npath = "{tmp}/gateway.db"\n')
        p = subprocess.Popen([a.bin, "--config", str(cfg)], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "w"))
        procs.append(p)
        wait_port(up)
        wait_port(gw)
        time.sleep(1)
        url = f"http://127.0.0.1:{gw}"
        wrk(url, 32, a.warm)
        before = sqlite_threads(p.pid)
        run = wrk(url, 32, a.seconds)
        time.sleep(1)
        after = sqlite_threads(p.pid)
        n = max(run["requests"], 1)
        print(f"{a.bin}: {run['rps']:,.0f} req/s at c=32 for {a.seconds} s, after {a.warm} s")
        print("\n| thread | written (KiB) | read (KiB) | write / read calls | CPU user + system (µs) |"
              "\n|---|---|---|---|---|")
        for name in sorted(after):
            w, r, cw, cr, user, system = (after[name][i] - before.get(name, (0,) * 6)[i] for i in range(6))
            print(f"| {name} | {w / n / 1024:.1f} | {r / n / 1024:.1f} | {cw / n:.2f} / {cr / n:.2f} | "
                  f"{user / n * 1e6:.1f} + {system / n * 1e6:.1f} = {(user + system) / n * 1e6:.1f} |")
    finally:
        stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
