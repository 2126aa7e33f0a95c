//! The plugin trait and what a plugin sees and produces.

use crate::{RequestInfo, Usage};
use std::time::SystemTime;

/// Which span of a request an attribute goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The root SERVER span (its attributes feed the `traces` row).
    Root,
    /// The request-parsing step.
    PromptConstruction,
    /// The upstream call (CLIENT span).
    LlmCall,
    /// The usage/finish step.
    PostProcessing,
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// Boolean.
    Bool(bool),
    /// Integer.
    I64(i64),
    /// Float.
    F64(f64),
    /// String.
    Str(String),
    /// Array of strings.
    StrArray(Vec<String>),
}

impl From<bool> for AttrValue {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        Self::I64(v)
    }
}
impl From<f64> for AttrValue {
    fn from(v: f64) -> Self {
        Self::F64(v)
    }
}
impl From<&str> for AttrValue {
    fn from(v: &str) -> Self {
        Self::Str(v.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}

/// Attribution headers of the request (never the API key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    /// `x-gateway-user-id`.
    pub user_id: Option<String>,
    /// `x-gateway-session-id`.
    pub session_id: Option<String>,
    /// `x-gateway-property-<name>` pairs.
    pub properties: Vec<(String, String)>,
}

/// The request as a plugin sees it.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// Lowercase hex trace id.
    pub trace_id: &'a str,
    /// The parsed request.
    pub info: &'a RequestInfo,
    /// Attribution headers.
    pub attribution: &'a Attribution,
    /// The raw request body as received (up to the parse cap; empty for uploads).
    pub body: &'a [u8],
}

impl RequestView<'_> {
    /// All `text` parts of the prompt (`contents`, `systemInstruction`, OpenAI `messages`),
    /// parsed on demand.
    pub fn prompt_texts(&self) -> Vec<String> {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(self.body) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        collect_texts(&v, &mut out);
        out
    }
}

fn collect_texts(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map {
                match (k.as_str(), val) {
                    ("text" | "content", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_texts(val, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_texts(i, out)),
        _ => {}
    }
}

/// Timings of a finished call, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// From the request header to the end of the response.
    pub total_ms: f64,
    /// Time to first response chunk (from the upstream request).
    pub ttft_ms: Option<f64>,
    /// From the upstream request to the end of the response body.
    pub upstream_ms: Option<f64>,
}

/// A finished call as a plugin sees it (after the client has its bytes).
#[derive(Debug, Clone, Copy)]
pub struct CompletedCall<'a> {
    /// The request.
    pub request: RequestView<'a>,
    /// Status sent to the client.
    pub http_status: Option<u16>,
    /// `ok`, `error` or `cancelled`.
    pub status: &'a str,
    /// Final usage, if the response reported it.
    pub usage: Option<&'a Usage>,
    /// When `usage` sums several separately billed calls (the responses of a batch job), the
    /// usage of each, in order; empty when `usage` is one call's. Price each part on its own:
    /// the long-context rates and a per-prompt grounding fee apply per call, not to the sum.
    pub usage_parts: &'a [Usage],
    /// Timings.
    pub timings: Timings,
    /// Finish reasons.
    pub finish_reasons: &'a [String],
    /// The model that served the call (`modelVersion`, or the Interaction's `model`). Price by
    /// this one: retired and `-latest` names are routed server-side.
    pub response_model: Option<&'a str>,
    /// The service tier that served the call (header `x-gemini-service-tier`,
    /// `usageMetadata.serviceTier` or the Interaction's `service_tier`), lowercase.
    pub service_tier: Option<&'a str>,
    /// Whether this call is billed, as its Gemini surface says.
    pub metering: Metering,
    /// When the request started (prices carry dates).
    pub started_at: SystemTime,
}

/// How a finished call is billed, decided by its Gemini surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Metering {
    /// A billed model call: its usage is priced.
    #[default]
    Metered,
    /// Not billed (countTokens, files, listings, cancel, a repeated poll of a finished
    /// interaction).
    Free,
    /// Billed later: a background interaction or a batch job, metered when its result is
    /// fetched.
    Deferred,
    /// A path nobody recognises: priced if it reported usage and a model, else flagged.
    Unknown,
}

