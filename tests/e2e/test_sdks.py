"""The real google-genai and openai SDKs, and curl, through the real gateway.

Each test tags its calls with a unique `x-gateway-session-id` and records what the SDK saw;
`test_zz_database` then stops the gateway (SIGTERM flushes every span) and checks the file.
"""

import json
import subprocess
from pathlib import Path

import pytest
from google import genai
from google.genai import errors, types
from openai import OpenAI

from conftest import FLASH_38, KEY


def gclient(stack, session, **headers):
    """The google-genai client through the gateway, tagged with `session`; `headers` are sent
    too (keyword names with dashes for underscores, e.g. `x_fake_status="429"`)."""
    extra = {k.replace("_", "-"): v for k, v in headers.items()}
    return genai.Client(
        api_key=KEY,
        http_options=types.HttpOptions(
            base_url=stack.base_url,
            headers={"x-gateway-session-id": session, "x-gateway-user-id": "py-user", **extra},
        ),
    )


def oclient(stack, session):
    return OpenAI(
        api_key=KEY,
        base_url=f"{stack.base_url}/v1beta/openai/",
        default_headers={"x-gateway-session-id": session},
        max_retries=0,
    )


def usage_of(u):
    return {
        "input": (u.prompt_token_count or 0) + (u.tool_use_prompt_token_count or 0),
        "output": (u.candidates_token_count or 0) + (u.thoughts_token_count or 0),
    }


def test_generate(stack, expected):
    client = gclient(stack, "py-generate")
    r = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Count the words in this sentence please",
        config=types.GenerateContentConfig(temperature=0.3, max_output_tokens=50),
    )
    assert r.text
    expected["py-generate"] = {"requests": 1, "generate": True, "usage": usage_of(r.usage_metadata)}


def test_stream(stack, expected):
    client = gclient(stack, "py-stream")
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-2.5-flash-lite", contents="Tell me a short story about a proxy"
        )
    )
    assert len(chunks) == 4
    assert "".join(c.text or "" for c in chunks)
    expected["py-stream"] = {
        "requests": 1,
        "generate": True,
        "stream": True,
        "usage": usage_of(chunks[-1].usage_metadata),
    }


def test_count_tokens(stack, expected):
    client = gclient(stack, "py-count")
    r = client.models.count_tokens(
        model="gemini-2.5-flash-lite", contents="one two three"
    )
    assert r.total_tokens == 3
    expected["py-count"] = {"requests": 1, "operation": "count_tokens"}


def test_embed(stack, expected):
    client = gclient(stack, "py-embed")
    r = client.models.embed_content(
        model="text-embedding-004", contents=["first text", "second text"]
    )
    assert len(r.embeddings) == 2
    expected["py-embed"] = {"requests": 1, "operation": "embeddings"}


def test_file_upload(stack, expected, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"x" * 70_000)
    client = gclient(stack, "py-upload")
    f = client.files.upload(file=str(path))
    assert f.size_bytes == 70_000
    assert f.name.startswith("files/")
    # The SDK sends its session header on the start request only; the chunk request follows
    # the rewritten x-goog-upload-url. Both must be traces (checked by path below).
    expected["py-upload"] = {"requests": 1, "upload_traces": 2}


def test_error_status(stack, expected):
    c = gclient(stack, "py-error", x_fake_status="429")
    with pytest.raises(errors.ClientError) as e:
        c.models.generate_content(model="gemini-2.5-flash-lite", contents="hi")
    assert e.value.code == 429
    expected["py-error"] = {"requests": 1, "status": "error", "http_status": 429}


def test_blocked_prompt(stack, expected):
    # The SDK reads a blocked prompt's answer (no candidates) as it would Gemini's.
    c = gclient(stack, "py-blocked", x_fake_block_reason="SAFETY")
    r = c.models.generate_content(model="gemini-3.8-flash", contents="something unsafe")
    assert r.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    assert not r.candidates and r.text is None
    assert r.usage_metadata.candidates_token_count is None
    expected["py-blocked"] = {
        "requests": 1,
        "usage": usage_of(r.usage_metadata),
        "cost": r.usage_metadata.prompt_token_count * FLASH_38[0] / 1e6,
        "finish_reasons": ["SAFETY"],
    }


def test_openai_plain(stack, expected):
    client = oclient(stack, "py-openai")
    r = client.chat.completions.create(
        model="gemini-2.5-flash-lite",
        messages=[{"role": "user", "content": "Say hello to the gateway"}],
    )
    assert r.choices[0].message.content
    expected["py-openai"] = {
        "requests": 1,
        "operation": "chat",
        # Output by the total, whichever way the completion counts the reasoning.
        "usage": {"input": r.usage.prompt_tokens, "output": r.usage.total_tokens - r.usage.prompt_tokens},
    }


