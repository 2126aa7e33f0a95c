//! OTLP export against a receiver that decodes the protobuf: same spans and attribute names as
//! SQLite, GenAI metrics, gzip, and a collector that is down costs nothing but counted drops.

#![allow(clippy::unwrap_used)]

mod util;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use fake_gemini::{FakeConfig, spawn_in_thread};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use util::{Gateway, client};

#[derive(Default)]
struct Received {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    gzip: bool,
}

fn body(headers: &HeaderMap, bytes: &[u8], rec: &Mutex<Received>) -> Vec<u8> {
    if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        rec.lock().unwrap().gzip = true;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        bytes.to_vec()
    }
}

/// An OTLP/HTTP receiver on a free port, running on its own thread.
fn receiver() -> (String, Arc<Mutex<Received>>) {
    let rec = Arc::new(Mutex::new(Received::default()));
    let (tx, rx) = std::sync::mpsc::channel();
    let state = rec.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (t, m) = (state.clone(), state.clone());
            let app = axum::Router::new()
                .route(
                    "/v1/traces",
                    post(move |h: HeaderMap, b: Bytes| async move {
                        let raw = body(&h, &b, &t);
                        t.lock()
                            .unwrap()
                            .traces
                            .push(ExportTraceServiceRequest::decode(raw.as_slice()).unwrap());
                        ""
                    }),
                )
                .route(
                    "/v1/metrics",
                    post(move |h: HeaderMap, b: Bytes| async move {
                        let raw = body(&h, &b, &m);
                        m.lock()
                            .unwrap()
                            .metrics
                            .push(ExportMetricsServiceRequest::decode(raw.as_slice()).unwrap());
                        ""
                    }),
                );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (format!("http://{addr}"), rec)
}

fn send(gw: &Gateway, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let resp = client()
                .post(gw.url("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"))
                .header("x-goog-api-key", "otlp-key")
                .body(format!(
                    r#"{{"contents":[{{"parts":[{{"text":"otlp {i}"}}]}}]}}"#
                ))
                .send()
                .unwrap();
            assert_eq!(resp.status(), 200);
            let id = resp.headers()["x-gateway-trace-id"]
                .to_str()
                .unwrap()
                .to_owned();
            resp.bytes().unwrap();
            id
        })
        .collect()
}

fn str_attr(
    attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            Value::BoolValue(b) => Some(b.to_string()),
            Value::DoubleValue(d) => Some(d.to_string()),
            _ => None,
        }
    })
}

#[test]
fn spans_and_metrics_reach_an_otlp_receiver() {
    let fake = spawn_in_thread(FakeConfig::default());
    let (endpoint, rec) = receiver();
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!(
            "[export.otlp]\nendpoint = \"{endpoint}\"\ngzip = true\nmetrics_interval_ms = 300\nheaders = {{ \"x-tenant\" = \"t1\" }}\n"
        ),
    );
    let ids = send(&gw, 2);
    gw.wait_traces(2);
    gw.stop();

    let rec = rec.lock().unwrap();
    assert!(rec.gzip, "gzip was asked for");
    let spans: Vec<_> = rec
        .traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| str_attr(&r.attributes, "service.name"));
            assert_eq!(service.as_deref(), Some("gemini-gateway"));
            rs.scope_spans.iter().flat_map(|ss| ss.spans.iter())
        })
        .collect();
    for id in &ids {
        let mine: Vec<_> = spans.iter().filter(|s| hex(&s.trace_id) == *id).collect();
        assert_eq!(mine.len(), 4, "root + three steps for {id}");
        let llm = mine
            .iter()
            .find(|s| str_attr(&s.attributes, "gateway.step").as_deref() == Some("llm_call"))
            .unwrap();
        assert_eq!(llm.name, "generate_content gemini-2.5-flash");
        assert_eq!(llm.kind, 3, "SPAN_KIND_CLIENT");
        assert_eq!(
            str_attr(&llm.attributes, "gen_ai.provider.name").as_deref(),
            Some("gcp.gemini")
        );
        let post = mine
            .iter()
            .find(|s| str_attr(&s.attributes, "gateway.step").as_deref() == Some("post_processing"))
            .unwrap();
        assert!(str_attr(&post.attributes, "gen_ai.usage.output_tokens").is_some());
        assert!(str_attr(&post.attributes, "gateway.cost.usd").is_some());
        assert!(post.events.iter().any(|e| e.name == "gateway.metric"));
    }
    let names: Vec<String> = rec
        .metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| sm.metrics.iter().map(|m| m.name.clone()))
        .collect();
    for expected in [
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.time_to_first_chunk",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_collector_that_is_down_stalls_nothing() {
    let fake = spawn_in_thread(FakeConfig::default());
    let dead = format!("http://127.0.0.1:{}", util::free_port());
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!(
            "[export.otlp]\nendpoint = \"{dead}\"\ntimeout_ms = 500\nmetrics_interval_ms = 60000\n"
        ),
    );
    let ids = send(&gw, 5);
    let conn = gw.wait_traces(5);
    // The exporter logs its lost batch; SQLite got everything.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gw.log_text().contains("otlp-exporter") {
        assert!(
            Instant::now() < deadline,
            "no OTLP drop logged:\n{}",
            gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    gw.stop();
    for id in ids {
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM spans WHERE trace_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 4);
    }
}
