//! OTLP export against a real OTLP/HTTP receiver that decodes the protobuf
//! (`opentelemetry-proto`): every exported span is compared field by field with the SQLite row
//! the same run wrote (ids, parent, name, kind, times, status, every attribute and event with
//! its value); token attributes and the GenAI metrics are compared with the `usageMetadata` the
//! test itself received; and a collector that is down costs nothing but counted drops.

#![allow(clippy::unwrap_used)]

mod otlp_sink;
mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::Span;
use otlp_sink::receiver;
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use util::{Gateway, client};

/// One call the test made, and what it saw on the wire.
struct Call {
    trace_id: String,
    model: &'static str,
    stream: bool,
    status: u16,
    user: String,
    /// `(input, output)` from the answer's last `usageMetadata`: prompt + tool-use prompt,
    /// candidates + thoughts (Gemini bills thinking as output).
    usage: Option<(i64, i64)>,
}

/// The last `usageMetadata` in an answer (one JSON object, or SSE `data:` events).
fn usage_of(text: &str) -> Option<(i64, i64)> {
    let docs: Vec<Json> = if text.trim_start().starts_with('{') {
        vec![serde_json::from_str(text).unwrap()]
    } else {
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    };
    let u = docs.iter().rev().find_map(|d| d.get("usageMetadata"))?;
    let n = |k: &str| u.get(k).and_then(Json::as_i64).unwrap_or(0);
    Some((
        n("promptTokenCount") + n("toolUsePromptTokenCount"),
        n("candidatesTokenCount") + n("thoughtsTokenCount"),
    ))
}

fn call(gw: &Gateway, model: &'static str, stream: bool, fail: Option<u16>, i: usize) -> Call {
    let path = if stream {
        format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/v1beta/models/{model}:generateContent")
    };
    let mut req = client()
        .post(gw.url(&path))
        .header("x-goog-api-key", "otlp-key")
        .header("x-gateway-user-id", format!("user-{i}"))
        .header("x-gateway-session-id", "otlp-session")
        .header("x-gateway-property-team", "observability")
        .body(format!(
            r#"{{"contents":[{{"parts":[{{"text":"otlp {i}"}}]}}],"generationConfig":{{"temperature":0.25,"maxOutputTokens":64}}}}"#
        ));
    if let Some(code) = fail {
        req = req.header("x-fake-status", code.to_string());
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    assert_eq!(status, fail.unwrap_or(200));
    let trace_id = util::trace_id(&resp);
    let text = resp.text().unwrap();
    Call {
        trace_id,
        model,
        stream,
        status,
        user: format!("user-{i}"),
        usage: if fail.is_some() {
            None
        } else {
            Some(usage_of(&text).expect("a usageMetadata in the answer"))
        },
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP value as the JSON the SQLite writer would store for it.
fn json_of(v: &Option<AnyValue>) -> Json {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => json!(s),
        Some(Value::BoolValue(b)) => json!(b),
        Some(Value::IntValue(i)) => json!(i),
        Some(Value::DoubleValue(d)) if d.is_finite() => json!(d),
        Some(Value::DoubleValue(_)) => Json::Null,
        Some(Value::ArrayValue(a)) => {
            Json::Array(a.values.iter().map(|v| json_of(&Some(v.clone()))).collect())
        }
        other => panic!("an attribute type the gateway never sets: {other:?}"),
    }
}

fn attrs_json(attrs: &[KeyValue]) -> Json {
    let mut m = Map::new();
    for kv in attrs {
        m.insert(kv.key.clone(), json_of(&kv.value));
    }
    Json::Object(m)
}

fn str_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| match json_of(&kv.value) {
            Json::String(s) => s,
            other => other.to_string(),
        })
}

/// A `spans` row, as stored.
#[derive(Debug)]
struct Row {
    span_id: String,
    trace_id: String,
    parent: Option<String>,
    name: String,
    kind: String,
    start: i64,
    end: i64,
    status: String,
    message: Option<String>,
    attributes: Json,
    events: Json,
}