def test_openai_stream(stack, expected):
    client = oclient(stack, "py-openai-stream")
    stream = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Stream a greeting"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    usage = [c.usage for c in chunks if c.usage][-1]
    expected["py-openai-stream"] = {
        "requests": 1,
        "operation": "chat",
        "stream": True,
        # A thinking model: its reasoning is output too, counted by the total.
        "usage": {"input": usage.prompt_tokens, "output": usage.total_tokens - usage.prompt_tokens},
        # gemini-2.5-flash is answered by gemini-3.5-flash-lite ($0.30 in, $2.50 out per 1M);
        # the reasoning is billed as output.
        "cost": (usage.prompt_tokens * 0.30 + (usage.total_tokens - usage.prompt_tokens) * 2.50) / 1e6,
    }


def test_curl_with_query_key(stack, expected):
    out = subprocess.run(
        [
            "curl", "-sS", "-f",
            "-H", "content-type: application/json",
            "-H", "x-gateway-session-id: curl-key",
            "-d", json.dumps({"contents": [{"parts": [{"text": "curl says hi"}]}]}),
            f"{stack.base_url}/v1beta/models/gemini-2.5-flash-lite:generateContent?key={KEY}",
        ],
        check=True, capture_output=True, text=True,
    )
    body = json.loads(out.stdout)
    u = body["usageMetadata"]
    expected["curl-key"] = {
        "requests": 1,
        "generate": True,
        "usage": {"input": u["promptTokenCount"], "output": u["candidatesTokenCount"] + u.get("thoughtsTokenCount", 0)},
    }


# Today's surfaces: Interactions (unary and streamed), a flex call, a compressed answer.


def interaction_cost(u, rates=FLASH_38):
    cached = u.total_cached_tokens or 0
    out = (u.total_output_tokens or 0) + (u.total_thought_tokens or 0)
    return ((u.total_input_tokens - cached) * rates[0] + cached * rates[1] + out * rates[2]) / 1e6


def test_interactions_unary(stack, expected):
    client = gclient(stack, "py-interaction")
    i = client.interactions.create(model="gemini-3.8-flash", input="Name three gateways please")
    assert i.status == "completed"
    u = i.usage
    assert u.total_thought_tokens, "thinking tokens are billed output"
    expected["py-interaction"] = {
        "requests": 1,
        "response_id": i.id,
        "usage": {"input": u.total_input_tokens, "output": u.total_output_tokens + u.total_thought_tokens},
        "cost": interaction_cost(u),
    }


def test_interactions_stream(stack, expected):
    client = gclient(stack, "py-interaction-stream")
    events = list(
        client.interactions.create(model="gemini-3.8-flash", input="Stream the answer in parts", stream=True)
    )
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed", kinds
    assert kinds.count("step.delta") >= 2, kinds
    final = events[-1].interaction
    u = final.usage
    expected["py-interaction-stream"] = {
        "requests": 1,
        "response_id": final.id,
        "stream": True,
        "usage": {"input": u.total_input_tokens, "output": u.total_output_tokens + u.total_thought_tokens},
        "cost": interaction_cost(u),
    }


def test_flex_tier_is_half_price(stack, expected):
    client = gclient(stack, "py-flex")
    r = client.models.generate_content(
        model="gemini-3.8-flash",
        contents="A flexible request",
        config=types.GenerateContentConfig(service_tier="flex"),
    )
    u = r.usage_metadata
    out = (u.candidates_token_count or 0) + (u.thoughts_token_count or 0)
    expected["py-flex"] = {
        "requests": 1,
        "generate": True,
        "usage": usage_of(u),
        "cost": (u.prompt_token_count * FLASH_38[0] + out * FLASH_38[2]) / 1e6 / 2,
    }


def test_curl_compressed(stack, expected):
    out = subprocess.run(
        [
            "curl", "-sS", "-f", "--compressed", "-D", "-",
            "-H", "content-type: application/json",
            "-H", "x-goog-api-key: " + KEY,
            "-H", "x-gateway-session-id: curl-gzip",
            "-d", json.dumps({"contents": [{"parts": [{"text": "a compressed answer please"}]}]}),
            f"{stack.base_url}/v1beta/models/gemini-3.8-flash:generateContent",
        ],
        check=True, capture_output=True, text=True,
    )
    head, _, body = out.stdout.partition("\n\n")  # text mode turns CRLF into LF
    assert "content-encoding: gzip" in head.lower(), head
    u = json.loads(body)["usageMetadata"]
    output = u["candidatesTokenCount"] + u.get("thoughtsTokenCount", 0)
    expected["curl-gzip"] = {
        "requests": 1,
        "generate": True,
        "usage": {"input": u["promptTokenCount"], "output": output},
        "cost": (u["promptTokenCount"] * FLASH_38[0] + output * FLASH_38[2]) / 1e6,
    }


