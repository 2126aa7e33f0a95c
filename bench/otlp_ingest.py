#!/usr/bin/env python3
"""OTLP ingest rate: spans/s the API's `POST /v1/traces` receiver accepts into SQLite while the
proxy serves load, and what that costs the proxy. Prints a markdown report (also written to
bench-out/otlp_ingest.md). Asserts nothing.

The gateway runs with its default configuration and the API on its own port, in front of an
nginx upstream with a fixed generateContent answer (1 worker). Three runs of `--seconds` each:
the proxy alone (wrk -t1 -c32), the receiver alone (`--senders` keep-alive connections posting
OTLP/JSON batches of `--batch` spans, each with its own trace id), then both at once. Accepted
spans are the 200 answers' spans less those their partial success rejects; stored spans are counted in the database after SIGTERM
(`gateway.span.source` = `otlp`); a 503 is the receiver refusing a batch because application
spans already hold half of the writer's queue (OTLP clients retry).

    bench/otlp_ingest.py [--seconds 10] [--senders 2] [--batch 100] [--no-build]
"""

import argparse, http.client, json, os, random, re, signal, socket, sqlite3, subprocess, tempfile
import threading, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REL = ROOT / "target" / "release"
sys_path = Path(__file__).resolve().parent
import sys
sys.path.insert(0, str(sys_path))
from issue17 import (  # noqa: E402
    free_port, wait_port, wrk, upstream_nginx, threads, cpu_by_group, stop_all)


def batch_body(n):
    now = time.time_ns()
    trace = "%032x" % random.getrandbits(128)
    spans = []
    for i in range(n):
        spans.append({
            "traceId": trace, "spanId": "%016x" % random.getrandbits(64), "name": f"agent.step {i}",
            "kind": 1, "startTimeUnixNano": str(now - 5_000_000), "endTimeUnixNano": str(now),
            "attributes": [
                {"key": "gen_ai.conversation.id", "value": {"stringValue": "conv-bench"}},
                {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
                {"key": "app.step", "value": {"intValue": str(i)}},
            ],
        })
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "bench-agent"}}]},
        "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}]}]})


def senders(port, count, batch, seconds):
    """Posts batches for `seconds`; returns (accepted spans, 200s, 503s, other answers)."""
    stop = time.time() + seconds
    totals = [[0, 0, 0, 0] for _ in range(count)]
    bodies = [batch_body(batch) for _ in range(64)]

    def run(i):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        k = 0
        while time.time() < stop:
            body = bodies[k % len(bodies)].replace('"traceId": "', f'"traceId": "{k % 16:x}', 0)
            k += 1
            c.request("POST", "/v1/traces", body, {"content-type": "application/json",
                                                  "accept": "application/json"})
            r = c.getresponse()
            answer = r.read()
            t = totals[i]
            if r.status == 200:
                rejected = 0
                try:
                    part = json.loads(answer or b"{}").get("partialSuccess") or {}
                    rejected = int(part.get("rejectedSpans") or 0)
                except ValueError:
                    pass
                t[0] += batch - rejected
                t[1] += 1
            elif r.status == 503:
                t[2] += 1
                time.sleep(0.01)
            else:
                t[3] += 1
        c.close()
    ts = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return [sum(t[j] for t in totals) for j in range(4)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--senders", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "gemini-gateway"], cwd=ROOT, check=True)
    tmp = Path(tempfile.mkdtemp(prefix="gw-otlp-"))
    procs = []
    report = []
    try:
        up, gw, api = free_port(), free_port(), free_port()
        procs.append(upstream_nginx(tmp, up))
        cfg = tmp / "gateway.toml"
        cfg.write_text(f'[proxy]\nlisten = "127.0.0.1:{gw}"\nupstream = "http://127.0.0.1:{up}"\n'
                       f'shutdown_grace_seconds = 2\n[storage]\npath = "{tmp}/gateway.db"\n'
                       f'[api]\nlisten = "127.0.0.1:{api}"\n')
        g = subprocess.Popen([str(REL / "gateway"), "--config", str(cfg)], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "w"))
        procs.append(g)
        for p in (up, gw, api):
            wait_port(p)
        time.sleep(1)
        load = os.getloadavg()[0]
        url = f"http://127.0.0.1:{gw}"
        t0 = threads(g.pid)
        alone = wrk(url, 32, a.seconds)
        t1 = threads(g.pid)
        start = time.time()
        ingest_alone = senders(api, a.senders, a.batch, a.seconds)
        alone_s = time.time() - start
        time.sleep(2)
        t2 = threads(g.pid)
        both = {}
        th = threading.Thread(target=lambda: both.update(wrk(url, 32, a.seconds)))
        th.start()
        start = time.time()
        ingest_both = senders(api, a.senders, a.batch, a.seconds)
        both_s = time.time() - start
        th.join()
        t3 = threads(g.pid)
        g.send_signal(signal.SIGTERM)
        g.wait(60)
        db = sqlite3.connect(tmp / "gateway.db")
        stored = db.execute("SELECT COUNT(*) FROM spans WHERE instr(attributes, '\"gateway.span.source\"') > 0").fetchone()[0]
        log = (tmp / "gateway.log").read_text()
        dropped = re.findall(r"dropped=(\d+)", log)
        cpu_alone = cpu_by_group(t0, t1)
        cpu_ingest = cpu_by_group(t1, t2)
        cpu_both = cpu_by_group(t2, t3)
        report.append(f"1-minute load average at the start: {load:.2f}; {a.senders} senders, {a.batch} spans "
                      f"per OTLP/JSON request, {a.seconds} s per run\n")
        report.append("| run | proxy req/s (c=32) | proxy p99 ms | OTLP spans/s accepted | 503 answers | "
                      "CPU: proxy threads / writer / API (s) |")
        report.append("|---|---|---|---|---|---|")
        report.append(f"| proxy alone | {alone['rps']:,.0f} | {alone['p99']:.2f} | | | "
                      f"{cpu_alone['proxy']:.2f} / {cpu_alone['writer']:.2f} / {cpu_alone['other']:.2f} |")
        report.append(f"| receiver alone | | | {ingest_alone[0] / alone_s:,.0f} | {ingest_alone[2]} | "
                      f"{cpu_ingest['proxy']:.2f} / {cpu_ingest['writer']:.2f} / {cpu_ingest['other']:.2f} |")
        report.append(f"| both | {both['rps']:,.0f} ({both['rps'] / alone['rps']:.2f}×) | {both['p99']:.2f} | "
                      f"{ingest_both[0] / both_s:,.0f} | {ingest_both[2]} | "
                      f"{cpu_both['proxy']:.2f} / {cpu_both['writer']:.2f} / {cpu_both['other']:.2f} |")
        accepted = ingest_alone[0] + ingest_both[0]
        report.append(f"\nOTLP spans accepted: {accepted:,}; stored after SIGTERM: {stored:,}; "
                      f"spans dropped by the writer (log at exit): {dropped[-1] if dropped else 'n/a'}; "
                      f"other answers: {ingest_alone[3] + ingest_both[3]}")
        report.append("(CPU 'proxy threads' counts every thread that is neither the writer nor a named "
                      "helper, the API's runtime included.)")
        report.append(f"\n1-minute load average at the end: {os.getloadavg()[0]:.2f}")
    finally:
        stop_all(procs)
    text = "\n".join(report)
    out = ROOT / "bench-out"
    out.mkdir(exist_ok=True)
    (out / "otlp_ingest.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
