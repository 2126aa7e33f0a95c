#!/usr/bin/env python3
"""Side-by-side benchmark: direct, nginx, the gateway (observability off and on), LiteLLM.

Everything runs on this machine against the fake Gemini upstream (instant and 20 ms
variants). The default is the pinned method: the proxies on core 0, the upstream and the load
on core 1 (nginx is then capped by the shared core, which hides most of the gap to it).
`--unpinned` runs the unpinned method of bench/issue17.py instead (nothing pinned, nginx
upstream, a 2-worker nginx floor, wrk -c32 and -c1, a sustained run), with --seconds/--sustain. Prints a markdown report (also written to bench-out/compare.md). Asserts nothing,
except in --smoke mode, where it fails only if the gateway errors or loses spans.

    bench/compare.py [--seconds 10] [--sustain 60] [--smoke] [--no-litellm] [--unpinned]

Needs: wrk and nginx (apt), release builds (made here), LiteLLM in .bench-venv (made here
with pip unless --no-litellm), optionally oha (cargo install oha) for fixed-rate runs.
"""

import argparse, os, re, shutil, signal, socket, sqlite3, subprocess, sys, tempfile, time
from pathlib import Path

from issue17 import free_port, wait_port  # the unpinned method's own helpers

ROOT = Path(__file__).resolve().parents[1]
REL = ROOT / "target" / "release"  # --smoke uses target/debug (built by the test command)
BODY = '{"contents":[{"role":"user","parts":[{"text":"Summarise the benchmark in one line"}]}]}'
PATH = "/v1beta/models/gemini-2.5-flash-lite:generateContent"
GW_CPU, LOAD_CPU = "0", "1"
# One key for every system: LiteLLM's pass-through authenticates it as its master key; the fake
# upstream accepts any key. (bench/post.lua carries the same value.)
KEY = "sk-b3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nch0123"


def signal_group(p, sig):
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass


class Procs:
    def __init__(self):
        self.procs = []
        self.named = {}

    def start(self, args, cpu=None, env=None, log=None, name=None):
        cmd = (["taskset", "-c", cpu] if cpu else []) + args
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log or os.devnull, "w"),
                             env={**os.environ, **(env or {})}, start_new_session=True)
        self.procs.append(p)
        if name:
            self.named[name] = p
        return p

    def only(self, name):
        """Freezes (SIGSTOP) every other proxy so that idle peers on the same core cannot
        disturb the one measured; `resume` thaws them."""
        for n, p in self.named.items():
            if n != name and p.poll() is None:
                signal_group(p, signal.SIGSTOP)

    def resume(self):
        for p in self.named.values():
            if p.poll() is None:
                signal_group(p, signal.SIGCONT)

    def measure(self, systems, fn):
        """`fn(name, url)` for each system, alone on its core."""
        out = {}
        for n, u in systems.items():
            self.only(n)
            try:
                out[n] = fn(n, u)
            finally:
                self.resume()
        return out

    @staticmethod
    def stop(p):
        if p.poll() is None:
            signal_group(p, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                signal_group(p, signal.SIGKILL)

    def stop_all(self):
        self.resume()
        for p in self.procs:
            if p.poll() is None:
                signal_group(p, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                signal_group(p, signal.SIGKILL)


def wrk(url, conns, seconds, headers=()):
    script = ROOT / "bench" / "post.lua"
    out = subprocess.run(["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{conns}", f"-d{seconds}s",
                          "--latency", "-s", str(script), url + PATH],
                         capture_output=True, text=True, check=True).stdout
    def lat(label):
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)", out, re.M)
        if not m:
            return None
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": lat("50%"), "p99": lat("99%"), "requests": reqs,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "errors": errors.group(1) if errors else ""}


def oha_bin():
    oha = shutil.which("oha") or str(Path.home() / ".cargo" / "bin" / "oha")
    return oha if Path(oha).exists() else None


def oha_run(url, rate, seconds):
    """Fixed-rate load: p99 (ms), answered 2xx, requests sent, achieved rate; None without oha."""
    oha = oha_bin()
    if not oha:
        return None
    out = subprocess.run(["taskset", "-c", LOAD_CPU, oha, "--no-tui", "-q", str(rate), "-z", f"{seconds}s",
                          "-c", "64", "-m", "POST", "-H", "content-type: application/json",
                          "-H", f"x-goog-api-key: {KEY}", "-d", BODY, url + PATH],
                         capture_output=True, text=True).stdout
    m = re.search(r"99\.00% in ([\d.]+) (secs|ms|us|µs)", out)
    if not m:
        return None
    scale = {"secs": 1000.0, "ms": 1.0, "us": 0.001, "µs": 0.001}[m.group(2)]
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\] (\d+) responses", out)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"p99": float(m.group(1)) * scale, "ok": sum(n for c, n in codes.items() if 200 <= c < 300),
            "total": sum(codes.values()), "rps": float(rps.group(1)) if rps else 0.0}