fn rows(conn: &rusqlite::Connection) -> Vec<Row> {
    let mut stmt = conn
        .prepare(
            "SELECT span_id, trace_id, parent_span_id, name, kind, start_time_unix_nano,
                    end_time_unix_nano, status_code, status_message, attributes, events
             FROM spans ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(Row {
            span_id: r.get(0)?,
            trace_id: r.get(1)?,
            parent: r.get(2)?,
            name: r.get(3)?,
            kind: r.get(4)?,
            start: r.get(5)?,
            end: r.get(6)?,
            status: r.get(7)?,
            message: r.get(8)?,
            attributes: serde_json::from_str(&r.get::<_, String>(9)?).unwrap(),
            events: serde_json::from_str(&r.get::<_, String>(10)?).unwrap(),
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .map(|mut row: Row| {
        metric_events(conn, &mut row);
        row
    })
    .collect()
}

/// Appends the `metric_snapshots` rows a span carried to its stored events, as the events they
/// were written from: the writer stores such an event as its row only, so the row must hold
/// every attribute of the event that OTLP carries.
fn metric_events(conn: &rusqlite::Connection, row: &mut Row) {
    let mut stmt = conn
        .prepare(
            "SELECT metric, value, threshold, breached, model, created_at_unix_nano, llm_span_id
             FROM metric_snapshots WHERE trace_id = ?1 AND span_id = ?2 ORDER BY id",
        )
        .unwrap();
    let events = row.events.as_array_mut().unwrap();
    let found = stmt
        .query_map([&row.trace_id, &row.span_id], |r| {
            let mut a = Map::new();
            a.insert("metric".into(), json!(r.get::<_, String>(0)?));
            a.insert("value".into(), json!(r.get::<_, f64>(1)?));
            if let Some(t) = r.get::<_, Option<f64>>(2)? {
                a.insert("threshold".into(), json!(t));
            }
            a.insert("breached".into(), json!(r.get::<_, bool>(3)?));
            a.insert("model".into(), json!(r.get::<_, String>(4)?));
            a.insert("llm_span_id".into(), json!(r.get::<_, String>(6)?));
            let event = json!({"name": "gateway.metric", "time_unix_nano": r.get::<_, i64>(5)?,
                "attributes": a});
            // Through the text parser, as the stored JSON and the OTLP side (see `compare`).
            Ok(serde_json::from_str::<Json>(&event.to_string()).unwrap())
        })
        .unwrap();
    events.extend(found.map(Result::unwrap));
}

/// OTLP's span kind number for the stored name (opentelemetry/proto/trace/v1/trace.proto).
fn kind_number(kind: &str) -> i32 {
    match kind {
        "internal" => 1,
        "server" => 2,
        "client" => 3,
        "producer" => 4,
        "consumer" => 5,
        other => panic!("unknown stored kind {other}"),
    }
}

/// Every field of one exported span against its row; returns the differences.
fn compare(span: &Span, row: &Row) -> Vec<String> {
    let mut diff = Vec::new();
    let mut check = |field: &str, otlp: Json, sqlite: Json| {
        // The stored JSON went through serde_json's text parser, which can land one ulp off the
        // shortest representation it wrote; the OTLP side takes the same text path, so equal
        // f64 values compare equal and any other difference still shows.
        let otlp: Json = serde_json::from_str(&otlp.to_string()).unwrap();
        if otlp != sqlite {
            diff.push(format!(
                "span {} {field}: OTLP {otlp} != SQLite {sqlite}",
                row.span_id
            ));
        }
    };
    check("trace_id", json!(hex(&span.trace_id)), json!(row.trace_id));
    check(
        "parent_span_id",
        json!((!span.parent_span_id.is_empty()).then(|| hex(&span.parent_span_id))),
        json!(row.parent),
    );
    check("name", json!(span.name), json!(row.name));
    check("kind", json!(span.kind), json!(kind_number(&row.kind)));
    check(
        "start_time_unix_nano",
        json!(span.start_time_unix_nano),
        json!(row.start),
    );
    check(
        "end_time_unix_nano",
        json!(span.end_time_unix_nano),
        json!(row.end),
    );
    let status = span.status.clone().unwrap_or_default();
    let code = match status.code {
        0 => "unset",
        1 => "ok",
        2 => "error",
        other => panic!("status code {other}"),
    };
    check("status.code", json!(code), json!(row.status));
    check(
        "status.message",
        json!((!status.message.is_empty()).then_some(status.message)),
        json!(row.message.as_ref().filter(|m| !m.is_empty())),
    );
    check(
        "attributes",
        attrs_json(&span.attributes),
        row.attributes.clone(),
    );
    check(
        "dropped_attributes_count",
        json!(span.dropped_attributes_count),
        json!(0),
    );
    let events: Vec<Json> = span
        .events
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "time_unix_nano": e.time_unix_nano,
                "attributes": attrs_json(&e.attributes),
            })
        })
        .collect();
    check("events", Json::Array(events), row.events.clone());
    diff
}

