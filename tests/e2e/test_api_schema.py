"""Schemathesis against the real `api` binary: every documented operation, bounded examples.

The database is built here with Python's sqlite3 from the store's own migration SQL (read out
of store/src/migrations.rs), so it has exactly the schema the gateway writes, triggers included.
The WebSocket route is excluded. Checks: no 5xx, documented status codes, content types,
headers, and response bodies that match their schemas.
"""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
TOKEN = "e2e-api-token"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


def migrations() -> list[str]:
    """The SQL of each store migration, in order."""
    text = (ROOT / "store" / "src" / "migrations.rs").read_text()
    body = text[text.index("const MIGRATIONS") :]
    body = body[: body.index("\n];")]
    return re.findall(r'r#"(.*?)"#', body, re.S)


def build_db(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE gateway_migrations (version INTEGER PRIMARY KEY, applied_at_unix_nano INTEGER NOT NULL)"
    )
    for version, sql in enumerate(migrations(), start=1):
        db.executescript(sql)
        db.execute("INSERT INTO gateway_migrations VALUES (?, ?)", (version, time.time_ns()))
    now = time.time_ns()
    for i in range(40):
        trace_id = f"{i + 1:032x}"
        start = now - (40 - i) * 60_000_000_000
        dur_ms = 100.0 + 37.0 * i
        unpriced = i % 7 == 0
        db.execute(
            """INSERT INTO traces (trace_id, start_time_unix_nano, end_time_unix_nano, duration_ms,
                   model, operation, stream, http_status, status, error_type, input_tokens,
                   output_tokens, ttft_ms, cost_usd, unpriced, user_id, session_id)
               VALUES (?, ?, ?, ?, ?, 'generate_content', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                trace_id,
                start,
                start + int(dur_ms * 1e6),
                dur_ms,
                ["gemini-2.5-flash", "gemini-2.5-pro", None][i % 3],
                i % 2,
                500 if i % 9 == 0 else 200,
                "error" if i % 9 == 0 else "ok",
                "500" if i % 9 == 0 else None,
                100 + i,
                20 * i,
                dur_ms / 4 if i % 2 else None,
                None if unpriced else i / 1000,
                int(unpriced),
                f"user-{i % 4}",
                f"session-{i % 6}",
            ),
        )
        root = f"{i + 1:016x}"
        for j, name in enumerate(["POST /v1beta/models/{model}:generateContent", "prompt_construction", "llm_call", "post_processing"]):
            db.execute(
                """INSERT INTO spans (span_id, trace_id, parent_span_id, name, kind, start_time_unix_nano,
                       end_time_unix_nano, status_code, status_message, attributes, events)
                   VALUES (?, ?, ?, ?, ?, ?, ?, 'unset', NULL, ?, '[]')""",
                (
                    root if j == 0 else f"{i + 1:014x}{j:02x}",
                    trace_id,
                    None if j == 0 else root,
                    name,
                    "server" if j == 0 else "internal",
                    start + j * 1_000_000,
                    start + int(dur_ms * 1e6),
                    '{"gateway.step": "llm_call", "gen_ai.usage.input_tokens": 12}',
                ),
            )
        db.execute(
            """INSERT INTO metric_snapshots (trace_id, metric, value, threshold, breached, model,
                   created_at_unix_nano) VALUES (?, 'latency_ms', ?, 1000.0, ?, 'gemini-2.5-flash', ?)""",
            (trace_id, dur_ms, int(dur_ms > 1000), start),
        )
    db.commit()
    db.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    binary = TARGET / "api"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `cargo build --workspace --bins` first")
    build_db(tmp / "gateway.db")
    config = tmp / "gateway.toml"
    config.write_text(f'[storage]\npath = "{tmp / "gateway.db"}"\n[api]\ntoken = "{TOKEN}"\n')
    log = tmp / "api.log"
    proc = subprocess.Popen(
        [str(binary), "--config", str(config), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=open(log, "w"),
        text=True,
    )
    line = proc.stdout.readline()
    m = re.search(r"api listening on (http://\S+)", line)
    if not m:
        proc.kill()
        pytest.fail(f"api did not announce its address: {line!r}\n{log.read_text()}")
    yield m.group(1)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_every_operation_conforms_to_the_openapi_document(api, tmp_path):
    st = Path(sys.executable).parent / "st"
    cmd = [
        str(st) if st.exists() else "st",
        "run",
        f"{api}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--checks",
        CHECKS,
        "--exclude-path",
        "/api/live",
        "--max-examples",
        "50",
        "--seed",
        "20261124",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    started = time.time()
    # cwd: schemathesis keeps a .schemathesis/ cache in the working directory.
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=170, cwd=tmp_path)
    elapsed = time.time() - started
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"schemathesis failed after {elapsed:.0f} s:\n{out[-20000:]}"
    print(out)
    if "No issues found" in out:
        return
    # Every generated case passed; the only findings allowed are warnings about
    # GET /api/sessions/{id}: random ids name no session (a documented 404) and random cursors
    # and kinds are refused (a documented 400), so most generated cases are "rejected".
    assert re.search(r"(\d+) generated, \1 passed", out), out
    operations = set(re.findall(r"^\s*- (GET|POST|PUT|PATCH|DELETE) (\S+)", out, re.M))
    assert operations <= {("GET", "/api/sessions/{id}")}, out
