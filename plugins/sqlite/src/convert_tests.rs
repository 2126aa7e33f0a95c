//! Span rows to `metric_snapshots` rows: the carrying span, the LLM call and the request's root
//! span come out of a `post_processing` span as the gateway builds it, and what a lost batch
//! carried (traces, metric rows, breached rows) is counted from the same spans.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::stats::Loss;
use opentelemetry::InstrumentationScope;
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
use std::time::Duration;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const ROOT: &str = "b7ad6b7169203331";
const POST: &str = "00f067aa0ba902b7";
const LLM: &str = "53995c3f42cd8ad8";

fn span(
    id: &str,
    parent: Option<&str>,
    kind: SpanKind,
    attrs: Vec<KeyValue>,
    events: Vec<Vec<KeyValue>>,
) -> SpanData {
    let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut span_events = SpanEvents::default();
    for (i, attributes) in events.into_iter().enumerate() {
        span_events.events.push(opentelemetry::trace::Event::new(
            METRIC_EVENT,
            at + Duration::from_millis(i as u64),
            attributes,
            0,
        ));
    }
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_hex(TRACE).unwrap(),
            SpanId::from_hex(id).unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: parent.map_or(SpanId::INVALID, |p| SpanId::from_hex(p).unwrap()),
        parent_span_is_remote: false,
        span_kind: kind,
        name: "post_processing".into(),
        start_time: at,
        end_time: at + Duration::from_millis(5),
        attributes: attrs,
        dropped_attributes_count: 0,
        events: span_events,
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("test").build(),
    }
}

fn metric(name: &str, value: f64, threshold: Option<f64>, llm: &str) -> Vec<KeyValue> {
    let mut a = vec![
        KeyValue::new("metric", name.to_owned()),
        KeyValue::new("value", value),
        KeyValue::new("model", "gemini-2.5-flash"),
        KeyValue::new(METRIC_LLM_SPAN_ID, llm.to_owned()),
    ];
    if let Some(t) = threshold {
        a.push(KeyValue::new("threshold", t));
    }
    a
}

#[test]
fn metric_rows_carry_the_span_the_llm_call_and_the_request_root() {
    let post = span(
        POST,
        Some(ROOT),
        SpanKind::Internal,
        vec![],
        vec![
            metric("latency_ms", 120.0, Some(100.0), LLM),
            metric("cost_usd", 0.01, None, LLM),
        ],
    );
    let mut rows = Vec::new();
    metric_rows(&post, &mut rows);
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.trace_id, TRACE);
        assert_eq!(r.span_id.as_deref(), Some(POST), "the carrying span");
        assert_eq!(r.llm_span_id.as_deref(), Some(LLM), "the LLM call");
        assert_eq!(
            r.request_span_id.as_deref(),
            Some(ROOT),
            "the request's root"
        );
        assert_eq!(r.model.as_deref(), Some("gemini-2.5-flash"));
    }
    assert_eq!(
        (rows[0].metric.as_str(), rows[0].breached),
        ("latency_ms", true)
    );
    assert_eq!(rows[0].threshold, Some(100.0));
    assert_eq!(
        (rows[1].metric.as_str(), rows[1].breached),
        ("cost_usd", false)
    );
    assert_eq!(rows[1].threshold, None, "no threshold is NULL, never 0");
    assert_eq!(
        rows[1].created_at_unix_nano - rows[0].created_at_unix_nano,
        1_000_000,
        "each row keeps its event's time"
    );
}

#[test]
fn a_malformed_llm_span_id_or_a_parentless_span_gives_null_ids() {
    for bad in [
        "",
        "0000000000000000",
        "53995C3F42CD8AD8",
        "53995c3f42cd8ad",
        "zz995c3f42cd8ad8",
    ] {
        let post = span(
            POST,
            None,
            SpanKind::Internal,
            vec![],
            vec![metric("latency_ms", 1.0, Some(5.0), bad)],
        );
        let mut rows = Vec::new();
        metric_rows(&post, &mut rows);
        assert_eq!(rows.len(), 1, "{bad:?}");
        assert_eq!(rows[0].llm_span_id, None, "{bad:?} is not a span id");
        assert_eq!(rows[0].request_span_id, None, "no parent, no request root");
        assert_eq!(rows[0].span_id.as_deref(), Some(POST));
    }
    // An event without a metric name or a value is no row.
    let post = span(
        POST,
        Some(ROOT),
        SpanKind::Internal,
        vec![],
        vec![
            vec![KeyValue::new("value", 3.0)],
            vec![KeyValue::new("metric", "x")],
        ],
    );
    let mut rows = Vec::new();
    metric_rows(&post, &mut rows);
    assert!(rows.is_empty());
}

#[test]
fn a_lost_batch_counts_its_traces_metric_rows_and_breaches() {
    let root = span(
        ROOT,
        None,
        SpanKind::Server,
        vec![KeyValue::new(sc::GATEWAY_STATUS, "ok")],
        vec![],
    );
    // A SERVER span without gateway.status is not a request summary.
    let other_server = span(LLM, None, SpanKind::Server, vec![], vec![]);
    let post = span(
        POST,
        Some(ROOT),
        SpanKind::Internal,
        vec![],
        vec![
            metric("latency_ms", 120.0, Some(100.0), LLM),
            metric("ttft_ms", 50.0, Some(100.0), LLM),
            metric("cost_usd", 0.5, None, LLM),
            vec![KeyValue::new("metric", "no value")],
        ],
    );
    let batch = [root, other_server, post];
    assert_eq!(
        Loss::of(&batch),
        Loss {
            traces: 1,
            metric_rows: 3,
            breached_rows: 1
        }
    );
    let mut rows = Vec::new();
    for s in &batch {
        metric_rows(s, &mut rows);
    }
    assert_eq!(
        rows.len(),
        3,
        "the count matches the rows the batch would write"
    );
    assert_eq!(batch.iter().filter_map(trace_row).count(), 1);
}

#[test]
fn a_metric_event_that_is_a_row_is_stored_as_the_row_only() {
    let post = span(
        POST,
        Some(ROOT),
        SpanKind::Internal,
        vec![],
        vec![
            metric("latency_ms", 120.0, Some(100.0), LLM),
            // No value: not a row, so it stays an event.
            vec![KeyValue::new("metric", "cost_usd")],
        ],
    );
    let mut rows = Vec::new();
    metric_rows(&post, &mut rows);
    assert_eq!(rows.len(), 1);
    let events: serde_json::Value = serde_json::from_str(&span_row(&post).events_json).unwrap();
    assert_eq!(
        events,
        serde_json::json!([{"name": METRIC_EVENT, "time_unix_nano": rows[0].created_at_unix_nano + 1_000_000,
            "attributes": {"metric": "cost_usd"}}])
    );
}
