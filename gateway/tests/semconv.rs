//! The inference span and the GenAI metrics in each naming generation (`[telemetry] semconv`),
//! as a real OTLP/HTTP receiver decodes them (`opentelemetry-proto`), next to the SQLite row
//! the same run wrote and the API's answer, which must not depend on the mode.

#![allow(clippy::unwrap_used)]

mod otlp_sink;
mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value as Json;
use std::time::{Duration, Instant};
use util::{Gateway, client};

fn json(v: &AnyValue) -> Json {
    match v.value.as_ref().unwrap() {
        Value::StringValue(s) => Json::from(s.as_str()),
        Value::IntValue(i) => Json::from(*i),
        Value::DoubleValue(d) => Json::from(*d),
        Value::BoolValue(b) => Json::from(*b),
        Value::ArrayValue(a) => a.values.iter().map(json).collect(),
        other => panic!("unexpected value {other:?}"),
    }
}

fn attrs(kvs: &[KeyValue]) -> serde_json::Map<String, Json> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), json(kv.value.as_ref().unwrap())))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The exported CLIENT span of `trace_id` and its scope's schema URL, waiting for the export.
fn exported_llm_span(
    rec: &std::sync::Mutex<otlp_sink::Received>,
    trace_id: &str,
) -> (Span, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        {
            let r = rec.lock().unwrap();
            for ss in r
                .traces
                .iter()
                .flat_map(|t| &t.resource_spans)
                .flat_map(|rs| &rs.scope_spans)
            {
                if let Some(s) = ss
                    .spans
                    .iter()
                    .find(|s| hex(&s.trace_id) == trace_id && s.kind == 3)
                {
                    return (s.clone(), ss.schema_url.clone());
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no exported LLM span for {trace_id}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Names of every metric exported so far.
fn metric_names(rec: &std::sync::Mutex<otlp_sink::Received>) -> Vec<String> {
    let r = rec.lock().unwrap();
    let mut v: Vec<String> = r
        .metrics
        .iter()
        .flat_map(|m| &m.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| m.name.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `(modality, value)` points of a counter, summed over everything else.
fn counter_points(rec: &std::sync::Mutex<otlp_sink::Received>, name: &str) -> Vec<(String, i64)> {
    let r = rec.lock().unwrap();
    let mut out: Vec<(String, i64)> = Vec::new();
    let last = r
        .metrics
        .iter()
        .flat_map(|m| &m.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .rfind(|m| m.name == name);
    if let Some(Data::Sum(sum)) = last.and_then(|m| m.data.as_ref()) {
        for p in &sum.data_points {
            let a = attrs(&p.attributes);
            let modality = a["gen_ai.token.modality"].as_str().unwrap().to_owned();
            let v = match p.value {
                Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(
                    i,
                )) => i,
                _ => panic!("a token counter is an integer"),
            };
            out.push((modality, v));
        }
    }
    out.sort();
    out
}

struct Run {
    ok: serde_json::Map<String, Json>,
    failed: serde_json::Map<String, Json>,
    schema_url: String,
    metrics: Vec<String>,
    input_counter: Vec<(String, i64)>,
    usage: Json,
    api_input: i64,
    sqlite_llm: Json,
}

fn run(mode: &str) -> Run {
    let fake = spawn_in_thread(FakeConfig::default());
    let (endpoint, rec) = otlp_sink::receiver();
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!(
            "[api]\nlisten = \"127.0.0.1:0\"\n[telemetry]\nsemconv = \"{mode}\"\n\
             [export.otlp]\nendpoint = \"{endpoint}\"\nmetrics_interval_ms = 100\n"
        ),
    );
    // A search tool and a cache, so that the answer's tool-use prompt and cached counts are
    // not 0 and the sums below are checked on both.
    let body = r#"{"contents":[{"parts":[{"text":"name three colours"}]}],
        "tools":[{"googleSearch":{}}],"cachedContent":"cachedContents/palette",
        "generationConfig":{"temperature":0.5,"topK":40,"maxOutputTokens":256,
        "thinkingConfig":{"thinkingLevel":"low"}}}"#;
    let resp = client()
        .post(gw.url("/v1beta/models/gemini-3-flash-preview:streamGenerateContent?alt=sse"))
        .header("x-goog-api-key", "k")
        .header("x-gateway-session-id", "conv-42")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ok_id = util::trace_id(&resp);
    let text = resp.text().unwrap();
    let usage = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<Json>(d).unwrap())
        .filter_map(|d| d.get("usageMetadata").cloned())
        .next_back()
        .unwrap();
    let resp = client()
        .post(gw.url("/v1beta/models/gemini-3-flash-preview:generateContent"))
        .header("x-goog-api-key", "k")
        .header("x-fake-status", "500")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 500);
    let failed_id = util::trace_id(&resp);
    let (ok, schema_url) = exported_llm_span(&rec, &ok_id);
    let (failed, _) = exported_llm_span(&rec, &failed_id);
    let sqlite_llm = util::llm_span(&gw, &ok_id);
    let api: Json = client()
        .get(gw.api_url(&format!("/api/traces/{ok_id}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    // Metrics are exported every 100 ms; wait for the failed call's duration to show.
    let duration = if mode == "v1.41" {
        "gen_ai.client.operation.duration"
    } else {
        "gen_ai.client.inference.duration"
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !metric_names(&rec).iter().any(|n| n == duration)
        || (mode != "v1.41"
            && !counter_points(&rec, "gen_ai.client.inference.usage.input_tokens")
                .iter()
                .any(|(m, _)| m == "unknown"))
    {
        assert!(
            Instant::now() < deadline,
            "metrics not exported: {:?}",
            metric_names(&rec)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    gw.stop();
    Run {
        ok: attrs(&ok.attributes),
        failed: attrs(&failed.attributes),
        schema_url,
        metrics: metric_names(&rec),
        input_counter: counter_points(&rec, "gen_ai.client.inference.usage.input_tokens"),
        api_input: api["trace"]["input_tokens"].as_i64().unwrap(),
        usage,
        sqlite_llm,
    }
}

/// What both generations carry on the inference span, checked against the answer.
fn common(r: &Run) {
    let a = &r.ok;
    let n = |k: &str| r.usage[k].as_i64().unwrap_or(0);
    for k in [
        "toolUsePromptTokenCount",
        "cachedContentTokenCount",
        "thoughtsTokenCount",
    ] {
        assert!(n(k) > 0, "{k} is 0 in {}", r.usage);
    }
    assert_eq!(
        a["gen_ai.usage.input_tokens"],
        n("promptTokenCount") + n("toolUsePromptTokenCount")
    );
    assert_eq!(
        a["gen_ai.usage.output_tokens"],
        n("candidatesTokenCount") + n("thoughtsTokenCount")
    );
    assert_eq!(
        a["gen_ai.usage.reasoning.output_tokens"],
        n("thoughtsTokenCount")
    );
    assert_eq!(
        a["gen_ai.usage.cache_read.input_tokens"],
        n("cachedContentTokenCount")
    );
    // The fake details the prompt as TEXT: the text subset equals the prompt.
    assert_eq!(a["gen_ai.usage.text.input_tokens"], n("promptTokenCount"));
    assert_eq!(a["gen_ai.request.temperature"], 0.5);
    assert_eq!(a["gen_ai.request.max_tokens"], 256);
    assert_eq!(a["gen_ai.request.reasoning.level"], "low");
    assert_eq!(a["gen_ai.conversation.id"], "conv-42");
    assert_eq!(
        a["gen_ai.response.finish_reasons"],
        serde_json::json!(["STOP"])
    );
    assert!(
        a["gen_ai.response.id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(
        a["gen_ai.response.model"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(a["gen_ai.response.time_to_first_chunk"].as_f64().unwrap() >= 0.0);
    // A failed call says so, and names no conversation it was not given.
    assert_eq!(
        r.failed["gen_ai.response.finish_reasons"],
        serde_json::json!(["error"])
    );
    assert_eq!(r.failed["error.type"], "500");
    assert!(!r.failed.contains_key("gen_ai.conversation.id"));
    // SQLite holds what OTLP carried.
    for (k, v) in a {
        assert_eq!(&r.sqlite_llm[k], v, "{k} differs between SQLite and OTLP");
    }
    // The API reads the same column whatever the mode.
    assert_eq!(
        r.api_input,
        a["gen_ai.usage.input_tokens"].as_i64().unwrap()
    );
}

#[test]
fn v141_names_on_the_inference_span_and_metrics() {
    let r = run("v1.41");
    common(&r);
    assert_eq!(r.schema_url, "https://opentelemetry.io/schemas/1.41.0");
    assert_eq!(r.ok["gen_ai.usage.cache_creation.input_tokens"], 0);
    assert!(!r.ok.contains_key("gen_ai.usage.cache_write.input_tokens"));
    assert!(
        r.ok["gen_ai.request.top_k"].is_f64(),
        "top_k is a double in v1.41"
    );
    for m in [
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
    ] {
        assert!(
            r.metrics.iter().any(|n| n == m),
            "{m} missing: {:?}",
            r.metrics
        );
    }
    assert!(
        !r.metrics
            .iter()
            .any(|n| n.starts_with("gen_ai.client.inference.")),
        "{:?}",
        r.metrics
    );
}

#[test]
fn latest_names_on_the_inference_span_and_metrics() {
    let r = run("latest");
    common(&r);
    assert_eq!(
        r.schema_url,
        "https://opentelemetry.io/schemas/gen-ai/1.42.0"
    );
    assert_eq!(r.ok["gen_ai.usage.cache_write.input_tokens"], 0);
    assert!(
        !r.ok
            .contains_key("gen_ai.usage.cache_creation.input_tokens")
    );
    assert!(
        r.ok["gen_ai.request.top_k"].is_i64(),
        "top_k is an int on main"
    );
    assert_eq!(r.ok["gen_ai.request.top_k"], 40);
    for m in [
        "gen_ai.client.inference.duration",
        "gen_ai.client.inference.time_to_first_chunk",
        "gen_ai.client.inference.usage.input_tokens",
        "gen_ai.client.inference.usage.output_tokens",
        "gen_ai.client.inference.usage.reasoning.output_tokens",
    ] {
        assert!(
            r.metrics.iter().any(|n| n == m),
            "{m} missing: {:?}",
            r.metrics
        );
    }
    for m in [
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
    ] {
        assert!(!r.metrics.iter().any(|n| n == m), "{m} is v1.41 only");
    }
    // The successful call counted its prompt as text and its tool-use prompt (not broken down
    // by modality here) as unknown; the failed one recorded 0, unknown.
    let n = r.usage["promptTokenCount"].as_i64().unwrap();
    let tool_use = r.usage["toolUsePromptTokenCount"].as_i64().unwrap();
    let mut points = r.input_counter.clone();
    points.sort();
    let mut want = vec![
        ("text".to_owned(), n),
        ("unknown".to_owned(), 0),
        ("unknown".to_owned(), tool_use),
    ];
    want.sort();
    assert_eq!(points, want);
}

#[test]
fn both_generations_at_once() {
    let r = run("both");
    common(&r);
    assert_eq!(r.ok["gen_ai.usage.cache_write.input_tokens"], 0);
    assert_eq!(r.ok["gen_ai.usage.cache_creation.input_tokens"], 0);
    for m in [
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.client.inference.duration",
        "gen_ai.client.inference.usage.input_tokens",
    ] {
        assert!(
            r.metrics.iter().any(|n| n == m),
            "{m} missing: {:?}",
            r.metrics
        );
    }
}