impl Metering {
    /// Lowercase name, as stored in `gateway.metering`.
    pub fn as_str(self) -> &'static str {
        match self {
            Metering::Metered => "metered",
            Metering::Free => "free",
            Metering::Deferred => "deferred",
            Metering::Unknown => "unknown",
        }
    }
}

/// A child span created by a plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpan {
    /// Span name.
    pub name: String,
    /// Start time.
    pub start: SystemTime,
    /// End time.
    pub end: SystemTime,
    /// Attributes.
    pub attributes: Vec<(String, AttrValue)>,
}

/// A named metric value; it becomes a `metric_snapshots` row.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Metric name, e.g. `pii_matches`.
    pub name: String,
    /// Value.
    pub value: f64,
    /// Breached when `value > threshold`; `None` never breaches.
    pub threshold: Option<f64>,
}

/// What plugins produce for one request. Plugins run in order and may read what earlier ones wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginOutput {
    /// Attributes per step.
    pub attributes: Vec<(Step, String, AttrValue)>,
    /// Extra child spans (children of the root).
    pub spans: Vec<PluginSpan>,
    /// Metric values.
    pub metrics: Vec<Metric>,
    /// Errors reported by plugins (recorded as `gateway.plugin.error`).
    pub errors: Vec<String>,
}

impl PluginOutput {
    /// Adds an attribute to a step span.
    pub fn attr(&mut self, step: Step, key: impl Into<String>, value: impl Into<AttrValue>) {
        self.attributes.push((step, key.into(), value.into()));
    }

    /// The latest value written for `key` on `step`, by any plugin so far.
    pub fn get(&self, step: Step, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .rev()
            .find(|(s, k, _)| *s == step && k == key)
            .map(|(_, _, v)| v)
    }

    /// Adds a child span with real start and end times.
    pub fn span(&mut self, span: PluginSpan) {
        self.spans.push(span);
    }

    /// Reports an error: the request goes on, and the span records `gateway.plugin.error`.
    pub fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    /// Emits a metric value with an optional threshold.
    pub fn metric(&mut self, name: impl Into<String>, value: f64, threshold: Option<f64>) {
        self.metrics.push(Metric {
            name: name.into(),
            value,
            threshold,
        });
    }
}

/// A span plugin. Built-in plugins and plugins loaded from shared libraries implement it alike.
///
/// Hooks must not block: `on_request` runs on the proxy's thread before the upstream call;
/// `on_complete` runs after the client has its last byte. A panic is caught by the host and
/// recorded on the span as `gateway.plugin.error`.
pub trait SpanPlugin: Send + Sync {
    /// A short, stable name (used in logs, metrics and errors).
    fn name(&self) -> &str;

    /// Called once the request body is parsed, before the upstream answers. Keep it cheap.
    fn on_request(&self, _request: &RequestView<'_>, _out: &mut PluginOutput) {}

    /// Called when the call is finished and the client has its bytes.
    fn on_complete(&self, _call: &CompletedCall<'_>, _out: &mut PluginOutput) {}
}

/// Runs a plugin's hooks inside `catch_unwind` on the plugin's side of the boundary.
///
/// A library has its own copy of the standard library, so a panic raised in it cannot be caught
/// by the host's `catch_unwind` (it would abort the process). [`export_plugin!`](crate::export_plugin)
/// wraps every exported plugin in this guard, which turns a panic into an entry of
/// [`PluginOutput::errors`].
#[doc(hidden)]
pub struct Guarded<P>(pub P);

/// The message of a panic payload (`&str` or `String`), for error reports.
#[doc(hidden)]
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}

impl<P: SpanPlugin> SpanPlugin for Guarded<P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn on_request(&self, request: &RequestView<'_>, out: &mut PluginOutput) {
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.0.on_request(request, out)
        }));
        if let Err(p) = res {
            out.errors
                .push(format!("panicked: {}", panic_message(p.as_ref())));
        }
    }

    fn on_complete(&self, call: &CompletedCall<'_>, out: &mut PluginOutput) {
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.0.on_complete(call, out)
        }));
        if let Err(p) = res {
            out.errors
                .push(format!("panicked: {}", panic_message(p.as_ref())));
        }
    }
}
