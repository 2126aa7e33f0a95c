"""A small two-step agent instrumented with the real OpenTelemetry Python SDK, calling Gemini
through the gateway with the google-genai SDK and exporting its own spans to the gateway's
OTLP receiver (`POST /v1/traces` on the API port, protobuf over HTTP, gzip, bearer token).

The stored trace must hold the agent's spans as parents of the gateway's, under one trace id,
with the calls' tokens and cost rolled up in the trace's totals."""

import os
import subprocess
import time

import pytest
from google import genai
from google.genai import types
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
import requests

from conftest import KEY, TARGET, free_port, wait_port

TOKEN = "otel-agent-token"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("otel-agent")
    fake_log = tmp / "fake.log"
    fake = subprocess.Popen(
        [str(TARGET / "fake-gemini"), "--listen", "127.0.0.1:0", "--chunks", "3"],
        stdout=subprocess.PIPE, stderr=open(fake_log, "w"), text=True,
    )
    upstream = fake.stdout.readline().split()[-1]
    assert upstream.startswith("http://"), upstream
    port, api_port = free_port(), free_port()
    config = tmp / "gateway.toml"
    config.write_text(
        f'[proxy]\nlisten = "127.0.0.1:{port}"\nupstream = "{upstream}"\n'
        f'shutdown_grace_seconds = 1\n[storage]\npath = "{tmp / "gateway.db"}"\nlinger_ms = 5\n'
        f'[api]\nlisten = "127.0.0.1:{api_port}"\ntoken = "{TOKEN}"\n'
    )
    log = tmp / "gateway.log"
    gw = subprocess.Popen(
        [str(TARGET / "gateway"), "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=open(log, "w"),
        env={**os.environ, "RUST_LOG": "info"},
    )
    try:
        wait_port(port, gw, log)
        wait_port(api_port, gw, log)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{api_port}"
    finally:
        for p in (gw, fake):
            if p.poll() is None:
                p.kill()
                p.wait()


def otlp_spans(detail: dict) -> list[dict]:
    """The spans of a trace that came in through the OTLP receiver."""
    return [s for s in detail["spans"] if s["attributes"].get("gateway.span.source") == "otlp"]


def stored_trace(api: str, trace_id: str, ready) -> dict:
    """`GET /api/traces/{trace_id}` once `ready(detail)` holds (within 30 s)."""
    auth = {"authorization": f"Bearer {TOKEN}"}
    deadline = time.time() + 30
    while True:
        r = requests.get(f"{api}/api/traces/{trace_id}", headers=auth, timeout=10)
        if r.status_code == 200 and ready(r.json()):
            return r.json()
        assert time.time() < deadline, f"trace incomplete: {r.status_code} {r.text}"
        time.sleep(0.1)


def run_agent(base_url: str, tracer) -> tuple[str, list[str]]:
    """Plans with one call, answers with a streamed one; each call carries the step's context
    as `traceparent`. Returns the trace id and the gateway's trace-id headers."""
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=base_url))
    seen = []

    def call(prompt: str, stream: bool) -> str:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        cfg = types.GenerateContentConfig(
            temperature=0.2, http_options=types.HttpOptions(headers=carrier)
        )
        if stream:
            chunks = list(client.models.generate_content_stream(
                model="gemini-2.5-flash", contents=prompt, config=cfg))
            text = "".join(c.text or "" for c in chunks)
            seen.append(chunks[-1].sdk_http_response.headers["x-gateway-trace-id"])
        else:
            r = client.models.generate_content(
                model="gemini-2.5-flash", contents=prompt, config=cfg)
            text = r.text
            seen.append(r.sdk_http_response.headers["x-gateway-trace-id"])
        return text

    with tracer.start_as_current_span("invoke_agent trip-planner") as run:
        run.set_attribute("gen_ai.operation.name", "invoke_agent")
        run.set_attribute("gen_ai.agent.name", "trip-planner")
        with tracer.start_as_current_span("plan"):
            plan = call("list three steps to plan a trip", stream=False)
        with tracer.start_as_current_span("retrieve") as r:
            r.set_attribute("retrieval.documents", 2)  # a step without an LLM call
        with tracer.start_as_current_span("answer"):
            call(f"follow this plan: {plan}", stream=True)
        trace_id = format(run.get_span_context().trace_id, "032x")
    return trace_id, seen


def test_agent_spans_are_parents_of_the_gateway_spans(gateway):
    base_url, api = gateway
    provider = TracerProvider(resource=Resource.create({"service.name": "trip-planner"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"{api}/v1/traces",
        headers={"authorization": f"Bearer {TOKEN}"},
        compression=Compression.Gzip,
    )))
    tracer = provider.get_tracer("trip-planner-agent")
    trace_id, seen = run_agent(base_url, tracer)
    provider.shutdown()
    assert seen == [trace_id, trace_id], "the gateway joined the agent's trace"

    auth = {"authorization": f"Bearer {TOKEN}"}
    detail = stored_trace(api, trace_id, lambda d: len(otlp_spans(d)) == 4
                          and len(d["spans"]) >= 4 + 2 * 4)
    spans, agent = detail["spans"], otlp_spans(detail)
    by_id = {s["span_id"]: s for s in spans}
    names = {s["name"]: s for s in agent}
    assert set(names) == {"invoke_agent trip-planner", "plan", "retrieve", "answer"}
    assert all(s["attributes"]["service.name"] == "trip-planner" for s in agent)
    run = names["invoke_agent trip-planner"]
    assert run["parent_span_id"] is None and run["depth"] == 0
    # Each gateway request's root is a child of the step that made the call.
    roots = [s for s in spans if s["kind"] == "server"]
    assert sorted(by_id[s["parent_span_id"]]["name"] for s in roots) == ["answer", "plan"]
    assert all(s["depth"] == 2 for s in roots)
    # The inference spans carry the usage; the trace's totals add both calls up.
    llm = [s for s in spans if s["attributes"].get("gateway.step") == "llm_call"]
    assert len(llm) == 2 and all(s["kind"] == "client" for s in llm)
    assert all(by_id[by_id[s["parent_span_id"]]["parent_span_id"]]["name"] in ("plan", "answer")
               for s in llm)
    t = detail["trace"]
    assert t["request_count"] == 2
    assert t["input_tokens"] == sum(s["attributes"]["gen_ai.usage.input_tokens"] for s in llm)
    assert t["output_tokens"] == sum(s["attributes"]["gen_ai.usage.output_tokens"] for s in llm)
    costs = [s for s in spans if "gateway.cost.usd" in s["attributes"] and s["kind"] == "server"]
    assert len(costs) == 2
    assert t["cost_usd"] == pytest.approx(sum(s["attributes"]["gateway.cost.usd"] for s in costs))
    assert t["cost_usd"] > 0
    assert all(s["attributes"]["gen_ai.request.temperature"] == 0.2 for s in llm)

    m = requests.get(f"{api}/metrics", headers=auth, timeout=10).text
    accepted = [l for l in m.splitlines() if l.startswith("gateway_otlp_receiver_spans_accepted_total")]
    assert accepted and int(accepted[0].split()[-1]) >= 4
