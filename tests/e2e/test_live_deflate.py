"""Live sessions whose WebSocket messages are compressed (permessage-deflate, RFC 7692).

The google-genai SDK connects with the `websockets` library, which offers permessage-deflate on
every connection; an upstream that accepts it sends and receives every data message deflated.
fake-gemini's WebSocket stack cannot compress, so this test's upstream is a small Live server
on `websockets` itself (which accepts the offer, as its default), speaking the SDK's own
`LiveServerMessage` types. The gateway forwards the compressed bytes untouched and must still
meter every turn; a second run with the window reset after every message checks the other
mode of the extension.
"""

import asyncio
import json
import sqlite3
import threading

import pytest
from google import genai
from google.genai import types
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.sync.server import serve

from conftest import KEY
from test_live import LiveStack

MODEL = "gemini-3-live-e2e"
RATE_IN, RATE_OUT = 1.0, 10.0


def wire(message: types.LiveServerMessage) -> bytes:
    """A server message as the service sends it: camelCase JSON in a binary frame."""
    return json.dumps(message.model_dump(mode="json", by_alias=True, exclude_none=True)).encode()


class DeflateLive:
    """A Live upstream that deflates: `setup` gets `setupComplete`; each complete client turn
    gets its answer in two `modelTurn` parts, then `turnComplete` with the turn's usage (the
    whole context so far as the prompt, as the service bills it)."""

    def __init__(self, no_context_takeover: bool):
        factory = ServerPerMessageDeflateFactory(
            server_no_context_takeover=no_context_takeover,
            client_no_context_takeover=no_context_takeover,
        )
        self.server = serve(self.handle, "127.0.0.1", 0, compression=None, extensions=[factory])
        self.url = f"http://127.0.0.1:{self.server.socket.getsockname()[1]}"
        self.agreed: list[str] = []
        self.usage: list[tuple[int, int]] = []
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, ws):
        self.agreed.append(ws.response.headers.get("Sec-WebSocket-Extensions", ""))
        setup = json.loads(ws.recv())
        assert setup["setup"]["model"].endswith(MODEL), setup
        ws.send(wire(types.LiveServerMessage(
            setup_complete=types.LiveServerSetupComplete(session_id="deflate-session"))))
        context = 0
        for raw in ws:
            message = json.loads(raw)
            # The SDK writes this key in snake case (the service reads either).
            content = message.get("clientContent") or message.get("client_content") or {}
            if not (content.get("turnComplete") or content.get("turn_complete")):
                continue
            prompt = sum(len(p.get("text", "").split()) for t in content.get("turns", [])
                         for p in t.get("parts", []))
            answer = ["Live: the forecast is snow above 1,800 m, ", "rain in the valleys. " * 40]
            context += prompt
            for text in answer:
                ws.send(wire(types.LiveServerMessage(server_content=types.LiveServerContent(
                    model_turn=types.Content(role="model", parts=[types.Part(text=text)])))))
            out = sum(len(t.split()) for t in answer)
            self.usage.append((context, out))
            ws.send(wire(types.LiveServerMessage(
                server_content=types.LiveServerContent(turn_complete=True),
                usage_metadata=types.UsageMetadata(
                    prompt_token_count=context, response_token_count=out,
                    total_token_count=context + out))))
            context += out

    def close(self):
        self.server.shutdown()


async def session(c):
    """Two text turns; the usage the SDK saw for each."""
    seen = []
    async with c.aio.live.connect(
        model=MODEL, config=types.LiveConnectConfig(response_modalities=["TEXT"])
    ) as s:
        for prompt in ["What is the weather like in Chamonix tomorrow?", "And the day after?"]:
            await s.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text=prompt * 20)]),
                turn_complete=True)
            text, usage = "", None
            async for msg in s.receive():
                text += msg.text or ""
                usage = msg.usage_metadata or usage
            assert text.startswith("Live: "), text
            seen.append((usage.prompt_token_count, usage.response_token_count))
    return seen


@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_compressed_live_sessions_are_metered_turn_by_turn(
    tmp_path, monkeypatch, no_context_takeover
):
    upstream = DeflateLive(no_context_takeover)
    stack = LiveStack(tmp_path, upstream=upstream.url)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(stack.ca))
        c = genai.Client(api_key=KEY, http_options=types.HttpOptions(
            base_url=stack.base_url, headers={"x-gateway-session-id": "deflate"}))
        seen = asyncio.run(session(c))
        assert stack.stop_gateway() == 0, stack.log.read_text()
    finally:
        stack.close()
        upstream.close()
    # The extension was agreed, through the gateway, with the mode asked for.
    assert len(upstream.agreed) == 1 and "permessage-deflate" in upstream.agreed[0], upstream.agreed
    assert ("server_no_context_takeover" in upstream.agreed[0]) == no_context_takeover
    assert seen == upstream.usage and len(seen) == 2

    db = sqlite3.connect(stack.db)
    (trace_id, i, o, cost, status), = db.execute(
        "SELECT trace_id, input_tokens, output_tokens, cost_usd, status FROM traces "
        "WHERE session_id = 'deflate'").fetchall()
    spans = [json.loads(a) for (a,) in db.execute(
        "SELECT attributes FROM spans WHERE trace_id = ? ORDER BY start_time_unix_nano, id",
        (trace_id,))]
    llm = [a for a in spans if a.get("gateway.step") == "llm_call"]
    assert [(a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) for a in llm] == seen
    assert (i, o, status) == (sum(t[0] for t in seen), sum(t[1] for t in seen), "ok")
    assert cost == pytest.approx(sum(t[0] * RATE_IN + t[1] * RATE_OUT for t in seen) / 1e6)
    root = next(a for a in spans if "gateway.live.end" in a)
    assert root["gateway.live.frames.unreadable"] == 0, root
    assert "gateway.live.frames.unreadable_reason" not in root, root
    assert root["gateway.live.session_id"] == "deflate-session"
    assert root["gateway.live.frames.client"] >= 3 and root["gateway.live.frames.server"] >= 7
    # The key (in the upgrade's query) reaches neither the log nor the database.
    assert KEY not in stack.log.read_text()
    for f in stack.db.parent.glob("gateway.db*"):
        assert KEY.encode() not in f.read_bytes(), f
