//! `POST /v1/traces` on the gateway's API port: the application's spans stored next to the
//! gateway's (one trace, the gateway's root a child of the application's span, cost rolled
//! up), and hostile bodies answered with a clear 4xx or clipped and counted.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::{Value as Json, json};
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use util::{Gateway, client};

const TOKEN: &str = "receiver-token";

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn span(trace: [u8; 16], id: u64, parent: Option<u64>, name: &str, start: u64) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: id.to_be_bytes().to_vec(),
        parent_span_id: parent.map(|p| p.to_be_bytes().to_vec()).unwrap_or_default(),
        name: name.into(),
        kind: 1,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000_000,
        ..Default::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "agent-under-test")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn start(fake: &str, extra: &str) -> Gateway {
    Gateway::start(
        fake,
        "",
        &format!("[api]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n{extra}"),
    )
}

fn post(
    gw: &Gateway,
    body: Vec<u8>,
    content_type: &str,
    gzip: bool,
) -> reqwest::blocking::Response {
    let mut r = client()
        .post(gw.api_url("/v1/traces"))
        .bearer_auth(TOKEN)
        .header("content-type", content_type);
    let body = if gzip {
        r = r.header("content-encoding", "gzip");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&body).unwrap();
        e.finish().unwrap()
    } else {
        body
    };
    r.body(body).send().unwrap()
}

fn post_proto(gw: &Gateway, req: &ExportTraceServiceRequest) -> reqwest::blocking::Response {
    post(gw, req.encode_to_vec(), "application/x-protobuf", false)
}

fn api(gw: &Gateway, path: &str) -> Json {
    client()
        .get(gw.api_url(path))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Rows of `spans` for `trace_id`, waiting until there are `n` (the writer is asynchronous).
fn wait_spans(gw: &Gateway, trace_id: &str, n: usize) -> Vec<(String, Option<String>, Json)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(conn) = rusqlite::Connection::open(&gw.db) {
            let rows: Vec<(String, Option<String>, Json)> = conn
                .prepare(
                    "SELECT span_id, parent_span_id, attributes FROM spans WHERE trace_id = ?1",
                )
                .and_then(|mut s| {
                    s.query_map([trace_id], |r| {
                        let a: String = r.get(2)?;
                        Ok((r.get(0)?, r.get(1)?, serde_json::from_str(&a).unwrap()))
                    })?
                    .collect()
                })
                .unwrap_or_default();
            if rows.len() >= n {
                return rows;
            }
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} spans for {trace_id}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metric(gw: &Gateway, line_start: &str) -> u64 {
    let text = client()
        .get(gw.api_url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn application_spans_are_parents_of_the_gateway_spans_in_one_trace() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = start(&fake.base_url(), "");
    let trace = [0x4a; 16];
    let trace_hex = "4a".repeat(16);
    let t0 = now_ns();
    // The agent: a root run and one step, sent as gzip'd protobuf.
    let spans = vec![
        span(trace, 0x1001, None, "invoke_agent planner", t0),
        span(trace, 0x1002, Some(0x1001), "plan step", t0 + 10),
    ];
    let r = post(
        &gw,
        request(spans).encode_to_vec(),
        "application/x-protobuf",
        true,
    );
    assert_eq!(r.status(), 200);
    let answer = ExportTraceServiceResponse::decode(r.bytes().unwrap()).unwrap();
    assert!(answer.partial_success.is_none(), "{answer:?}");
    // Two LLM calls made from the step, with its traceparent.
    for _ in 0..2 {
        let r = client()
            .post(gw.url("/v1beta/models/gemini-2.5-flash:generateContent"))
            .header("x-goog-api-key", "k")
            .header("traceparent", format!("00-{trace_hex}-{:016x}-01", 0x1002))
            .body(r#"{"contents":[{"parts":[{"text":"two words"}]}]}"#)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(util::trace_id(&r), trace_hex);
    }
    // The same trace through JSON: a later step.
    let step = json!({"resourceSpans":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"agent-under-test"}}]},
        "scopeSpans":[{"scope":{"name":"agent"},"spans":[{
            "traceId": trace_hex, "spanId": "0000000000001003", "parentSpanId": "0000000000001001",
            "name": "answer step", "kind": 1,
            "startTimeUnixNano": (t0 + 20).to_string(), "endTimeUnixNano": (t0 + 30).to_string(),
            "attributes":[{"key":"step.index","value":{"intValue":"2"}}],
            "status": {"code": 2, "message": "tool failed"}}]}]}]});
    let r = post(
        &gw,
        step.to_string().into_bytes(),
        "application/json",
        false,
    );
    assert_eq!(r.status(), 200);
    // 3 agent spans + 2 requests x (root, prompt, llm, post).
    let rows = wait_spans(&gw, &trace_hex, 11);
    let detail = api(&gw, &format!("/api/traces/{trace_hex}"));
    gw.stop();
    let roots: Vec<&(String, Option<String>, Json)> = rows
        .iter()
        .filter(|r| r.2["gateway.status"].is_string())
        .collect();
    assert_eq!(roots.len(), 2);
    for r in &roots {
        assert_eq!(
            r.1.as_deref(),
            Some("0000000000001002"),
            "child of the agent's step"
        );
    }
    let agent: Vec<_> = rows
        .iter()
        .filter(|r| r.2["gateway.span.source"] == "otlp")
        .collect();
    assert_eq!(agent.len(), 3);
    assert!(
        agent
            .iter()
            .all(|r| r.2["service.name"] == "agent-under-test")
    );
    assert!(agent.iter().any(|r| r.2["step.index"] == 2));
    // One trace row: both calls' cost and tokens rolled up.
    let t = &detail["trace"];
    assert_eq!(t["request_count"], 2);
    let llm: Vec<&Json> = detail["spans"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["attributes"]["gateway.step"] == "llm_call")
        .collect();
    let sum: i64 = llm
        .iter()
        .map(|s| {
            s["attributes"]["gen_ai.usage.input_tokens"]
                .as_i64()
                .unwrap()
        })
        .sum();
    assert_eq!(t["input_tokens"].as_i64().unwrap(), sum);
    assert!(t["cost_usd"].as_f64().unwrap() > 0.0);
    // The waterfall: the agent's run at depth 0, the gateway's roots under its step.
    let spans = detail["spans"].as_array().unwrap();
    assert_eq!(spans[0]["name"], "invoke_agent planner");
    assert_eq!(spans[0]["depth"], 0);
    assert!(
        spans
            .iter()
            .filter(|s| s["kind"] == "server")
            .all(|s| s["depth"] == 2)
    );
}