#[test]
fn every_exported_span_equals_its_sqlite_row_and_the_metrics_equal_what_was_sent() {
    let fake = spawn_in_thread(FakeConfig::default());
    let (endpoint, rec) = receiver();
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!(
            "[export.otlp]\nendpoint = \"{endpoint}\"\ngzip = true\nmetrics_interval_ms = 300\nheaders = {{ \"x-tenant\" = \"t1\" }}\n\
             [thresholds]\nlatency_ms = 0\n\
             [telemetry]\nsemconv = \"v1.41\"\n"
        ),
    );
    // One generation of names here; tests/semconv.rs checks "latest" and "both".
    let calls = vec![
        call(&gw, "gemini-2.5-flash", true, None, 0),
        call(&gw, "gemini-2.5-flash", true, None, 1),
        call(&gw, "gemini-2.5-flash-lite", false, None, 2),
        call(&gw, "gemini-2.5-flash-lite", false, Some(503), 3),
    ];
    let conn = gw.wait_traces(calls.len() as i64);
    gw.stop(); // flushes both pipelines
    let rec = rec.lock().unwrap();
    assert!(rec.gzip, "gzip was asked for");
    assert!(
        !rec.tenant.is_empty() && rec.tenant.iter().all(|t| t == "t1"),
        "the configured header on every export: {:?}",
        rec.tenant
    );

    // Every exported span, keyed by span id; the resource names the service.
    let mut exported: BTreeMap<String, &Span> = BTreeMap::new();
    for rs in rec.traces.iter().flat_map(|r| &r.resource_spans) {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| str_attr(&r.attributes, "service.name"));
        assert_eq!(service.as_deref(), Some("gemini-gateway"));
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            assert!(
                exported.insert(hex(&span.span_id), span).is_none(),
                "span {} exported twice",
                hex(&span.span_id)
            );
        }
    }
    let rows = rows(&conn);
    let stored: Vec<&String> = rows.iter().map(|r| &r.span_id).collect();
    let sent: Vec<&String> = exported.keys().collect();
    let mut stored_sorted = stored.clone();
    stored_sorted.sort();
    assert_eq!(sent, stored_sorted, "the same spans in OTLP and in SQLite");
    assert_eq!(rows.len(), 4 * calls.len(), "root + three steps per call");
    let diffs: Vec<String> = rows
        .iter()
        .flat_map(|row| compare(exported[&row.span_id], row))
        .collect();
    assert!(
        diffs.is_empty(),
        "OTLP differs from SQLite:\n{}",
        diffs.join("\n")
    );

    // Independent of both exports: the values the test sent and received.
    for c in &calls {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.trace_id == c.trace_id).collect();
        let root = mine.iter().find(|r| r.parent.is_none()).unwrap();
        assert_eq!(root.kind, "server");
        for child in mine.iter().filter(|r| r.parent.is_some()) {
            assert_eq!(child.parent.as_ref(), Some(&root.span_id));
            assert!(
                child.start >= root.start && child.end <= root.end,
                "{child:?}"
            );
        }
        let by_step = |s: &str| {
            mine.iter()
                .find(|r| r.attributes["gateway.step"] == s)
                .unwrap_or_else(|| panic!("no {s} span"))
        };
        let llm = by_step("llm_call");
        assert_eq!(llm.name, format!("generate_content {}", c.model));
        assert_eq!(llm.kind, "client");
        let a = &root.attributes;
        assert_eq!(a["gen_ai.request.model"], c.model);
        assert_eq!(llm.attributes["gen_ai.provider.name"], "gcp.gemini");
        assert_eq!(a["http.response.status_code"], c.status);
        assert_eq!(a["user.id"], c.user);
        assert_eq!(a["session.id"], "otlp-session");
        assert_eq!(a["gateway.property.team"], "observability");
        assert_eq!(
            by_step("prompt_construction").attributes["gen_ai.request.temperature"],
            0.25
        );
        assert_eq!(
            by_step("prompt_construction").attributes["gen_ai.request.max_tokens"],
            64
        );
        match c.usage {
            Some((input, output)) => {
                assert_eq!(root.status, "unset", "{root:?}");
                for r in [root, by_step("llm_call")] {
                    assert_eq!(r.attributes["gen_ai.usage.input_tokens"], input);
                    assert_eq!(r.attributes["gen_ai.usage.output_tokens"], output);
                }
                let post = &by_step("post_processing").attributes;
                assert!(
                    post.get("gen_ai.usage.input_tokens").is_none(),
                    "the usage is not repeated on post_processing: {post}"
                );
                assert_eq!(post["gateway.usage.total_tokens"], input + output);
                let cost = post;
                let total = cost["gateway.cost.usd"].as_f64().unwrap();
                let parts = cost["gateway.cost.input_usd"].as_f64().unwrap()
                    + cost["gateway.cost.output_usd"].as_f64().unwrap();
                assert!(
                    total > 0.0 && (total - parts).abs() <= 1e-12 * total,
                    "{cost}"
                );
                assert!(cost["gateway.cost.tier"].is_string(), "{cost}");
                assert!(cost["gateway.cost.model"].is_string(), "{cost}");
                let events = by_step("post_processing").events.as_array().unwrap();
                assert!(
                    events.iter().any(|e| e["name"] == "gateway.metric"
                        && e["attributes"]["metric"] == "latency_ms"
                        && e["attributes"]["threshold"] == 0.0),
                    "the latency snapshot travels as an event: {events:?}"
                );
            }
            None => {
                assert_eq!(root.status, "error", "{root:?}");
                assert!(a.get("gen_ai.usage.input_tokens").is_none(), "{a}");
            }
        }
        // The trace row the dashboard reads carries the same numbers as the exported root.
        let (model, input, output, cost, _) = util::trace_row(&gw, &c.trace_id);
        let root_otlp = exported[&root.span_id];
        let otlp = attrs_json(&root_otlp.attributes);
        assert_eq!(json!(model), otlp["gen_ai.request.model"]);
        assert_eq!(
            json!(input),
            otlp.get("gen_ai.usage.input_tokens")
                .cloned()
                .unwrap_or(Json::Null)
        );
        assert_eq!(
            json!(output),
            otlp.get("gen_ai.usage.output_tokens")
                .cloned()
                .unwrap_or(Json::Null)
        );
        assert_eq!(
            json!(cost),
            otlp.get("gateway.cost.usd").cloned().unwrap_or(Json::Null)
        );
    }

    check_metrics(&rec.metrics, &calls, &conn);
}

