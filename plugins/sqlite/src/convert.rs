//! Conversion of `SpanData` into store rows.

use gateway_plugin_sdk::semconv as sc;
use gateway_store::{MetricRow, SpanRow, TraceRow};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Map, Value as Json};
use std::time::{SystemTime, UNIX_EPOCH};

fn unix_nano(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn kind(k: &SpanKind) -> &'static str {
    match k {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::Bool(b) => Json::Bool(*b),
        Value::I64(i) => Json::from(*i),
        Value::F64(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.as_str().to_owned()),
        Value::Array(a) => match a {
            Array::Bool(v) => v.iter().map(|b| Json::Bool(*b)).collect(),
            Array::I64(v) => v.iter().map(|i| Json::from(*i)).collect(),
            Array::F64(v) => v
                .iter()
                .map(|f| serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number))
                .collect(),
            Array::String(v) => v.iter().map(|s| Json::String(s.to_string())).collect(),
            _ => Json::Null,
        },
        _ => Json::String(v.to_string()),
    }
}

/// Serialises attributes as one JSON object (later keys win).
pub fn attributes_json(attrs: &[KeyValue]) -> String {
    let map: Map<String, Json> = attrs
        .iter()
        .map(|kv| (kv.key.as_str().to_owned(), value_json(&kv.value)))
        .collect();
    Json::Object(map).to_string()
}

/// Converts one span.
pub fn span_row(span: &SpanData) -> SpanRow {
    let (status_code, status_message) = match &span.status {
        Status::Unset => ("unset", None),
        Status::Ok => ("ok", None),
        Status::Error { description } => ("error", Some(description.to_string())),
    };
    let events: Vec<Json> = span
        .events
        .iter()
        .map(|e| {
            serde_json::json!({
                "name": e.name,
                "time_unix_nano": unix_nano(e.timestamp),
                "attributes": serde_json::from_str::<Json>(&attributes_json(&e.attributes)).unwrap_or(Json::Null),
            })
        })
        .collect();
    let parent = span.parent_span_id;
    SpanRow {
        span_id: span.span_context.span_id().to_string(),
        trace_id: span.span_context.trace_id().to_string(),
        parent_span_id: (parent != opentelemetry::trace::SpanId::INVALID)
            .then(|| parent.to_string()),
        name: span.name.to_string(),
        kind: kind(&span.span_kind),
        start_time_unix_nano: unix_nano(span.start_time),
        end_time_unix_nano: unix_nano(span.end_time),
        status_code,
        status_message,
        attributes_json: attributes_json(&span.attributes),
        events_json: Json::Array(events).to_string(),
    }
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .rev()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match find(attrs, key)? {
        Value::I64(i) => Some(*i),
        Value::F64(f) => Some(*f as i64),
        _ => None,
    }
}

fn float(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match find(attrs, key)? {
        Value::F64(f) => Some(*f),
        Value::I64(i) => Some(*i as f64),
        _ => None,
    }
}

fn string(attrs: &[KeyValue], key: &str) -> Option<String> {
    match find(attrs, key)? {
        Value::String(s) => Some(s.as_str().to_owned()),
        other => Some(other.to_string()),
    }
}

fn boolean(attrs: &[KeyValue], key: &str) -> bool {
    matches!(find(attrs, key), Some(Value::Bool(true)))
}

/// The trace summary carried by a gateway root span (a SERVER span with `gateway.status`), if
/// this is one.
pub fn trace_row(span: &SpanData) -> Option<TraceRow> {
    if span.span_kind != SpanKind::Server {
        return None;
    }
    let a = &span.attributes;
    let status = string(a, sc::GATEWAY_STATUS)?;
    Some(TraceRow {
        trace_id: span.span_context.trace_id().to_string(),
        start_time_unix_nano: unix_nano(span.start_time),
        end_time_unix_nano: unix_nano(span.end_time),
        model: string(a, sc::GEN_AI_REQUEST_MODEL),
        operation: string(a, sc::GEN_AI_OPERATION_NAME),
        stream: boolean(a, sc::GEN_AI_REQUEST_STREAM),
        http_status: int(a, sc::HTTP_RESPONSE_STATUS_CODE),
        status,
        error_type: string(a, sc::ERROR_TYPE),
        input_tokens: int(a, sc::GEN_AI_USAGE_INPUT_TOKENS),
        output_tokens: int(a, sc::GEN_AI_USAGE_OUTPUT_TOKENS),
        cached_tokens: int(a, sc::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        reasoning_tokens: int(a, sc::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
        ttft_ms: float(a, sc::GATEWAY_TTFT_MS),
        cost_usd: float(a, sc::GATEWAY_COST_USD),
        unpriced: boolean(a, sc::GATEWAY_COST_UNPRICED),
        user_id: string(a, sc::USER_ID),
        session_id: string(a, sc::SESSION_ID),
    })
}

/// Name of the span event that carries a metric snapshot.
pub const METRIC_EVENT: &str = "gateway.metric";

/// The `metric_snapshots` rows carried by a span's `gateway.metric` events.
pub fn metric_rows(span: &SpanData, out: &mut Vec<MetricRow>) {
    for e in span.events.iter().filter(|e| e.name == METRIC_EVENT) {
        let a = &e.attributes;
        let (Some(metric), Some(value)) = (string(a, "metric"), float(a, "value")) else {
            continue;
        };
        let threshold = float(a, "threshold");
        out.push(MetricRow {
            trace_id: span.span_context.trace_id().to_string(),
            metric,
            value,
            threshold,
            breached: threshold.is_some_and(|t| value > t),
            model: string(a, "model"),
            created_at_unix_nano: unix_nano(e.timestamp),
        });
    }
}