#[test]
fn hostile_bodies_get_a_clear_answer_or_are_clipped_and_counted() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = start(
        &fake.base_url(),
        "[telemetry]\nreceiver_max_spans = 100\nreceiver_max_body_bytes = 1048576\n",
    );
    let trace = [0x5b; 16];
    let trace_hex = "5b".repeat(16);
    let t0 = now_ns();

    // Guards: no token, a foreign Host, a foreign Origin.
    let body = request(vec![span(trace, 1, None, "x", t0)]).encode_to_vec();
    let r = client()
        .post(gw.api_url("/v1/traces"))
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client()
        .post(gw.api_url("/v1/traces"))
        .bearer_auth(TOKEN)
        .header("host", "evil.example")
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 421);
    let r = client()
        .post(gw.api_url("/v1/traces"))
        .bearer_auth(TOKEN)
        .header("origin", "http://evil.example")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);

    // Undecodable bodies and encodings.
    let r = post(
        &gw,
        b"\xff\xff\xff not protobuf".to_vec(),
        "application/x-protobuf",
        false,
    );
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("invalid OTLP protobuf"));
    let r = post(
        &gw,
        b"{\"resourceSpans\": [".to_vec(),
        "application/json",
        false,
    );
    assert_eq!(r.status(), 400);
    let r = post(&gw, b"not gzip".to_vec(), "application/x-protobuf", false);
    assert_eq!(r.status(), 400);
    let r = client()
        .post(gw.api_url("/v1/traces"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(b"not gzip".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("gzip"));
    let r = post(&gw, vec![], "text/plain", false);
    assert_eq!(r.status(), 415);

    // Too many spans in one request: refused whole, with the limit in the message.
    let many: Vec<Span> = (1..=101).map(|i| span(trace, i, None, "s", t0)).collect();
    let r = post_proto(&gw, &request(many));
    assert_eq!(r.status(), 413);
    assert!(r.text().unwrap().contains("at most 100"));
    // A million spans, gzip'd: refused (past the bound as sent, or once decompressed).
    let million: Vec<Span> = (1..=1_000_000)
        .map(|i| span(trace, i, None, "s", t0))
        .collect();
    let r = post(
        &gw,
        request(million).encode_to_vec(),
        "application/x-protobuf",
        true,
    );
    assert_eq!(r.status(), 413);
    assert!(r.text().unwrap().contains("larger than 1048576 bytes"));
    // A gzip bomb: 64 MiB of zeros in a small body, refused once decompressed past the bound.
    let r = post(&gw, vec![0u8; 64 << 20], "application/x-protobuf", true);
    assert_eq!(r.status(), 413);
    assert!(r.text().unwrap().contains("decompressed"));
    // And a body past the bound as sent.
    let r = post(&gw, vec![0u8; 2 << 20], "application/x-protobuf", false);
    assert_eq!(r.status(), 413);

    // Timestamps in 1970 and 2200, a zero span id: rejected and said so; the rest is stored.
    let mut s1970 = span(trace, 0x21, None, "epoch", 0);
    s1970.end_time_unix_nano = 5;
    let s2200 = span(trace, 0x22, None, "future", 7_258_118_400_000_000_000);
    let zero = span(trace, 0, None, "zero id", t0);
    // A huge attribute, a forged gateway summary, a cycle and a self-parent.
    let mut huge = span(trace, 0x23, None, "huge", t0);
    huge.kind = 2;
    huge.attributes = vec![
        kv("big", &"x".repeat(1 << 19)),
        kv("gateway.status", "ok"),
        kv("gateway.cost.usd", "1000"),
    ];
    huge.attributes
        .extend((0..200).map(|i| kv(&format!("k{i}"), "v")));
    let a = span(trace, 0x31, Some(0x32), "cycle a", t0);
    let b = span(trace, 0x32, Some(0x31), "cycle b", t0);
    let own = span(trace, 0x33, Some(0x33), "own parent", t0);
    let mut backwards = span(trace, 0x34, None, "ends before it starts", t0);
    backwards.end_time_unix_nano = t0 - 1_000;
    let r = post_proto(
        &gw,
        &request(vec![s1970, s2200, zero, huge, a, b, own, backwards]),
    );
    assert_eq!(r.status(), 200);
    let answer = ExportTraceServiceResponse::decode(r.bytes().unwrap()).unwrap();
    let partial = answer.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 3);
    assert!(
        partial.error_message.contains("before 2000"),
        "{}",
        partial.error_message
    );

    let rows = wait_spans(&gw, &trace_hex, 5);
    assert_eq!(rows.len(), 5, "1970, 2200 and the zero id are not stored");
    let by_id = |id: u64| rows.iter().find(|r| r.0 == format!("{id:016x}")).unwrap();
    let h = &by_id(0x23).2;
    assert_eq!(h["big"].as_str().unwrap().len(), 8192);
    assert!(h.get("gateway.status").is_none() && h.get("gateway.cost.usd").is_none());
    assert!(h["gateway.span.clipped"].as_i64().unwrap() >= 3);
    assert!(h.as_object().unwrap().len() <= 128 + 3);
    // The cycle lost one link, the self-parent its parent; nothing lost.
    let cyc = [by_id(0x31).1.clone(), by_id(0x32).1.clone()];
    assert_eq!(cyc.iter().filter(|p| p.is_none()).count(), 1, "{cyc:?}");
    assert_eq!(by_id(0x33).1, None);
    let conn = gw.open_db();
    let traces: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM traces WHERE trace_id = ?1",
            [&trace_hex],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(traces, 0, "a client cannot forge a trace summary");
    let (start, end): (i64, i64) = conn
        .query_row(
            "SELECT start_time_unix_nano, end_time_unix_nano FROM spans WHERE span_id = ?1",
            [format!("{:016x}", 0x34)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(start, end, "an end before the start is set to the start");

    assert_eq!(metric(&gw, "gateway_otlp_receiver_spans_rejected_total"), 3);
    assert_eq!(
        metric(&gw, "gateway_otlp_receiver_parent_cycles_broken_total"),
        2
    );
    assert!(metric(&gw, "gateway_otlp_receiver_clipped_total") >= 3 + 72);
    assert_eq!(
        metric(
            &gw,
            "gateway_otlp_receiver_refused_total{reason=\"too_many_spans\"}"
        ),
        1
    );
    assert_eq!(
        metric(
            &gw,
            "gateway_otlp_receiver_refused_total{reason=\"too_large\"}"
        ),
        3
    );
    assert_eq!(
        metric(
            &gw,
            "gateway_otlp_receiver_refused_total{reason=\"bad_encoding\"}"
        ),
        4
    );
    gw.stop();
}

#[test]
fn a_flood_is_refused_and_counted_and_the_proxy_keeps_its_spans() {
    let fake = spawn_in_thread(FakeConfig::default());
    // A queue of 64 spans: application spans may take 32 of it.
    let mut gw = Gateway::start_with_storage(
        &fake.base_url(),
        "",
        "linger_ms = 5\nqueue_capacity = 64",
        &format!("[api]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n"),
    );
    let trace = [0x6c; 16];
    let t0 = now_ns();
    let flood: Vec<Span> = (1..=40)
        .map(|i| span(trace, i, None, "flood", t0))
        .collect();
    let r = post_proto(&gw, &request(flood));
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(metric(&gw, "gateway_otlp_receiver_spans_dropped_total"), 40);
    assert_eq!(
        metric(
            &gw,
            "gateway_otlp_receiver_refused_total{reason=\"queue_full\"}"
        ),
        1
    );
    // The proxy's own spans still go through.
    let id = util::generate(&gw, r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#);
    let row = util::trace_row(&gw, &id);
    drop(row);
    // A batch that fits is taken.
    let ok: Vec<Span> = (100..=110)
        .map(|i| span(trace, i, None, "fits", t0))
        .collect();
    assert_eq!(post_proto(&gw, &request(ok)).status(), 200);
    wait_spans(&gw, &"6c".repeat(16), 11);
    assert_eq!(
        metric(&gw, "gateway_otlp_receiver_spans_accepted_total"),
        11
    );
    gw.stop();
}
