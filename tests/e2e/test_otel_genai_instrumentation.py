"""An application instrumented with OpenTelemetry's own google-genai instrumentation
(`opentelemetry-instrumentation-google-genai`, the real package), calling Gemini through the
gateway and exporting its spans to the gateway's OTLP receiver.

The instrumentation records every call's usage on a CLIENT span of its own, as the gateway
does on its `llm_call` span, so each call arrives twice with tokens. The stored trace must
hold both, agree with the instrumentation on every count (both read the same
`usageMetadata`), and count each call once in the trace's totals and cost."""

import pytest
from google import genai
from google.genai import types
from opentelemetry import propagate
from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from conftest import KEY
from test_otel_agent import gateway, otlp_spans, stored_trace  # noqa: F401  (the fixture)
from test_otel_agent import TOKEN

MODEL = "gemini-2.5-flash"
EMBED = "gemini-embedding-001"


def run_app(base_url: str, provider: TracerProvider) -> tuple[str, list[str]]:
    """One step span around three calls (a generation, a streamed one, an embedding), each
    carrying the step's context as `traceparent`. Returns the trace id and the gateway's
    trace-id headers of the two generations."""
    tracer = provider.get_tracer("support-bot")
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=base_url))
    seen = []
    with tracer.start_as_current_span("answer ticket") as step:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        cfg = types.GenerateContentConfig(http_options=types.HttpOptions(headers=carrier))
        r = client.models.generate_content(model=MODEL, contents="classify this ticket", config=cfg)
        assert r.text
        seen.append(r.sdk_http_response.headers["x-gateway-trace-id"])
        chunks = list(client.models.generate_content_stream(
            model=MODEL, contents="draft a reply to the ticket", config=cfg))
        assert "".join(c.text or "" for c in chunks)
        seen.append(chunks[-1].sdk_http_response.headers["x-gateway-trace-id"])
        e = client.models.embed_content(
            model=EMBED, contents="the ticket text",
            config=types.EmbedContentConfig(http_options=types.HttpOptions(headers=carrier)))
        assert e.embeddings and e.embeddings[0].values
        trace_id = format(step.get_span_context().trace_id, "032x")
    return trace_id, seen


def test_instrumented_app_and_gateway_agree_and_each_call_counts_once(gateway):  # noqa: F811
    base_url, api = gateway
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"{api}/v1/traces", headers={"authorization": f"Bearer {TOKEN}"})))
    instrumentor = GoogleGenAiSdkInstrumentor()
    # The instrumentation declares google-genai < 3; the SDK under test is 3.x, whose
    # `Models` methods it wraps are unchanged. Without the flag it instruments nothing.
    instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)
    try:
        trace_id, seen = run_app(base_url, provider)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    assert seen == [trace_id, trace_id], "the gateway joined the application's trace"

    detail = stored_trace(api, trace_id, lambda d: len(otlp_spans(d)) == 4
                          and d["trace"]["request_count"] == 3)
    spans, app = detail["spans"], otlp_spans(detail)
    roots = [s for s in spans if s["kind"] == "server"]
    by_id = {s["span_id"]: s for s in spans}

    # The instrumentation's spans: the step, and one CLIENT span per call, its children.
    step = next(s for s in app if s["name"] == "answer ticket")
    calls = [s for s in app if s is not step]
    assert all(s["kind"] == "client" and s["parent_span_id"] == step["span_id"] for s in calls)
    assert all(s["attributes"]["service.name"] == "support-bot" for s in app)
    ops = sorted(s["attributes"]["gen_ai.operation.name"] for s in calls)
    assert ops == ["embeddings", "generate_content", "generate_content"], ops
    # The gateway's requests are children of the same step.
    assert all(s["parent_span_id"] == step["span_id"] for s in roots)

    # Both sides read the same usageMetadata: per operation, the same counts.
    llm = [s for s in spans if s["attributes"].get("gateway.step") == "llm_call"
           and s["attributes"].get("gateway.span.source") != "otlp"]
    assert len(llm) == 3

    def usage(group, op):
        return sorted(
            (s["attributes"].get("gen_ai.usage.input_tokens"),
             s["attributes"].get("gen_ai.usage.output_tokens") or 0)
            for s in group if s["attributes"]["gen_ai.operation.name"] == op)

    for op in ("generate_content", "embeddings"):
        theirs, ours = usage(calls, op), usage(llm, op)
        assert theirs == ours, (op, theirs, ours)
        assert all(i and i > 0 for i, _ in ours), (op, ours)
    # The generations' output includes thinking on both sides.
    assert all(o > 0 for _, o in usage(llm, "generate_content"))

    # Each call counts once: the trace's totals are the gateway's own, not doubled by the
    # instrumentation's spans that carry the same usage.
    t = detail["trace"]
    assert t["request_count"] == 3
    assert t["input_tokens"] == sum(s["attributes"]["gen_ai.usage.input_tokens"] for s in llm)
    assert t["output_tokens"] == sum(
        s["attributes"].get("gen_ai.usage.output_tokens") or 0 for s in llm)
    costs = [s["attributes"]["gateway.cost.usd"] for s in roots]
    assert t["cost_usd"] == pytest.approx(sum(costs)) and t["cost_usd"] > 0
    assert not any("gateway.cost.usd" in s["attributes"] for s in app)
    assert {by_id[s["parent_span_id"]]["span_id"] for s in llm} <= {s["span_id"] for s in roots}
