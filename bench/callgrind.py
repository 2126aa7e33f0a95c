#!/usr/bin/env python3
"""Instructions per request of the release gateway, per thread, under callgrind.

Instruction counts do not depend on what else runs on the machine, so this is the figure to
compare two builds with while the machine is busy. The gateway runs under
`valgrind --tool=callgrind --separate-threads=yes`, the fake upstream (release, not under
valgrind) in another process. After a warm-up the counters are zeroed, a fixed number of
`generateContent` requests is sent over a few keep-alive connections, the writer is given time
to persist them, and the counters are dumped; each thread's file is then summed and labelled
(proxy workers, SQLite writer, other).

    bench/callgrind.py [--requests 2000] [--conns 4] [--off | --bare] [--top 25] [--keep DIR]

`--off` runs the gateway with `[builtins]` all off; `--bare` runs pingora alone (the example
`bare_pingora`: the floor of the proxy path). Prints instructions per request per thread
kind and the top functions (self and inclusive) of the proxy and writer threads.
Needs valgrind; builds the release binaries if missing. Asserts nothing.
"""

import argparse, glob, http.client, os, re, shutil, signal, subprocess, sys, tempfile
import threading, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from issue17 import OFF_BUILTINS, free_port, wait_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REL = ROOT / "target" / "release"
PATH = "/v1beta/models/gemini-2.5-flash-lite:generateContent"
BODY = ('{"contents":[{"role":"user","parts":[{"text":"Summarise the benchmark in one line"}]}],'
        '"generationConfig":{"temperature":0.2}}')
KEY = "sk-b3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nch0123"


