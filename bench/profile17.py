#!/usr/bin/env python3
"""Where the time goes: a sampling profile of the release gateway under load, by thread.

The setup of bench/issue17.py (upstream: its own nginx with a fixed generateContent answer; the
default gateway, observability on; wrk -t1 -c32, nothing pinned). While wrk runs, `perf record`
samples the gateway's threads on the cpu-clock software event (this machine kind has no
hardware counters) with call graphs; the report prints, for the proxy threads and for the
SQLite writer, the share of samples by shared object and the top functions (self time).
Asserts nothing.

    bench/profile17.py [--seconds 30] [--no-build] [--top 25] [--gateway-env NAME=VALUE]...

Needs wrk, nginx and perf (apt: wrk nginx linux-perf) and a release build (made here unless
--no-build). The raw profile stays in bench-out/profile17.data for `perf report -i`.
"""

import argparse, collections, os, signal, sqlite3, subprocess, sys, tempfile, threading, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from issue17 import REL, ROOT, free_port, group, threads, upstream_nginx, wait_port, wrk  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--gateway-env", action="append", default=[], metavar="NAME=VALUE",
                    help="set in the gateway's environment only (e.g. LD_PRELOAD=..., GLIBC_TUNABLES=...)")
    a = ap.parse_args()
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "gemini-gateway"], cwd=ROOT, check=True)
    tmp = Path(tempfile.mkdtemp(prefix="gw-profile17-"))
    out = ROOT / "bench-out"
    out.mkdir(exist_ok=True)
    data = out / "profile17.data"
    procs = []
    try:
        up = free_port()
        procs.append(upstream_nginx(tmp, up))
        port = free_port()
        cfg = tmp / "gateway.toml"
        cfg.write_text(f'[proxy]\nlisten = "127.0.0.1:{port}"\nupstream = "http://127.0.0.1:{up}"\n'
                       f'shutdown_grace_seconds = 2\n[storage]\npath = "{tmp}/gateway.db"\n')
        env = dict(os.environ, **dict(kv.split("=", 1) for kv in a.gateway_env))
        gw = subprocess.Popen([str(REL / "gateway"), "--config", str(cfg)], start_new_session=True, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "w"))
        procs.append(gw)
        wait_port(up)
        wait_port(port)
        time.sleep(1)
        result = {}
        load = threading.Thread(target=lambda: result.update(wrk(f"http://127.0.0.1:{port}", 32, a.seconds)))
        before = threads(gw.pid)
        load.start()
        time.sleep(2)  # past the warm-up
        record = max(a.seconds - 4, 2)
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "1999", "-g", "-p", str(gw.pid),
                        "-o", str(data), "--", "sleep", str(record)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load.join()
        time.sleep(2)  # the writer stores its backlog, counted in its CPU below
        after = threads(gw.pid)
        cpu = collections.Counter()
        for tid, (name, c) in after.items():
            cpu[group(name)] += c - before.get(tid, (name, 0.0))[1]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    # One line per (thread name, shared object, function): its share of all samples (self time).
    script = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
                             "--sort", "comm,dso,sym", "--percent-limit", "0", "-t", "|"],
                            capture_output=True, text=True, check=True).stdout
    by = collections.defaultdict(lambda: {"dso": collections.Counter(), "sym": collections.Counter()})
    for line in script.splitlines():
        if line.startswith("#") or line.count("|") < 3:
            continue
        pct, comm, dso, sym = (f.strip() for f in line.split("|", 3))
        try:
            pct = float(pct.rstrip("%"))
        except ValueError:
            continue
        g = group(comm)
        by[g]["dso"][dso] += pct
        by[g]["sym"][sym.removeprefix("[.] ").removeprefix("[k] ")] += pct
    reqs = max(result.get("requests", 0), 1)
    # Traces stored (the gateway wrote its queue before exiting): a writer that drops spans does
    # less work per request, so its CPU is also given per trace it stored.
    db = sqlite3.connect(f"file:{tmp}/gateway.db?mode=ro", uri=True)
    stored = db.execute("SELECT COUNT(*) FROM traces").fetchone()[0]
    db.close()
    lines = [f"{result.get('rps', 0):,.0f} req/s at c=32 over {a.seconds} s; CPU per request (µs, /proc): "
             + ", ".join(f"{k} {v / reqs * 1e6:.1f}" for k, v in sorted(cpu.items()))
             + f"; traces stored {stored:,} of {reqs:,} answered (writer {cpu['writer'] / max(stored, 1) * 1e6:.1f} µs"
             + " per stored trace)", ""]
    for g in ("proxy", "writer", "other"):
        total = sum(by[g]["dso"].values())
        if total == 0:
            continue
        lines.append(f"## {g} threads: {total:.1f}% of all samples\n")
        lines.append("| shared object | share of this group |\n|---|---|")
        for dso, p in by[g]["dso"].most_common(8):
            lines.append(f"| {dso} | {p / total * 100:.1f}% |")
        lines.append("\n| function (self) | share of this group |\n|---|---|")
        for sym, p in by[g]["sym"].most_common(a.top):
            lines.append(f"| `{sym[:90]}` | {p / total * 100:.1f}% |")
        lines.append("")
    text = "\n".join(lines)
    (out / "profile17.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