/// One histogram data point: (count, sum, sum of the bucket counts).
type Point = (u64, f64, u64);

/// The latest cumulative point of each (metric, attribute set) the receiver got.
fn latest_points(metrics: &[ExportMetricsServiceRequest]) -> BTreeMap<(String, String), Point> {
    let mut latest: BTreeMap<(String, String), (u64, Point)> = BTreeMap::new();
    for m in metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
    {
        let Some(Data::Histogram(h)) = &m.data else {
            continue;
        };
        assert_eq!(h.aggregation_temporality, 2, "cumulative: {}", m.name);
        for p in &h.data_points {
            let key = (m.name.clone(), attrs_json(&p.attributes).to_string());
            let point = (
                p.count,
                p.sum.unwrap_or(f64::NAN),
                p.bucket_counts.iter().sum(),
            );
            let newer = latest.get(&key).is_none_or(|(t, _)| p.time_unix_nano >= *t);
            if newer {
                latest.insert(key, (p.time_unix_nano, point));
            }
        }
    }
    latest.into_iter().map(|(k, (_, p))| (k, p)).collect()
}

fn labels(model: &str, extra: &[(&str, &str)]) -> String {
    let mut m = Map::new();
    m.insert("gen_ai.operation.name".into(), json!("generate_content"));
    m.insert("gen_ai.provider.name".into(), json!("gcp.gemini"));
    m.insert("gen_ai.request.model".into(), json!(model));
    for (k, v) in extra {
        m.insert((*k).into(), json!(v));
    }
    // serde_json's map is ordered by key, as attrs_json's is.
    Json::Object(m).to_string()
}

