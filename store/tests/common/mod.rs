//! What the store's test files share: a minimal span row.

use gateway_store::SpanRow;

/// A span of `kind` with empty attributes and events.
pub fn span(trace: &str, id: &str, parent: Option<&str>, kind: &'static str) -> SpanRow {
    SpanRow {
        span_id: id.into(),
        trace_id: trace.into(),
        parent_span_id: parent.map(Into::into),
        name: "s".into(),
        kind,
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        status_code: "unset",
        status_message: None,
        attributes_json: "{}".into(),
        events_json: "[]".into(),
    }
}
