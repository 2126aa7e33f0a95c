//! Plain row types, the shape in which spans and trace summaries reach the store.

/// One span, ready to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRow {
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// Parent span id, `None` for a root.
    pub parent_span_id: Option<String>,
    /// Span name.
    pub name: String,
    /// `server`, `client`, `internal`, `producer` or `consumer`.
    pub kind: &'static str,
    /// Start, nanoseconds since the Unix epoch.
    pub start_time_unix_nano: i64,
    /// End, nanoseconds since the Unix epoch.
    pub end_time_unix_nano: i64,
    /// `unset`, `ok` or `error`.
    pub status_code: &'static str,
    /// Error description, if any.
    pub status_message: Option<String>,
    /// JSON object of attributes.
    pub attributes_json: String,
    /// JSON array of events (`{name, time_unix_nano, attributes}`).
    pub events_json: String,
}

impl SpanRow {
    /// A span of `kind` named `s`, from 1 ns to 2 ns, status unset, with no attributes or
    /// events: the least a row holds. Tests and fixtures start from it and set what they need.
    #[doc(hidden)]
    pub fn bare(trace_id: &str, span_id: &str, parent: Option<&str>, kind: &'static str) -> Self {
        Self {
            span_id: span_id.into(),
            trace_id: trace_id.into(),
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
}

/// The summary of one gateway request, folded into its trace row.
///
/// When several gateway requests share a trace (the client sent a `traceparent`), their
/// summaries are merged: times widen, tokens and cost add up, and `request_count` counts them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceRow {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// Start, nanoseconds since the Unix epoch.
    pub start_time_unix_nano: i64,
    /// End, nanoseconds since the Unix epoch.
    pub end_time_unix_nano: i64,
    /// Requested model.
    pub model: Option<String>,
    /// `gen_ai.operation.name`.
    pub operation: Option<String>,
    /// Whether the response was streamed.
    pub stream: bool,
    /// Status sent to the client.
    pub http_status: Option<i64>,
    /// `ok`, `error` or `cancelled`.
    pub status: String,
    /// `error.type`, if any.
    pub error_type: Option<String>,
    /// Input tokens (prompt incl. cached and tool-use prompt).
    pub input_tokens: Option<i64>,
    /// Output tokens (candidates incl. thinking).
    pub output_tokens: Option<i64>,
    /// Cached prompt tokens.
    pub cached_tokens: Option<i64>,
    /// Thinking tokens.
    pub reasoning_tokens: Option<i64>,
    /// Time to first response chunk in ms.
    pub ttft_ms: Option<f64>,
    /// Cost in USD; `None` when unpriced or not computed.
    pub cost_usd: Option<f64>,
    /// The model had no price.
    pub unpriced: bool,
    /// `x-gateway-user-id`.
    pub user_id: Option<String>,
    /// `x-gateway-session-id`.
    pub session_id: Option<String>,
}

impl TraceRow {
    /// Duration in milliseconds.
    pub fn duration_ms(&self) -> f64 {
        (self.end_time_unix_nano - self.start_time_unix_nano).max(0) as f64 / 1e6
    }
}

/// Name of the span event a [`MetricRow`] is written from (and that the API shows it as).
pub const METRIC_EVENT: &str = "gateway.metric";

/// Attribute of a [`METRIC_EVENT`]: the span id (hex) of the LLM call the value measures.
pub const METRIC_LLM_SPAN_ID: &str = "llm_span_id";

/// One `metric_snapshots` row: a metric value of a trace against its threshold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricRow {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// Metric name (`latency_ms`, `cost_usd`, `ttft_ms`, or a plugin's).
    pub metric: String,
    /// Value.
    pub value: f64,
    /// Threshold; `None` never breaches.
    pub threshold: Option<f64>,
    /// `value > threshold`.
    pub breached: bool,
    /// Requested model.
    pub model: Option<String>,
    /// When the value was taken, nanoseconds since the Unix epoch.
    pub created_at_unix_nano: i64,
    /// The span that carried the value (16 lowercase hex digits): the gateway's
    /// `post_processing` span, whose sibling with `gateway.step = "llm_call"` is the LLM span.
    pub span_id: Option<String>,
    /// The LLM call the value measures (16 lowercase hex digits), when the request made one.
    pub llm_span_id: Option<String>,
    /// The request's own root (SERVER) span, the parent of `span_id`. Not stored: the writer
    /// derives `request_index`, the request's position in its trace, from it.
    pub request_span_id: Option<String>,
}