/// The GenAI histograms against the calls: counts exactly, token sums exactly (from the
/// answers' `usageMetadata`), time sums from the stored rows (float rounding only).
fn check_metrics(
    metrics: &[ExportMetricsServiceRequest],
    calls: &[Call],
    conn: &rusqlite::Connection,
) {
    let got = latest_points(metrics);
    for (key, (count, _, buckets)) in &got {
        assert_eq!(count, buckets, "bucket counts add up to the count: {key:?}");
    }
    let mut want: BTreeMap<(String, String), (u64, f64)> = BTreeMap::new();
    let mut add = |name: &str, labels: String, value: f64| {
        let e = want.entry((name.to_owned(), labels)).or_default();
        e.0 += 1;
        e.1 += value;
    };
    for c in calls {
        let (root_start, ttft_ms, error_type): (i64, Option<f64>, Option<String>) = conn
            .query_row(
                "SELECT start_time_unix_nano, ttft_ms, error_type FROM traces WHERE trace_id = ?1",
                [&c.trace_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        let llm_end: i64 = conn
            .query_row(
                "SELECT end_time_unix_nano FROM spans WHERE trace_id = ?1
                 AND json_extract(attributes, '$.\"gateway.step\"') = 'llm_call'",
                [&c.trace_id],
                |r| r.get(0),
            )
            .unwrap();
        let err = error_type.clone().unwrap_or_default();
        let err_label: Vec<(&str, &str)> = if c.usage.is_some() {
            vec![]
        } else {
            assert!(!err.is_empty(), "a failed call has an error type");
            vec![("error.type", err.as_str())]
        };
        add(
            "gen_ai.client.operation.duration",
            labels(c.model, &err_label),
            (llm_end - root_start) as f64 / 1e9,
        );
        if c.stream {
            add(
                "gen_ai.client.operation.time_to_first_chunk",
                labels(c.model, &err_label),
                ttft_ms.expect("a streamed call has a TTFT") / 1e3,
            );
            // Recorded when the stream carried content after its first chunk, with the value
            // stored on the LLM span.
            let per_chunk: Option<f64> = conn
                .query_row(
                    "SELECT json_extract(attributes, '$.\"gen_ai.response.time_per_output_chunk\"')
                     FROM spans WHERE trace_id = ?1
                     AND json_extract(attributes, '$.\"gateway.step\"') = 'llm_call'",
                    [&c.trace_id],
                    |r| r.get(0),
                )
                .unwrap();
            if let Some(v) = per_chunk {
                add(
                    "gen_ai.client.operation.time_per_output_chunk",
                    labels(c.model, &err_label),
                    v,
                );
            }
        }
        if let Some((input, output)) = c.usage {
            for (kind, n) in [("input", input), ("output", output)] {
                add(
                    "gen_ai.client.token.usage",
                    labels(c.model, &[("gen_ai.token.type", kind)]),
                    n as f64,
                );
            }
        }
    }
    let got_keys: Vec<_> = got.keys().collect();
    let want_keys: Vec<_> = want.keys().collect();
    assert_eq!(got_keys, want_keys, "one point per metric and label set");
    for (key, (count, sum)) in &want {
        let (got_count, got_sum, _) = got[key];
        assert_eq!(got_count, *count, "{key:?}");
        if key.0 == "gen_ai.client.token.usage" {
            assert_eq!(got_sum, *sum, "{key:?}");
        } else {
            // Seconds from nanosecond instants: equal up to float rounding (and 1 ns per call).
            let tolerance = 1e-9 * sum.abs() + 2e-9 * *count as f64;
            assert!(
                (got_sum - sum).abs() <= tolerance,
                "{key:?}: {got_sum} != {sum}"
            );
        }
    }
}

#[test]
fn a_collector_that_is_down_stalls_nothing() {
    let fake = spawn_in_thread(FakeConfig::default());
    // Bound, never listening, held for the whole test: every export is refused.
    let dead_port = util::DeadPort::new();
    let dead = dead_port.url();
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!(
            "[export.otlp]\nendpoint = \"{dead}\"\ntimeout_ms = 500\nmetrics_interval_ms = 60000\n"
        ),
    );
    let ids: Vec<String> = (0..5)
        .map(|i| call(&gw, "gemini-2.5-flash", true, None, i).trace_id)
        .collect();
    let conn = gw.wait_traces(5);
    // The exporter's lost batch is counted on /metrics... (the API is not configured here, so
    // the log is the event to wait for); SQLite got everything.
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
