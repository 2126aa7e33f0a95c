"""The real google-genai SDK over TLS on both sides of the gateway.

The SDK reaches the gateway's TLS listener at https://127.0.0.1:<port> trusting a CA generated
for the run (SSL_CERT_FILE, as the README shows); the gateway reaches fake-gemini over TLS
(h2 by ALPN) trusting the same CA through `[proxy] upstream_ca_file`. Stored tokens and cost are
checked against what the SDK saw.
"""

import pytest
from google import genai
from google.genai import types

from conftest import FLASH_38, KEY

# gemini-3.8-flash standard rates in force now, USD per 1M tokens.
RATE_IN, _, RATE_OUT = FLASH_38


def client(tls_stack, session, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_stack.ca))
    return genai.Client(
        api_key=KEY,
        http_options=types.HttpOptions(
            base_url=tls_stack.base_url,
            headers={"x-gateway-session-id": session},
        ),
    )


def usage(u):
    i = (u.prompt_token_count or 0) + (u.tool_use_prompt_token_count or 0)
    o = (u.candidates_token_count or 0) + (u.thoughts_token_count or 0)
    return i, o


def test_tls_generate_and_stream_are_stored(tls_stack, monkeypatch):
    c = client(tls_stack, "tls-generate", monkeypatch)
    r = c.models.generate_content(
        model="gemini-3.8-flash", contents="Say something about certificates"
    )
    assert r.text.startswith("Echo:")
    unary = usage(r.usage_metadata)

    c = client(tls_stack, "tls-stream", monkeypatch)
    chunks = list(
        c.models.generate_content_stream(
            model="gemini-3.8-flash", contents="Stream over TLS on both sides"
        )
    )
    assert len(chunks) == 4
    streamed = usage(chunks[-1].usage_metadata)

    assert tls_stack.stop_gateway() == 0, tls_stack.log.read_text()
    db = tls_stack.db_conn()
    for session, (i, o), stream in [
        ("tls-generate", unary, 0),
        ("tls-stream", streamed, 1),
    ]:
        rows = db.execute(
            "SELECT model, input_tokens, output_tokens, cost_usd, stream, status "
            "FROM traces WHERE session_id = ?",
            (session,),
        ).fetchall()
        assert len(rows) == 1, (session, rows)
        model, input_tokens, output_tokens, cost, is_stream, status = rows[0]
        assert model == "gemini-3.8-flash", session
        assert status == "ok", session
        assert (input_tokens, output_tokens) == (i, o), session
        assert is_stream == stream, session
        assert cost == pytest.approx((i * RATE_IN + o * RATE_OUT) / 1e6, rel=1e-9), session
    log = tls_stack.log.read_text()
    assert "Proxy listener speaks TLS" in log
    assert KEY not in log