def test_js_sdk(stack, expected):
    """The real @google/genai (npm) through the gateway: generate, stream, an interaction."""
    js = Path(__file__).parent / "js"
    out = subprocess.run(
        ["node", str(js / "calls.mjs"), stack.base_url, KEY],
        check=True, capture_output=True, text=True, timeout=120,
    )
    seen = json.loads(out.stdout)
    for session in ("js-generate", "js-stream"):
        u = seen[session]["usage"]
        output = (u.get("candidatesTokenCount") or 0) + (u.get("thoughtsTokenCount") or 0)
        expected[session] = {
            "requests": 1,
            "generate": True,
            "usage": {"input": u["promptTokenCount"], "output": output},
        }
    assert seen["js-generate"]["model"] == "gemini-3.8-flash"
    u = seen["js-generate"]["usage"]
    out_tokens = (u.get("candidatesTokenCount") or 0) + (u.get("thoughtsTokenCount") or 0)
    expected["js-generate"]["cost"] = (u["promptTokenCount"] * FLASH_38[0] + out_tokens * FLASH_38[2]) / 1e6
    expected["js-stream"]["stream"] = True
    i = seen["js-interaction"]
    assert i["status"] == "completed"
    iu = i["usage"]
    expected["js-interaction"] = {
        "requests": 1,
        "response_id": i["id"],
        "usage": {
            "input": iu["total_input_tokens"],
            "output": iu["total_output_tokens"] + iu["total_thought_tokens"],
        },
        "cost": ((iu["total_input_tokens"] - (iu.get("total_cached_tokens") or 0)) * FLASH_38[0]
                 + (iu.get("total_cached_tokens") or 0) * FLASH_38[1]
                 + (iu["total_output_tokens"] + iu["total_thought_tokens"]) * FLASH_38[2]) / 1e6,
    }


def test_zz_database(stack, expected):
    assert stack.stop_gateway() == 0, stack.log.read_text()
    db = stack.db_conn()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for session, exp in expected.items():
        rows = db.execute(
            "SELECT trace_id, operation, status, http_status, input_tokens, output_tokens, stream, cost_usd "
            "FROM traces WHERE session_id = ?", (session,)
        ).fetchall()
        if not rows and "response_id" in exp:
            # Found by the interaction id on the LLM span, whatever headers the SDK sent.
            rows = db.execute(
                "SELECT t.trace_id, t.operation, t.status, t.http_status, t.input_tokens, t.output_tokens, "
                "t.stream, t.cost_usd FROM traces t JOIN spans s ON s.trace_id = t.trace_id "
                "WHERE json_extract(s.attributes, '$.\"gen_ai.response.id\"') = ? "
                "AND json_extract(s.attributes, '$.\"gateway.step\"') = 'llm_call'",
                (exp["response_id"],),
            ).fetchall()
        assert len(rows) == exp["requests"], (session, rows)
        trace_id, operation, status, http_status, input_tokens, output_tokens, stream, cost = rows[0]
        if "cost" in exp:
            assert cost == pytest.approx(exp["cost"], rel=1e-9, abs=1e-15), (session, cost, exp["cost"])
        if "operation" in exp:
            assert operation == exp["operation"], session
        assert status == exp.get("status", "ok"), (session, status)
        if "http_status" in exp:
            assert http_status == exp["http_status"]
        if "usage" in exp:
            assert (input_tokens, output_tokens) == (exp["usage"]["input"], exp["usage"]["output"]), session
        if exp.get("stream"):
            assert stream == 1, session
        if "finish_reasons" in exp:
            (reasons,) = db.execute(
                "SELECT json_extract(attributes, '$.\"gen_ai.response.finish_reasons\"') FROM spans "
                "WHERE trace_id = ? AND json_extract(attributes, '$.\"gateway.step\"') = 'llm_call'",
                (trace_id,),
            ).fetchone()
            assert json.loads(reasons) == exp["finish_reasons"], session
        if exp.get("generate"):
            steps = [
                json.loads(a).get("gateway.step")
                for (a,) in db.execute(
                    "SELECT attributes FROM spans WHERE trace_id = ? AND parent_span_id IS NOT NULL "
                    "ORDER BY start_time_unix_nano, id", (trace_id,)
                )
            ]
            assert sorted(steps) == ["llm_call", "post_processing", "prompt_construction"], steps
        if "upload_traces" in exp:
            n = db.execute(
                "SELECT COUNT(*) FROM spans WHERE parent_span_id IS NULL AND kind = 'server' "
                "AND json_extract(attributes, '$.\"url.path\"') LIKE '/upload/%'"
            ).fetchone()[0]
            assert n == exp["upload_traces"], n
    total = db.execute("SELECT COUNT(*) FROM traces").fetchone()[0]
    assert total == sum(e["requests"] + e.get("upload_traces", 1) - 1 for e in expected.values())
    db.close()
    for name in ["gateway.db", "gateway.db-wal", "gateway.log"]:
        p = stack.tmp / name
        if p.exists():
            assert KEY.encode() not in p.read_bytes(), f"API key leaked into {name}"
