#!/usr/bin/env python3
"""The added p99 at concurrency 1, with what the machine did meanwhile.

The c=1 setup of bench/issue17.py (upstream: its own nginx with a fixed generateContent answer;
the default gateway; wrk -t1 -c1), run `--rounds` times for `--seconds` each, printing per round:
req/s, p50 and p99, the CPU seconds of each gateway thread group, and the steal time of the
whole machine (`/proc/stat`: time the hypervisor ran something else while a vCPU wanted to run).
Also the upstream reached directly, once, for the "added" figures.

    bench/tail.py [--seconds 8] [--rounds 2] [--no-build] [--db-dir DIR] [--builtins TOML]
                  [--gateway-env NAME=VALUE]... [--bin PATH]

`--db-dir` puts the database elsewhere (a tmpfs such as /dev/shm takes the disk out);
`--builtins` appends a `[builtins]` table to the configuration (e.g. 'sqlite = false').
Needs wrk and nginx (apt) and a release build (made here unless --no-build). Asserts nothing.
"""

import argparse, os, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from issue17 import REL, ROOT, cpu_by_group, free_port, threads, upstream_nginx, wait_port, wrk  # noqa: E402


def steal_seconds():
    """The machine's steal time so far, in seconds (the 8th value of /proc/stat's cpu line)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--db-dir", help="directory of the database (default: a temporary one)")
    ap.add_argument("--builtins", default="", help="lines of a [builtins] table")
    ap.add_argument("--gateway-env", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--bin", help="the gateway binary to run (default: the release build)")
    a = ap.parse_args()
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "gemini-gateway"], cwd=ROOT, check=True)
    tmp = Path(tempfile.mkdtemp(prefix="gw-tail-"))
    db_dir = Path(a.db_dir) if a.db_dir else tmp
    db = db_dir / f"tail-{os.getpid()}.db"
    up, port = free_port(), free_port()
    upstream = upstream_nginx(tmp, up)
    builtins = f"[builtins]\n{a.builtins}\n" if a.builtins else ""
    cfg = tmp / "gateway.toml"
    cfg.write_text(f'[proxy]\nlisten = "127.0.0.1:{port}"\nupstream = "http://127.0.0.1:{up}"\n'
                   f'shutdown_grace_seconds = 1\n[storage]\npath = "{db}"\n{builtins}')
    env = dict(os.environ)
    env.update(kv.split("=", 1) for kv in a.gateway_env)
    gw = subprocess.Popen([a.bin or str(REL / "gateway"), "--config", str(cfg)], env=env, start_new_session=True,
                          stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "w"))
    try:
        wait_port(up)
        wait_port(port)
        time.sleep(1)
        direct = wrk(f"http://127.0.0.1:{up}", 1, a.seconds)
        print(f"upstream direct: p50 {direct['p50']:.3f} ms, p99 {direct['p99']:.3f} ms\n")
        print("| round | req/s | p50 (ms) | p99 (ms) | added p99 (ms) | CPU s: proxy / writer / other | steal (s) |")
        print("|---|---|---|---|---|---|---|")
        for i in range(a.rounds):
            before, stolen = threads(gw.pid), steal_seconds()
            r = wrk(f"http://127.0.0.1:{port}", 1, a.seconds)
            cpu = cpu_by_group(before, threads(gw.pid))
            stolen = steal_seconds() - stolen
            print(f"| {i + 1} | {r['rps']:,.0f} | {r['p50']:.3f} | {r['p99']:.3f} | "
                  f"{r['p99'] - direct['p99']:+.3f} | {cpu['proxy']:.2f} / {cpu['writer']:.2f} / "
                  f"{cpu['other']:.2f} | {stolen:.2f} |", flush=True)
    finally:
        for p in (gw, upstream):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(30)
        for f in db_dir.glob(f"{db.name}*"):
            f.unlink()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
