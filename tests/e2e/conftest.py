"""Fixtures: the real `gateway` binary in front of the `fake-gemini` binary, both from target/."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
KEY = "AIzaE2E-secret-key-do-not-store-42"

# gemini-3.8-flash's standard rates in force now, USD per 1M tokens: (input, cache read,
# output). The shipped prices double on 2027-01-01 (UTC), so a run on either side of that day
# expects the rates the gateway then applies.
FLASH_38 = (0.75, 0.075, 3.75) if time.time() < 1_798_761_600 else (1.50, 0.15, 7.50)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened:\n{log.read_text()}")


class Stack:
    """A fake upstream and a gateway, with the paths of their files."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.fake_log = tmp / "fake.log"
        self.fake = subprocess.Popen(
            [str(TARGET / "fake-gemini"), "--listen", "127.0.0.1:0", "--chunks", "4"],
            stdout=subprocess.PIPE,
            stderr=open(self.fake_log, "w"),
            text=True,
        )
        line = self.fake.stdout.readline()
        m = re.search(r"http://\S+", line)
        assert m, f"fake-gemini did not announce its address: {line!r}"
        self.upstream = m.group(0)
        self.port = free_port()
        self.db = tmp / "gateway.db"
        self.log = tmp / "gateway.log"
        config = tmp / "gateway.toml"
        config.write_text(
            f'[proxy]\nlisten = "127.0.0.1:{self.port}"\nupstream = "{self.upstream}"\n'
            f"shutdown_grace_seconds = 1\n[storage]\npath = \"{self.db}\"\nlinger_ms = 5\n"
        )
        self.gateway = subprocess.Popen(
            [str(TARGET / "gateway"), "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"),
            env={**os.environ, "RUST_LOG": "debug,pingora_core=info,pingora_proxy=info"},
        )
        wait_port(self.port, self.gateway, self.log)
        self.base_url = f"http://127.0.0.1:{self.port}"

    def stop_gateway(self) -> int:
        if self.gateway.poll() is None:
            self.gateway.send_signal(signal.SIGTERM)
            self.gateway.wait(timeout=30)
        return self.gateway.returncode

    def close(self) -> None:
        for p in (self.gateway, self.fake):
            if p.poll() is None:
                p.kill()
                p.wait()

    def db_conn(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db)


class TlsStack:
    """TLS on both sides: fake-gemini serving https (h2 and http/1.1 by ALPN) as `localhost`,
    and a gateway whose own listener speaks TLS and which trusts the CA for its upstream.

    One CA and server certificate (for localhost, 127.0.0.1 and ::1) are generated at start by
    `gateway demo-cert` (rcgen); clients trust `self.ca`.
    """

    def __init__(self, tmp: Path):
        self.tmp = tmp
        pki = tmp / "pki"
        subprocess.run([str(TARGET / "gateway"), "demo-cert", str(pki)], check=True,
                       stdout=subprocess.DEVNULL)
        self.ca, cert, key = pki / "ca.pem", pki / "server.pem", pki / "server-key.pem"
        self.fake_log = tmp / "fake.log"
        self.fake = subprocess.Popen(
            [str(TARGET / "fake-gemini"), "--listen", "127.0.0.1:0", "--chunks", "4",
             "--tls-cert", str(cert), "--tls-key", str(key)],
            stdout=subprocess.PIPE,
            stderr=open(self.fake_log, "w"),
            text=True,
        )
        line = self.fake.stdout.readline()
        m = re.search(r"https://[\d.]+:(\d+)", line)
        assert m, f"fake-gemini did not announce a TLS address: {line!r}"
        self.upstream = f"https://localhost:{m.group(1)}"
        self.port = free_port()
        self.db = tmp / "gateway.db"
        self.log = tmp / "gateway.log"
        config = tmp / "gateway.toml"
        config.write_text(
            f'[proxy]\nlisten = "127.0.0.1:{self.port}"\nupstream = "{self.upstream}"\n'
            f'upstream_ca_file = "{self.ca}"\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
            f"shutdown_grace_seconds = 1\n[storage]\npath = \"{self.db}\"\nlinger_ms = 5\n"
        )
        self.gateway = subprocess.Popen(
            [str(TARGET / "gateway"), "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"),
            env={**os.environ, "RUST_LOG": "info"},
        )
        wait_port(self.port, self.gateway, self.log)
        self.base_url = f"https://127.0.0.1:{self.port}"

    stop_gateway = Stack.stop_gateway
    close = Stack.close
    db_conn = Stack.db_conn


@pytest.fixture(scope="module")
def tls_stack(tmp_path_factory):
    s = TlsStack(tmp_path_factory.mktemp("tls-stack"))
    yield s
    s.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("stack"))
    yield s
    s.close()


@pytest.fixture(scope="session")
def expected():
    """What each test sent, keyed by session id: filled by tests, checked at the end."""
    return {}
