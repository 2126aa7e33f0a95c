"""examples/alert-poller/poll.py against the real gateway and fake-gemini binaries.

Uses its own gateway (not the session `stack`, which another test stops) with
`[thresholds] latency_ms = 0`, so every call yields exactly one breached `latency_ms` row.
Waits are bounded polls; nothing asserts on timing.
"""

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import KEY, ROOT, TARGET, free_port, wait_port

POLLER = ROOT / "examples" / "alert-poller" / "poll.py"
MODEL = "gemini-3.8-flash"


class OwnGateway:
    def __init__(self, tmp: Path):
        self.fake = subprocess.Popen(
            [str(TARGET / "fake-gemini"), "--listen", "127.0.0.1:0", "--chunks", "2"],
            stdout=subprocess.PIPE,
            stderr=open(tmp / "fake.log", "w"),
            text=True,
        )
        m = re.search(r"http://\S+", self.fake.stdout.readline())
        assert m, "fake-gemini did not announce its address"
        self.port, self.api_port = free_port(), free_port()
        self.log = tmp / "gateway.log"
        config = tmp / "gateway.toml"
        config.write_text(
            f'[proxy]\nlisten = "127.0.0.1:{self.port}"\nupstream = "{m.group(0)}"\n'
            "shutdown_grace_seconds = 1\n"
            f'[storage]\npath = "{tmp / "gateway.db"}"\nlinger_ms = 5\n'
            f'[api]\nlisten = "127.0.0.1:{self.api_port}"\n'
            "[thresholds]\nlatency_ms = 0\n"
        )
        self.gateway = subprocess.Popen(
            [str(TARGET / "gateway"), "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"),
        )
        wait_port(self.port, self.gateway, self.log)
        wait_port(self.api_port, self.gateway, self.log)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api = f"http://127.0.0.1:{self.api_port}"

    def call(self) -> str:
        """One generateContent call; returns its trace id."""
        body = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).encode()
        req = urllib.request.Request(
            f"{self.base_url}/v1beta/models/{MODEL}:generateContent",
            data=body,
            headers={"content-type": "application/json", "x-goog-api-key": KEY},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200
            trace_id = resp.headers["x-gateway-trace-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", trace_id or ""), trace_id
        return trace_id

    def breached_latency(self) -> list:
        url = f"{self.api}/api/metric-snapshots?breached=true&metric=latency_ms&after_id=0&limit=1000"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.load(resp)["snapshots"]

    def wait_breached(self, n: int) -> list:
        deadline = time.time() + 30
        rows = []
        while time.time() < deadline:
            rows = self.breached_latency()
            if len(rows) >= n:
                return rows
            time.sleep(0.1)
        raise AssertionError(f"expected {n} breached latency_ms rows, got {len(rows)}")

    def close(self):
        if self.gateway.poll() is None:
            self.gateway.send_signal(signal.SIGTERM)
            try:
                self.gateway.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.gateway.kill()
                self.gateway.wait()
        if self.fake.poll() is None:
            self.fake.kill()
            self.fake.wait()


@pytest.fixture
def gw(tmp_path):
    g = OwnGateway(tmp_path)
    yield g
    g.close()


def poll_once(gw, cursor: Path, limit: int = 3) -> list:
    """Runs the poller once; returns its alert lines split on tabs."""
    out = subprocess.run(
        [sys.executable, str(POLLER), "--api", gw.api, "--cursor-file", str(cursor),
         "--limit", str(limit), "--once"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def test_poller_prints_each_alert_once(gw, tmp_path):
    cursor = tmp_path / "poller.cursor"
    first = [gw.call() for _ in range(7)]
    gw.wait_breached(7)

    # Only latency_ms breaches (the fake's costs stay far below the 0.05 USD default).
    lines = poll_once(gw, cursor)  # limit 3: three pages for 7 rows
    assert len(lines) == 7, lines
    assert sorted(f[4] for f in lines) == sorted(first)  # each trace exactly once
    for metric, value, threshold, model, trace_id, llm_span_id, request_index in lines:
        assert metric == "latency_ms"
        assert float(value) > 0 and float(threshold) == 0.0
        assert model == MODEL
        assert re.fullmatch(r"[0-9a-f]{16}", llm_span_id), llm_span_id
        assert request_index == "1", request_index
    assert int(cursor.read_text()) > 0

    assert poll_once(gw, cursor) == []

    more = [gw.call() for _ in range(2)]
    gw.wait_breached(9)
    lines = poll_once(gw, cursor)
    assert len(lines) == 2, lines
    assert sorted(f[4] for f in lines) == sorted(more)
