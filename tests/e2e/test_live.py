"""Live API sessions with the real google-genai SDK over wss:// through the gateway.

`client.aio.live.connect` forces `wss://` whenever an API key is set, so the SDK reaches the
gateway's TLS listener (`[proxy] tls_cert` / `tls_key`, a pair made by `gateway demo-cert`)
trusting the generated CA through SSL_CERT_FILE, as the README shows. The gateway forwards the
upgraded connection to fake-gemini's Live endpoint. Each model turn the SDK saw must be one
stored LLM span with that turn's usage; the session's trace row carries their sum, and its
cost is the sum of the turns at the test's own price row.
"""

import asyncio
import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
from google import genai
from google.genai import types

from conftest import KEY, TARGET, free_port, wait_port

MODEL = "gemini-3-live-e2e"
# The test's price row, USD per 1M tokens: input 1, output (answer and thoughts) 10.
RATE_IN, RATE_OUT = 1.0, 10.0


class LiveStack:
    """fake-gemini (plain http), or the given `upstream`, behind a gateway whose own listener
    speaks TLS."""

    def __init__(self, tmp: Path, upstream: str | None = None):
        pki = tmp / "pki"
        subprocess.run([str(TARGET / "gateway"), "demo-cert", str(pki)], check=True,
                       stdout=subprocess.DEVNULL)
        self.ca, cert, key = pki / "ca.pem", pki / "server.pem", pki / "server-key.pem"
        self.fake = None
        if upstream is None:
            self.fake = subprocess.Popen(
                [str(TARGET / "fake-gemini"), "--listen", "127.0.0.1:0"],
                stdout=subprocess.PIPE,
                stderr=open(tmp / "fake.log", "w"),
                text=True,
            )
            line = self.fake.stdout.readline()
            m = re.search(r"http://\S+", line)
            assert m, f"fake-gemini did not announce its address: {line!r}"
            upstream = m.group(0)
        self.port = free_port()
        self.db = tmp / "gateway.db"
        self.log = tmp / "gateway.log"
        config = tmp / "gateway.toml"
        config.write_text(
            f'[proxy]\nlisten = "127.0.0.1:{self.port}"\nupstream = "{upstream}"\n'
            f'tls_cert = "{cert}"\ntls_key = "{key}"\nshutdown_grace_seconds = 1\n'
            f'[storage]\npath = "{self.db}"\nlinger_ms = 5\n'
            f'[pricing.models."{MODEL}"]\ninput = {RATE_IN}\noutput = {RATE_OUT}\n'
        )
        self.gateway = subprocess.Popen(
            [str(TARGET / "gateway"), "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"),
            env={**os.environ, "RUST_LOG": "info"},
        )
        wait_port(self.port, self.gateway, self.log)
        self.base_url = f"https://127.0.0.1:{self.port}"

    def stop_gateway(self) -> int:
        if self.gateway.poll() is None:
            self.gateway.terminate()
            self.gateway.wait(timeout=30)
        return self.gateway.returncode

    def close(self) -> None:
        for p in (self.gateway, self.fake):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory):
    s = LiveStack(tmp_path_factory.mktemp("live-stack"))
    yield s
    s.close()


def client(stack, session, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(stack.ca))
    return genai.Client(
        api_key=KEY,
        http_options=types.HttpOptions(
            base_url=stack.base_url,
            headers={"x-gateway-session-id": session},
        ),
    )


def tokens(u):
    """(input, output) as the gateway meters them: the prompt (the whole context so far) in,
    the answer and the thoughts out."""
    return (u.prompt_token_count or 0, (u.response_token_count or 0) + (u.thoughts_token_count or 0))


def usd(t):
    return (t[0] * RATE_IN + t[1] * RATE_OUT) / 1e6


async def text_session(c):
    """Two text turns; returns the usage of each and the text of the answers."""
    seen, texts = [], []
    async with c.aio.live.connect(
        model=MODEL, config=types.LiveConnectConfig(response_modalities=["TEXT"])
    ) as session:
        assert session.session_id, "setupComplete carries the session id"
        for prompt in ["What is the weather like in Lyon?", "And tomorrow in the Alps?"]:
            await session.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text=prompt)]),
                turn_complete=True,
            )
            text, usage = "", None
            async for msg in session.receive():
                if msg.text:
                    text += msg.text
                if msg.usage_metadata:
                    usage = msg.usage_metadata
            assert usage is not None, "each turn ends with its usage"
            seen.append(tokens(usage))
            texts.append(text)
    return seen, texts


