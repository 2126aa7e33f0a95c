//! A trace's `gateway.metric` span events, rebuilt from its `metric_snapshots` rows.
//!
//! The gateway stores a metric value once, as a `metric_snapshots` row naming the span that
//! carried it (`span_id`), not also as an event in that span's `events` column. The trace
//! detail shows it on its span as the event it was, so a span reads the same as over OTLP.
//! Spans written before that change still hold their events and get none added.

use gateway_store::query::{MetricSnapshot, SpanRecord};
use gateway_store::{METRIC_EVENT, METRIC_LLM_SPAN_ID};
use serde_json::{Map, Value, json};

/// Adds each snapshot row as a `gateway.metric` event to the span that carried it, in row order
/// (oldest first), unless that span already holds such events.
pub fn attach(spans: &mut [SpanRecord], snapshots: &[MetricSnapshot]) {
    for span in spans {
        let Some(events) = span.events.as_array_mut() else {
            continue;
        };
        if events.iter().any(|e| e["name"] == METRIC_EVENT) {
            continue;
        }
        for m in snapshots
            .iter()
            .filter(|m| m.span_id.as_deref() == Some(span.span_id.as_str()))
        {
            events.push(event(m));
        }
    }
}

/// The event a row was written from: its metric, value, breached flag, model, LLM span and
/// threshold, at the row's time.
fn event(m: &MetricSnapshot) -> Value {
    let mut a = Map::new();
    a.insert("metric".into(), json!(m.metric));
    a.insert("value".into(), json!(m.value));
    a.insert("breached".into(), json!(m.breached));
    if let Some(model) = &m.model {
        a.insert("model".into(), json!(model));
    }
    if let Some(llm) = &m.llm_span_id {
        a.insert(METRIC_LLM_SPAN_ID.into(), json!(llm));
    }
    if let Some(t) = m.threshold {
        a.insert("threshold".into(), json!(t));
    }
    json!({"name": METRIC_EVENT, "time_unix_nano": m.created_at_unix_nano, "attributes": a})
}