def send(port, n, conns):
    """`n` requests over `conns` keep-alive connections; returns the count of 200s."""
    ok = [0] * conns
    def worker(i, count):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(count):
            c.request("POST", PATH, BODY, {"content-type": "application/json", "x-goog-api-key": KEY,
                                           "x-gateway-user-id": "bench"})
            r = c.getresponse()
            r.read()
            ok[i] += r.status == 200
        c.close()
    ts = [threading.Thread(target=worker, args=(i, n // conns + (i < n % conns))) for i in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(ok)


def parse(path):
    """Self instructions per function, and instructions of each caller -> callee edge."""
    selfc, calls = {}, {}
    fn = cfn = None
    in_call = False
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                fn = line[3:].strip()
            elif line.startswith("cfn="):
                cfn = line[4:].strip()
            elif line.startswith("calls="):
                in_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) < 2 or not parts[1].isdigit():
                    continue
                if in_call:
                    calls[(fn, cfn)] = calls.get((fn, cfn), 0) + int(parts[1])
                    in_call = False
                else:
                    selfc[fn] = selfc.get(fn, 0) + int(parts[1])
    return selfc, calls


def thread_summary(path):
    """(total instructions, self cost per function, inclusive cost per function, kind)."""
    selfc, calls = parse(path)
    incl = dict(selfc)
    for (a, b), v in calls.items():
        if a != b:
            incl[a] = incl.get(a, 0) + v
    names = " ".join(selfc)
    # The WAL checkpoint thread (store/src/checkpoint.rs) is persistence too: counted with the writer.
    if ("Writer<E>::export" in names or any("Writer<E>::export" in a for a, _ in calls)
            or any("walCheckpoint" in f for f in selfc)):
        kind = "writer"
    elif any("process_new_http" in a for a, _ in calls):
        kind = "proxy"
    else:
        kind = "other"
    return sum(selfc.values()), selfc, incl, kind


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--off", action="store_true", help="[builtins] all off")
    ap.add_argument("--bare", action="store_true", help="pingora alone (examples/bare_pingora.rs)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--keep", help="keep the callgrind files in this directory")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is needed (apt install valgrind)")
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "gemini-gateway", "-p", "fake-gemini"],
                       cwd=ROOT, check=True)
        if a.bare:
            subprocess.run(["cargo", "build", "--release", "-q", "-p", "gemini-gateway", "--example",
                            "bare_pingora"], cwd=ROOT, check=True)
    tmp = Path(tempfile.mkdtemp(prefix="gw-callgrind-"))
    up, gw = free_port(), free_port()
    fake = subprocess.Popen([str(REL / "fake-gemini"), "--listen", f"127.0.0.1:{up}", "--chunks", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    builtins = OFF_BUILTINS if a.off else ""
    cfg = tmp / "gateway.toml"
    cfg.write_text(f'[proxy]\nlisten = "127.0.0.1:{gw}"\nupstream = "http://127.0.0.1:{up}"\n'
                   f'shutdown_grace_seconds = 1\n[storage]\npath = "{tmp}/bench.db"\n{builtins}')
    out_pattern = tmp / "callgrind.out.%p"
    gwp = subprocess.Popen(["valgrind", "--tool=callgrind", "--separate-threads=yes", "--compress-strings=no",
                            f"--callgrind-out-file={out_pattern}",
                            *([str(REL / "examples" / "bare_pingora"), f"127.0.0.1:{gw}", f"127.0.0.1:{up}", "2"]
                              if a.bare else [str(REL / "gateway"), "--config", str(cfg)])],
                           stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "w"))
    try:
        wait_port(up, timeout=120)
        wait_port(gw, timeout=120)
        send(gw, a.warmup, a.conns)
        time.sleep(3)  # the writer persists the warm-up
        subprocess.run(["callgrind_control", "-z", str(gwp.pid)], check=True, capture_output=True)
        t0 = time.time()
        ok = send(gw, a.requests, a.conns)
        elapsed = time.time() - t0
        time.sleep(3)  # ... and the measured requests (linger 20 ms; slower under valgrind)
        subprocess.run(["callgrind_control", "-d", str(gwp.pid)], check=True, capture_output=True)
        time.sleep(1)
    finally:
        gwp.send_signal(signal.SIGINT)
        try:
            gwp.wait(60)
        except subprocess.TimeoutExpired:
            gwp.kill()
        fake.terminate()
        fake.wait()
    files = [f for f in glob.glob(str(tmp / f"callgrind.out.{gwp.pid}.1-*"))]
    if not files:
        sys.exit(f"no dump found in {tmp}")
    kinds = {k: [0, {}, {}] for k in ("proxy", "writer", "other")}
    per_thread = []
    for f in sorted(files):
        total, selfc, incl, kind = thread_summary(f)
        per_thread.append((f.rsplit("-", 1)[1], kind, total))
        k = kinds[kind]
        k[0] += total
        for name, n in selfc.items():
            k[1][name] = k[1].get(name, 0) + n
        for name, n in incl.items():
            k[2][name] = k[2].get(name, 0) + n
    mode = ("pingora alone (bare_pingora)" if a.bare else
            "observability off ([builtins] all off)" if a.off else "observability on (default)")
    print(f"## callgrind: {a.requests} generateContent requests, {a.conns} connections, {mode}")
    print(f"{ok} answered 200 in {elapsed:.1f} s under valgrind\n")
    print("| thread | kind | instructions | per request |")
    print("|---|---|---|---|")
    for tid, kind, total in per_thread:
        if total > a.requests:
            print(f"| {tid} | {kind} | {total:,} | {total / a.requests:,.0f} |")
    print()
    for kind in ("proxy", "writer", "other"):
        print(f"- {kind}: {kinds[kind][0] / a.requests:,.0f} instructions per request")
    print(f"- total: {sum(k[0] for k in kinds.values()) / a.requests:,.0f} instructions per request")
    for kind in ("proxy", "writer"):
        total, selfc, incl = kinds[kind]
        if not total:
            continue
        for label, table in (("self", selfc), ("inclusive", incl)):
            print(f"\n### top functions, {kind} threads ({label} instructions per request)\n")
            for name, n in sorted(table.items(), key=lambda kv: -kv[1])[:a.top]:
                print(f"{n / a.requests:10,.0f}  {n * 100 / total:5.1f}%  {name[:140]}")
    if a.keep:
        Path(a.keep).mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy(f, a.keep)
        print(f"\ncallgrind files kept in {a.keep}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
