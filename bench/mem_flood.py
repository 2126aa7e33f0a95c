#!/usr/bin/env python3
"""Where the label flood's memory goes: 20,000 requests with distinct 1 KB model names against
the release gateway (built beforehand: cargo build --release -p gemini-gateway -p fake-gemini),
RSS (anonymous and file-backed, from /proc/<pid>/smaps_rollup) every 2 s during the flood and
the idle seconds after it, then glibc's malloc_stats() (per-arena held and in-use bytes, into
the gateway's log, printed here) and malloc_trim(0) called through gdb, the rows stored and the
drop counters. Toggles: --api 0 (no in-process API), --sqlite 0 (no persistence), --storage and
--extra (TOML lines). Figures in docs/faults.md (Memory bounds). Since the gateway serves malloc
with mimalloc, glibc's malloc_stats/malloc_trim no longer see its heap: use --trim 0.

    bench/mem_flood.py [--n 20000] [--clients 8] [--idle 10] [--api 0] [--sqlite 0] [--trim 0]
"""
import argparse, os, subprocess, sys, time, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attacks as A

def rollup(pid):
    d = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            p = line.split()
            if len(p) >= 3 and p[-1] == "kB":
                d[p[0].rstrip(":")] = int(p[1])
    return d

def fmt(pid):
    r = rollup(pid)
    return f"rss={r['Rss']//1024}M anon={r.get('Anonymous',0)//1024}M file={r.get('Rss',0)//1024 - r.get('Anonymous',0)//1024}M"

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=20000)
ap.add_argument("--clients", type=int, default=8)
ap.add_argument("--api", type=int, default=1)
ap.add_argument("--sqlite", type=int, default=1)
ap.add_argument("--storage", default="")
ap.add_argument("--extra", default="")
ap.add_argument("--idle", type=int, default=10)
ap.add_argument("--trim", type=int, default=1)
ap.add_argument("--bin", default=A.REL)
ap.add_argument("--env", default="")
a = ap.parse_args()
A.BIN = a.bin
for kv in a.env.split():
    k, v = kv.split("=", 1); os.environ[k] = v
fake_port = A.free_port()
fake = subprocess.Popen([os.path.join(a.bin, "fake-gemini"), "--listen", f"127.0.0.1:{fake_port}", "--chunks", "1"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
A.wait_port(fake_port, fake, "/dev/null")
extra = a.extra.replace("\\n", "\n")
if not a.sqlite:
    extra += "\n[builtins]\nsqlite = false\n"
gw = A.Gateway(f"http://127.0.0.1:{fake_port}", "", extra, api=bool(a.api), storage=a.storage.replace("\\n", "\n"))
pid = gw.proc.pid
print("idle", fmt(pid), flush=True)
peak = [0]
stop = threading.Event()
def sample():
    while not stop.is_set():
        try: peak[0] = max(peak[0], gw.status("VmRSS"))
        except OSError: return
        time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
def make(i):
    return f"/v1beta/models/flood-{i:05}-" + "abcdefghij" * 100 + ":generateContent", {"x-goog-api-key": "k"}, A.BODY
t = time.time()
done = {}
def run(): done.update(A.flood(gw.port, a.n, a.clients, make))
th = threading.Thread(target=run); th.start()
while th.is_alive():
    th.join(2)
    print(f"  t={time.time()-t:5.1f}s {fmt(pid)}", flush=True)
print(f"flood done {done} in {time.time()-t:.1f}s; {fmt(pid)} peak={peak[0]//1024}M", flush=True)
for i in range(a.idle):
    time.sleep(1)
    if i % 2 == 1: print(f"  idle+{i+1}s {fmt(pid)}", flush=True)
print(f"after idle {fmt(pid)} peak={peak[0]//1024}M HWM={gw.status('VmHWM')//1024}M", flush=True)
if a.trim:
    out = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "call (void)malloc_stats()", "-ex", "call (int)malloc_trim(0)"],
                         capture_output=True, text=True)
    print("after malloc_trim", fmt(pid), flush=True)
    log = open(gw.log).read()
    i = log.rfind("Arena 0")
    print(log[i:][-1500:] if i >= 0 else "(no malloc_stats)")
try:
    import sqlite3
    c = sqlite3.connect(gw.db)
    print("traces", c.execute("select count(*) from traces").fetchone()[0], "spans", c.execute("select count(*) from spans").fetchone()[0])
except Exception as e: print(e)
if a.api:
    m = gw.metrics()
    for l in m.splitlines():
        if "dropped" in l and not l.startswith("#") and not l.endswith(" 0"): print(l)
gw.stop(); gw.cleanup(); fake.kill()