def oha_rate(url, rate, seconds):
    r = oha_run(url, rate, seconds)
    return r["p99"] if r else None


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stream_timing(url, gap_token):
    """Time to first byte and inter-chunk gaps of an SSE stream (fake: 5 chunks, 50 ms apart)."""
    from urllib.parse import urlsplit
    u = urlsplit(url)
    s = socket.create_connection((u.hostname, u.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = (f"POST {u.path}/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent?alt=sse&key={KEY} HTTP/1.1\r\nHost: x\r\n"
           f"x-goog-api-key: {KEY}\r\nx-fake-chunks: 5\r\nx-fake-chunk-gap-ms: 50\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(BODY)}\r\nConnection: close\r\n\r\n{BODY}")
    t0 = time.perf_counter()
    s.sendall(req.encode())
    times, buf = [], b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        buf += data
        n = buf.count(b"data: ")
        while len(times) < n:
            times.append(time.perf_counter() - t0)
    s.close()
    gaps = [b - a for a, b in zip(times, times[1:])]
    return times[0] * 1000 if times else None, [g * 1000 for g in gaps]


def nginx_conf(tmp, port, upstream_port):
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  upstream up {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      tcp_nodelay on;
    }}
  }}
}}
""")
    return conf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--sustain", type=int, default=60)
    ap.add_argument("--smoke", action="store_true", help="short CI run; fails only on gateway errors or lost spans")
    ap.add_argument("--no-litellm", action="store_true")
    ap.add_argument("--unpinned", action="store_true", help="the unpinned method (bench/issue17.py)")
    a = ap.parse_args()
    if a.unpinned:
        sys.exit(subprocess.run([sys.executable, str(ROOT / "bench" / "issue17.py"), "--seconds", str(a.seconds),
                                 "--sustain", str(a.sustain)]).returncode)
    global REL
    if a.smoke:
        a.seconds, a.sustain, a.no_litellm = 2, 10, True
        REL = ROOT / "target" / "debug"
        subprocess.run(["cargo", "build", "-q", "-p", "gemini-gateway", "-p", "fake-gemini"], cwd=ROOT, check=True)
    else:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "gemini-gateway", "-p", "fake-gemini"], cwd=ROOT, check=True)
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    procs = Procs()
    report = []
    ok = True
    try:
        up, up20 = free_port(), free_port()
        procs.start([str(REL / "fake-gemini"), "--listen", f"127.0.0.1:{up}", "--chunks", "1"], cpu=LOAD_CPU)
        procs.start([str(REL / "fake-gemini"), "--listen", f"127.0.0.1:{up20}", "--chunks", "1", "--latency-ms", "20"], cpu=LOAD_CPU)
        systems = {"direct": f"http://127.0.0.1:{up}"}
        gw_pids = {}
        for name, builtins in [("gateway-off", "token_cost = false\nmetric_snapshots = false\nsqlite = false\n"), ("gateway-on", "")]:
            port = free_port()
            cfg = tmp / f"{name}.toml"
            cfg.write_text(f'[proxy]\nlisten = "127.0.0.1:{port}"\nupstream = "http://127.0.0.1:{up}"\nthreads = 1\n'
                           f'shutdown_grace_seconds = 2\n[storage]\npath = "{tmp}/{name}.db"\n[builtins]\n{builtins}')
            p = procs.start([str(REL / "gateway"), "--config", str(cfg)], cpu=GW_CPU, log=tmp / f"{name}.log", name=name)
            gw_pids[name] = p
            systems[name] = f"http://127.0.0.1:{port}"
        if shutil.which("nginx"):
            port = free_port()
            procs.start(["nginx", "-c", str(nginx_conf(tmp, port, up)), "-g", "daemon off;"], cpu=GW_CPU, name="nginx")
            systems["nginx"] = f"http://127.0.0.1:{port}"
        venv = ROOT / ".bench-venv"
        if not a.no_litellm:
            if not (venv / "bin" / "litellm").exists():
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
                subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=True)
            port = free_port()
            (tmp / "litellm.yaml").write_text("general_settings: {}\nlitellm_settings:\n  telemetry: false\n")
            procs.start([str(venv / "bin" / "litellm"), "--config", str(tmp / "litellm.yaml"), "--host", "127.0.0.1", "--port", str(port),
                         "--num_workers", "1"], cpu=GW_CPU, log=tmp / "litellm.log", name="litellm",
                        env={"GEMINI_API_BASE": f"http://127.0.0.1:{up}", "GEMINI_API_KEY": "bench",
                             "LITELLM_MASTER_KEY": KEY,
                             "LITELLM_LOG": "ERROR", "DISABLE_ADMIN_UI": "True"})
            systems["litellm"] = f"http://127.0.0.1:{port}/gemini"
        for url in systems.values():
            wait_port(int(url.split(":")[2].split("/")[0]), 120)
        time.sleep(1)

        # 1. Added latency at concurrency 1.
        c1 = procs.measure(systems, lambda n, u: wrk(u, 1, a.seconds))
        base = c1["direct"]
        report.append("Pinned method: proxies on core 0, upstream and load on core 1 "
                      "(`--unpinned` for the unpinned one).\n")
        report.append("### Latency at concurrency 1 (instant upstream)\n")
        report.append("| system | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms |")
        report.append("|---|---|---|---|---|---|")
        for n, r in c1.items():
            report.append(f"| {n} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | "
                          f"{r['p50'] - base['p50']:+.3f} | {r['p99'] - base['p99']:+.3f} |")
        # 2. Maximum throughput.
        cmax = procs.measure(systems, lambda n, u: wrk(u, 64, a.seconds))
        report.append("\n### Maximum throughput (64 connections)\n")
        report.append("| system | req/s | p99 ms | vs nginx | gateway-on vs this |")
        report.append("|---|---|---|---|---|")
        on = cmax["gateway-on"]["rps"]
        for n, r in cmax.items():
            vs_nginx = f"{r['rps'] / cmax['nginx']['rps']:.2f}x" if "nginx" in cmax else "n/a"
            report.append(f"| {n} | {r['rps']:.0f} | {r['p99']:.2f} | {vs_nginx} | {on / r['rps']:.2f}x |")
        # 3. p99 at fixed rates (oha).
        rates = [1000, 5000]
        fixed = procs.measure({n: u for n, u in systems.items() if n != "litellm"},
                              lambda n, u: [oha_rate(u, q, a.seconds) for q in rates])
        if any(v is not None for vs in fixed.values() for v in vs):
            report.append("\n### p99 at fixed rates (oha, ms)\n")
            report.append("| system | " + " | ".join(f"{q}/s" for q in rates) + " |")
            report.append("|---|" + "---|" * len(rates))
            for n, vs in fixed.items():
                report.append(f"| {n} | " + " | ".join("n/a" if v is None else f"{v:.2f}" for v in vs) + " |")
        else:
            report.append("\n(p99 at fixed rates skipped: oha not installed; `cargo install oha --locked`)")
        # 4. Streaming: extra time to first byte and gaps kept.
        report.append("\n### Streaming (5 SSE events, 50 ms apart; the median of 5 streams)\n")
        report.append("| system | TTFB ms | gaps ms |")
        report.append("|---|---|---|")
        def median_stream(n, u):
            runs = sorted((stream_timing(u, n) for _ in range(5)), key=lambda r: r[0] or 0.0)
            return runs[len(runs) // 2]
        streams = procs.measure(systems, median_stream)
        for n, (ttfb, gaps) in streams.items():
            report.append(f"| {n} | {ttfb:.2f} | {', '.join(f'{g:.0f}' for g in gaps)} |")
        # 5. Sustained load with zero spans lost, CPU and RSS. The peers are stopped first so that
        # the gateway has its core to itself (the database keeps the rows of the runs above).
        for n, p in list(procs.named.items()):
            if n != "gateway-on":
                procs.stop(p)
        gw = gw_pids["gateway-on"]
        db = tmp / "gateway-on.db"
        count_ok = lambda: sqlite3.connect(db).execute("SELECT COUNT(*) FROM traces WHERE status = 'ok'").fetchone()[0]
        time.sleep(1)  # let the writer catch up with the earlier runs
        rows_start = count_ok()
        cpu0 = cpu_seconds(gw.pid)
        fixed_rate = 5000
        fixed = oha_run(systems["gateway-on"], fixed_rate, a.sustain)
        sus = wrk(systems["gateway-on"], 64, a.sustain)
        cpu1 = cpu_seconds(gw.pid)
        rss = rss_mib(gw.pid)
        gw.send_signal(signal.SIGTERM)
        gw.wait(60)
        answered = sus["requests"] - sus["non2xx"] + (fixed["ok"] if fixed else 0)
        sent = sus["requests"] + (fixed["total"] if fixed else 0)
        rows = count_ok() - rows_start
        log = (tmp / "gateway-on.log").read_text()
        dropped = re.findall(r"dropped=(\d+)", log)
        dropped = int(dropped[-1]) if dropped else -1
        report.append(f"\n### Sustained {a.sustain} s through gateway-on, twice (64 connections)\n")
        if fixed:
            report.append(f"- at a fixed {fixed_rate} req/s (oha): {fixed['rps']:.0f} req/s achieved, p99 {fixed['p99']:.2f} ms, "
                          f"{fixed['ok']} of {fixed['total']} answered 2xx")
        else:
            report.append("- fixed-rate run skipped: oha not installed (`cargo install oha --locked`)")
        report.append(f"- as fast as it goes (wrk): {sus['rps']:.0f} req/s, p99 {sus['p99']:.2f} ms, non-2xx {sus['non2xx']}, "
                      f"socket errors: {sus['errors'] or 'none'}")
        report.append(f"- 2xx answered in both runs: {answered}; new trace rows with status ok after SIGTERM: {rows} "
                      f"(wrk stops counting before its last in-flight answers); spans dropped: {dropped}")
        report.append(f"- CPU per request: {(cpu1 - cpu0) / max(sent, 1) * 1e6:.0f} µs; peak RSS {rss:.0f} MiB")
        lost = answered - rows
        if lost > 0 or dropped != 0 or sus["non2xx"] > 0 or (fixed and fixed["ok"] != fixed["total"]):
            ok = False
            report.append(f"- **LOSS**: {lost} answered requests without a trace, {dropped} spans dropped")
    finally:
        procs.stop_all()
    text = "\n".join(report)
    out = ROOT / "bench-out"
    out.mkdir(exist_ok=True)
    (out / "compare.md").write_text(text + "\n")
    print(text)
    if a.smoke:
        print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    sys.exit(0 if ok or not a.smoke else 1)


if __name__ == "__main__":
    main()
