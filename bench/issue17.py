#!/usr/bin/env python3
"""The unpinned method of issue 17: the gateway against nginx as a reverse proxy, everything
sharing the machine's cores as in a real deployment. Prints a markdown report side by side
(also written to bench-out/issue17.md). Asserts nothing.

- upstream: its own nginx, 1 worker, a fixed generateContent answer (the fake's, with usage);
- the floor: nginx as a reverse proxy, 2 workers (the gateway has 2 proxy threads), upstream
  keep-alive, buffering off; ratios are to it;
- nginx as the issue words it, "a plain nginx reverse proxy": 2 workers and `proxy_pass`, every
  other setting nginx's default (HTTP/1.0 to the upstream, a new upstream connection per
  request, buffering on). Printed for reference, with the gateway's ratios to it;
- pingora alone (`gateway/examples/bare_pingora.rs`: the same threads and `Host` rewrite, nothing
  else), the floor the gateway's proxy path stands on;
- the gateway with `[builtins]` all off and with the default configuration (observability on);
- wrk -t1 -c32 for throughput, -c1 for latency (added = minus the upstream reached directly);
- c=1 latency again right after a 10 s burst at c=32 (a writer draining its backlog must not
  take the proxy's core);
- CPU per request of each gateway thread group during the c=32 run, from /proc/<pid>/task;
- a sustained run at c=32 (default 60 s) through the default gateway: spans dropped (from the
  shutdown log), trace rows against answers, peak RSS.

    bench/issue17.py [--seconds 10] [--sustain 60] [--no-build] [--bin PATH]

Needs wrk and nginx (apt) and release builds (made here unless --no-build; without the
`bare_pingora` example its column is left out).
"""