async def tool_session(c):
    """One user turn answered by a function call, then the answer after the tool response."""
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="The weather in a city.",
        parameters=types.Schema(
            type="OBJECT", properties={"city": types.Schema(type="STRING")}
        ),
    )
    seen, calls, answer = [], [], ""
    config = types.LiveConnectConfig(
        response_modalities=["TEXT"], tools=[types.Tool(function_declarations=[weather])]
    )
    async with c.aio.live.connect(model=MODEL, config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Weather in Oslo?")]),
            turn_complete=True,
        )
        async for msg in session.receive():
            if msg.usage_metadata:
                seen.append(tokens(msg.usage_metadata))
            if msg.tool_call:
                for fc in msg.tool_call.function_calls:
                    calls.append(fc.name)
                    await session.send_tool_response(
                        function_responses=types.FunctionResponse(
                            id=fc.id, name=fc.name, response={"forecast": "snow, -3 C"}
                        )
                    )
            if msg.text:
                answer += msg.text
    return seen, calls, answer


def stored(stack, session):
    """The session's trace row (model, tokens, cost, status) and its spans (name, attributes)."""
    db = sqlite3.connect(stack.db)
    rows = db.execute(
        "SELECT trace_id, model, input_tokens, output_tokens, cost_usd, unpriced, status, stream "
        "FROM traces WHERE session_id = ?",
        (session,),
    ).fetchall()
    assert len(rows) == 1, (session, rows)
    trace_id = rows[0][0]
    spans = db.execute(
        "SELECT name, attributes FROM spans WHERE trace_id = ? ORDER BY start_time_unix_nano, id",
        (trace_id,),
    ).fetchall()
    return rows[0][1:], [(n, json.loads(a)) for n, a in spans]


def test_live_sessions_over_wss_are_metered_turn_by_turn(live_stack, monkeypatch):
    text_turns, texts = asyncio.run(text_session(client(live_stack, "live-text", monkeypatch)))
    assert len(text_turns) == 2
    assert all(t.startswith("Live: ") for t in texts), texts
    assert text_turns[1][0] > text_turns[0][0], "the whole context is re-billed each turn"

    tool_turns, calls, answer = asyncio.run(
        tool_session(client(live_stack, "live-tool", monkeypatch))
    )
    assert calls == ["get_weather"]
    assert answer.startswith("Live: "), answer
    assert len(tool_turns) == 2, "the call and the answer after the tool response"

    assert live_stack.stop_gateway() == 0, live_stack.log.read_text()
    for session, turns in [("live-text", text_turns), ("live-tool", tool_turns)]:
        (model, i, o, cost, unpriced, status, stream), spans = stored(live_stack, session)
        llm = [a for _, a in spans if a.get("gateway.step") == "llm_call"]
        assert [(a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) for a in llm] \
            == turns, session
        for a, t in zip(llm, turns):
            assert a["gen_ai.request.model"] == MODEL
            assert a["gateway.cost.usd"] == pytest.approx(usd(t), rel=1e-9), session
        assert model == MODEL, session
        assert (status, stream, unpriced) == ("ok", 1, 0), session
        assert (i, o) == (sum(t[0] for t in turns), sum(t[1] for t in turns)), session
        assert cost == pytest.approx(sum(usd(t) for t in turns), rel=1e-9), session
        root = next(a for _, a in spans if "gateway.live.end" in a)
        assert root["gateway.live.end"] == "client_close", session
        assert root["gateway.live.turns"] == len(turns), session
        tools = [n for n, a in spans if a.get("gen_ai.operation.name") == "execute_tool"]
        assert tools == (["execute_tool get_weather"] if session == "live-tool" else []), spans
    log = live_stack.log.read_text()
    assert "Proxy listener speaks TLS" in log
    assert KEY not in log
    for f in live_stack.db.parent.glob("gateway.db*"):
        assert KEY.encode() not in f.read_bytes(), f
