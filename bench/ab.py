#!/usr/bin/env python3
"""Two gateway builds side by side, alternated, for changes smaller than the machine's noise.

The speed of this machine kind moves between runs (the upstream alone has answered anywhere
from 110,000 to 200,000 req/s in one afternoon), so two runs of `bench/issue17.py` taken minutes
apart do not compare. This starts both builds at once, each with `[builtins]` all off and with
the default configuration (four gateways behind the one nginx upstream of issue17.py), and runs
`wrk -t1 -c32` through each in turn, `--rounds` times. Per round and build it prints the
throughput off and on, on / off, and the CPU per request of the proxy threads and of the writer
with its checkpoint thread (from /proc/<pid>/task); then the medians. Within a round the builds
meet the same machine.

    bench/ab.py --a PATH --b PATH [--rounds 5] [--seconds 8]

Needs nginx and wrk, like bench/issue17.py. Asserts nothing.
"""

import argparse, statistics, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from issue17 import (OFF_BUILTINS, cpu_by_group, free_port, start_gateway, stop_all,  # noqa: E402
                     threads, upstream_nginx, wait_port, wrk)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="the first gateway binary (e.g. before)")
    ap.add_argument("--b", required=True, help="the second gateway binary (e.g. after)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=8)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gw-ab-"))
    procs = []
    try:
        up = free_port()
        procs.append(upstream_nginx(tmp, up))
        wait_port(up)
        gws = {}
        for build, binary in (("A", a.a), ("B", a.b)):
            for mode, builtins in (("off", OFF_BUILTINS), ("on", "")):
                port, p = start_gateway(binary, tmp, f"{build}-{mode}", up, builtins)
                procs.append(p)
                gws[(build, mode)] = (port, p)
        for port, _ in gws.values():
            wait_port(port)
        time.sleep(1)
        rows = {key: [] for key in gws}
        print("| round | build | off (req/s) | on (req/s) | on / off | proxy CPU off / on (µs) | writer CPU (µs) |")
        print("|---|---|---|---|---|---|---|")
        for rnd in range(1, a.rounds + 1):
            for build in ("A", "B"):
                got = {}
                for mode in ("off", "on"):
                    port, p = gws[(build, mode)]
                    before = threads(p.pid)
                    run = wrk(f"http://127.0.0.1:{port}", 32, a.seconds)
                    time.sleep(0.5)
                    cpu = cpu_by_group(before, threads(p.pid))
                    n = max(run["requests"], 1)
                    got[mode] = (run["rps"], cpu["proxy"] / n * 1e6, cpu["writer"] / n * 1e6)
                    rows[(build, mode)].append(got[mode])
                off, on = got["off"], got["on"]
                print(f"| {rnd} | {build} | {off[0]:,.0f} | {on[0]:,.0f} | {on[0] / off[0]:.2f} | "
                      f"{off[1]:.1f} / {on[1]:.1f} | {on[2]:.1f} |", flush=True)
        print()
        for build, binary in (("A", a.a), ("B", a.b)):
            off, on = rows[(build, "off")], rows[(build, "on")]
            med = statistics.median
            ratio = med(o[0] / f[0] for o, f in zip(on, off))
            proxy = med(o[1] - f[1] for o, f in zip(on, off))
            writer = med(o[2] for o in on)
            print(f"{build} ({binary}): median on / off {ratio:.2f}; observation's CPU per request: "
                  f"proxy on minus off {proxy:+.1f} µs, writer {writer:.1f} µs, "
                  f"total {proxy + writer:.1f} µs")
    finally:
        stop_all(procs)


if __name__ == "__main__":
    main()