import argparse, os, re, shutil, signal, socket, sqlite3, subprocess, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REL = ROOT / "target" / "release"
PATH = "/v1beta/models/gemini-2.5-flash-lite:generateContent"
ANSWER = ('{"candidates":[{"content":{"parts":[{"text":"Echo: hi (fixed answer)"}],"role":"model"},'
          '"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":8,'
          '"candidatesTokenCount":5,"totalTokenCount":13,"promptTokensDetails":[{"modality":"TEXT",'
          '"tokenCount":8}]},"modelVersion":"gemini-2.5-flash-lite","responseId":"Akib7Ig5vfgxl05z3aqzgV"}')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_all(procs):
    """SIGTERM to each process group still running, then SIGKILL to those not gone in 30 s."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def wait_port(port, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


def wrk(url, conns, seconds):
    out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s",
                          str(ROOT / "bench" / "post.lua"), url + PATH],
                         capture_output=True, text=True, check=True).stdout

    def lat(label):
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": lat("50%"), "p99": lat("99%"),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "errors": errors.group(1) if errors else ""}


def task_times(pid):
    """{tid: (name, user seconds, system seconds)} of a process's threads."""
    out = {}
    tck = os.sysconf("SC_CLK_TCK")
    for t in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (t / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        f = stat.rsplit(")", 1)[1].split()
        out[t.name] = (name, int(f[11]) / tck, int(f[12]) / tck)
    return out


def threads(pid):
    """{tid: (name, cpu seconds)} of a process."""
    return {tid: (name, user + system) for tid, (name, user, system) in task_times(pid).items()}


def group(name):
    # The WAL checkpoint thread is persistence too: counted with the writer. Linux keeps 15
    # bytes of a thread's name, so "sqlite-checkpoint" reads "sqlite-checkpoi".
    if name.startswith(("sqlite-writer", "sqlite-checkpoi")):
        return "writer"
    if name in ("completion", "malloc-trim", "retention") or name.startswith(("otlp", "jemalloc")):
        return "other"
    return "proxy"


def cpu_by_group(before, after):
    out = {"proxy": 0.0, "writer": 0.0, "other": 0.0}
    for tid, (name, cpu) in after.items():
        out[group(name)] += cpu - before.get(tid, (name, 0.0))[1]
    return out


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# `[builtins]` all off: the gateway as a proxy alone.
OFF_BUILTINS = "[builtins]\ntoken_cost = false\nmetric_snapshots = false\nsqlite = false\n"


def start_gateway(binary, tmp, name, upstream, builtins):
    """Starts `binary` on a free port in front of `upstream`, its database and log named `name`
    in `tmp`, with `builtins` (a `[builtins]` section, or "" for the default). Returns (port,
    process)."""
    port = free_port()
    cfg = tmp / f"{name}.toml"
    cfg.write_text(f'[proxy]\nlisten = "127.0.0.1:{port}"\nupstream = "http://127.0.0.1:{upstream}"\n'
                   f'shutdown_grace_seconds = 2\n[storage]\npath = "{tmp}/{name}.db"\n{builtins}')
    p = subprocess.Popen([binary, "--config", str(cfg)], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=open(tmp / f"{name}.log", "w"))
    return port, p


def nginx(tmp, name, conf_body, workers):
    conf = tmp / f"{name}.conf"
    conf.write_text(f"""
worker_processes {workers};
pid {tmp}/{name}.pid;
error_log {tmp}/{name}-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  {conf_body}
}}
""")
    return subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off;"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def upstream_nginx(tmp, port):
    """The upstream of every run: its own nginx, one worker, answering ANSWER to anything."""
    answer = ANSWER.replace("'", "\\'")
    return nginx(tmp, "upstream", f"""
  server {{
    listen 127.0.0.1:{port};
    location / {{
      default_type "application/json; charset=UTF-8";
      return 200 '{answer}';
    }}
  }}""", 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--sustain", type=int, default=60)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--bin", help="the gateway binary to run (default: the release build)")
    a = ap.parse_args()
    if not a.no_build and not a.bin:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "gemini-gateway", "--bin", "gateway",
                        "--example", "bare_pingora"], cwd=ROOT, check=True)
    bare = REL / "examples" / "bare_pingora"
    binary = a.bin or str(REL / "gateway")
    tmp = Path(tempfile.mkdtemp(prefix="gw-issue17-"))
    procs = []
    report = []
    try:
        up, floor, plain = free_port(), free_port(), free_port()
        procs.append(upstream_nginx(tmp, up))
        procs.append(nginx(tmp, "plain", f"""
  server {{
    listen 127.0.0.1:{plain};
    location / {{ proxy_pass http://127.0.0.1:{up}; }}
  }}""", 2))
        procs.append(nginx(tmp, "floor", f"""
  upstream up {{ server 127.0.0.1:{up}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{floor};
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      tcp_nodelay on;
    }}
  }}""", 2))
        gws = {}
        for name, builtins in [("gateway-off", OFF_BUILTINS), ("gateway-on", "")]:
            port, p = start_gateway(binary, tmp, name, up, builtins)
            procs.append(p)
            gws[name] = (p, port)
        systems = {"upstream": up, "nginx proxy": floor, "nginx plain": plain}
        if bare.exists():
            port = free_port()
            p = subprocess.Popen([str(bare), f"127.0.0.1:{port}", f"127.0.0.1:{up}", "2"], start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(p)
            gws["pingora alone"] = (p, port)
            systems["pingora alone"] = port
        systems.update({n: gws[n][1] for n in ("gateway-off", "gateway-on")})
        for port in systems.values():
            wait_port(port)
        time.sleep(1)
        url = {n: f"http://127.0.0.1:{p}" for n, p in systems.items()}
        load = os.getloadavg()[0]

        c1, c32, cpu, after_burst = {}, {}, {}, {}
        for n in systems:
            c1[n] = wrk(url[n], 1, a.seconds)
        for n in systems:
            pid = gws[n][0].pid if n in gws else None
            before = threads(pid) if pid else None
            c32[n] = wrk(url[n], 32, a.seconds)
            if pid:
                cpu[n] = cpu_by_group(before, threads(pid))
            # c=1 right after the burst.
            after_burst[n] = wrk(url[n], 1, 5)
        base = c1["upstream"]
        nginx_rps = c32["nginx proxy"]["rps"]
        report.append(f"1-minute load average at the start: {load:.2f}\n")
        names = list(systems)
        heads = {"upstream": "upstream direct", "nginx proxy": "nginx proxy",
                 "nginx plain": "nginx proxy, plain (defaults)", "pingora alone": "pingora alone",
                 "gateway-off": "gateway, `[builtins]` all off", "gateway-on": "gateway, default (observability on)"}
        report.append("| | " + " | ".join(heads[n] for n in names) + " |")
        report.append("|---" * (len(names) + 1) + "|")
        report.append("| throughput, c=32 (req/s) | " + " | ".join(
            f"{c32[n]['rps']:,.0f}" + ("" if n in ("upstream", "nginx proxy", "nginx plain")
                                       else f" ({c32[n]['rps'] / nginx_rps:.2f}×)")
            for n in names) + " |")
        report.append("| p99 at c=32 (ms) | " + " | ".join(f"{c32[n]['p99']:.2f}" for n in names) + " |")
        report.append("| p50 / p99 at c=1 (ms) | " + " | ".join(f"{c1[n]['p50']:.3f} / {c1[n]['p99']:.3f}" for n in names) + " |")
        report.append("| added p50 / p99 at c=1 (ms) | " + " | ".join(
            "" if n == "upstream" else f"+{c1[n]['p50'] - base['p50']:.3f} / +{c1[n]['p99'] - base['p99']:.3f}" for n in names) + " |")
        report.append("| added p50 / p99 at c=1 right after a 10 s burst (ms) | " + " | ".join(
            "" if n == "upstream" else f"+{after_burst[n]['p50'] - base['p50']:.3f} / +{after_burst[n]['p99'] - base['p99']:.3f}"
            for n in names) + " |")
        on, off = c32["gateway-on"]["rps"], c32["gateway-off"]["rps"]
        report.append(f"\ngateway-on / gateway-off throughput: {on / off:.2f}×")
        plain_rps = c32["nginx plain"]["rps"]
        report.append(f"against the plain nginx proxy ({plain_rps:,.0f} req/s): gateway-off {off / plain_rps:.2f}×, "
                      f"gateway-on {on / plain_rps:.2f}×")
        if "pingora alone" in c32:
            alone = c32["pingora alone"]["rps"]
            report.append(f"gateway-off / pingora alone: {off / alone:.2f}×; gateway-on / pingora alone: {on / alone:.2f}×")
        report.append("\nCPU per request during the c=32 run (µs, user + system, from /proc/<pid>/task):\n")
        report.append("| | proxy threads | SQLite writer | other threads | total |")
        report.append("|---|---|---|---|---|")
        for n in [n for n in names if n in cpu]:
            reqs = max(c32[n]["requests"], 1)
            g = cpu[n]
            report.append(f"| {n} | {g['proxy'] / reqs * 1e6:.1f} | {g['writer'] / reqs * 1e6:.1f} | "
                          f"{g['other'] / reqs * 1e6:.1f} | {sum(g.values()) / reqs * 1e6:.1f} |")
        ron = c32["gateway-on"]["requests"]
        proxy_on = cpu["gateway-on"]["proxy"] / max(ron, 1) * 1e6
        proxy_off = cpu["gateway-off"]["proxy"] / max(c32["gateway-off"]["requests"], 1) * 1e6
        writer_on = cpu["gateway-on"]["writer"] / max(ron, 1) * 1e6
        report.append(f"\nobservation's own CPU per request: proxy thread {proxy_on - proxy_off:+.1f} µs "
                      f"(on minus off), writer {writer_on:.1f} µs, total {proxy_on - proxy_off + writer_on:.1f} µs")

        # Sustained run through the default gateway, the others stopped.
        for p in procs:
            if p is not gws["gateway-on"][0] and p not in (procs[0],):
                os.killpg(p.pid, signal.SIGTERM)
        gw = gws["gateway-on"][0]
        db = tmp / "gateway-on.db"
        time.sleep(2)
        count = lambda: sqlite3.connect(db).execute("SELECT COUNT(*) FROM traces WHERE status = 'ok'").fetchone()[0]
        rows0 = count()
        before = threads(gw.pid)
        sus = wrk(url["gateway-on"], 32, a.sustain)
        g = cpu_by_group(before, threads(gw.pid))
        rss = rss_mib(gw.pid)
        gw.send_signal(signal.SIGTERM)
        gw.wait(60)
        rows = count() - rows0
        log = (tmp / "gateway-on.log").read_text()
        dropped = re.findall(r"dropped=(\d+)", log)
        dropped = int(dropped[-1]) if dropped else -1
        answered = sus["requests"] - sus["non2xx"]
        report.append(f"\nSustained {a.sustain} s at c=32 through the default gateway (the others stopped): "
                      f"{sus['rps']:,.0f} req/s, p99 {sus['p99']:.2f} ms, non-2xx {sus['non2xx']}, "
                      f"socket errors: {sus['errors'] or 'none'}; {answered:,} answered, {rows:,} new trace rows "
                      f"after SIGTERM (wrk stops counting before its last in-flight answers); spans dropped: {dropped}; "
                      f"peak RSS {rss:.0f} MiB; CPU per request: proxy {g['proxy'] / max(sus['requests'], 1) * 1e6:.1f} µs, "
                      f"writer {g['writer'] / max(sus['requests'], 1) * 1e6:.1f} µs")
        report.append(f"\n1-minute load average at the end: {os.getloadavg()[0]:.2f}")
    finally:
        stop_all(procs)
        # A minute's database is gigabytes.
        shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(report)
    out = ROOT / "bench-out"
    out.mkdir(exist_ok=True)
    (out / "issue17.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
