//! `POST /v1/traces`: an OTLP/HTTP receiver for the application's own spans.
//!
//! An application instrumented with OpenTelemetry exports its spans here (protobuf or JSON,
//! optionally gzip), behind the same Host/Origin checks and bearer token as the rest of the
//! API. With the application's `traceparent` on its Gemini calls, the gateway's spans are
//! children of the application's, so one trace holds the agent's steps and its LLM calls.
//!
//! Spans go to the gateway's own span writer (one bounded queue, one writer thread, the same
//! `spans` table), registered by the gateway with [`install`]. The receiver never waits on
//! it: application spans may fill at most half of the queue ([`SpanSink::room`]); past that a
//! request is answered 503 (OTLP clients retry later) and its spans are counted as dropped, so
//! a flood never costs the proxy its own spans. The standalone `api` binary has no writer and
//! answers 503.
//!
//! Bounds (see [`convert`] for what is clipped per span): a body past
//! `[telemetry] receiver_max_body_bytes` (compressed or once decompressed) is 413, more than
//! `receiver_max_spans` spans in one request is 413, undecodable protobuf or JSON is 400, another
//! content type 415. Every outcome is counted on `/metrics` (`gateway_otlp_receiver_*`).

pub mod convert;
mod json;

use crate::error::AppError;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_sdk::trace::SpanData;
use prost::Message;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// Where received spans go: the gateway's span writer.
pub trait SpanSink: Send + Sync {
    /// How many more application spans may be queued now.
    fn room(&self) -> usize;
    /// Queues `spans`; returns how many could not be queued (dropped, and counted by the
    /// writer's own statistics too).
    fn submit(&self, spans: Vec<SpanData>) -> usize;
}

/// Bounds of the receiver (`[telemetry]` in `gateway.toml`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Accept spans at all.
    pub enabled: bool,
    /// Largest body, compressed or decompressed, in bytes.
    pub max_body_bytes: usize,
    /// Most spans per request.
    pub max_spans: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let t = gateway_config::TelemetryConfig::default();
        Self::from(&t)
    }
}

impl From<&gateway_config::TelemetryConfig> for Limits {
    fn from(t: &gateway_config::TelemetryConfig) -> Self {
        Self {
            enabled: t.receiver,
            max_body_bytes: t.receiver_max_body_bytes.max(1),
            max_spans: t.receiver_max_spans.max(1),
        }
    }
}

fn sinks() -> &'static RwLock<HashMap<PathBuf, Arc<dyn SpanSink>>> {
    static SINKS: OnceLock<RwLock<HashMap<PathBuf, Arc<dyn SpanSink>>>> = OnceLock::new();
    SINKS.get_or_init(Default::default)
}

/// Registers the span writer of the database at `db_path` (the gateway does, at startup).
pub fn install(db_path: &Path, sink: Arc<dyn SpanSink>) {
    if let Ok(mut m) = sinks().write() {
        m.insert(db_path.to_path_buf(), sink);
    }
}

fn sink(db_path: &Path) -> Option<Arc<dyn SpanSink>> {
    sinks().read().ok()?.get(db_path).cloned()
}

/// Counters of the receiver, rendered on `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    spans_accepted: AtomicU64,
    spans_rejected: AtomicU64,
    spans_dropped: AtomicU64,
    clipped: AtomicU64,
    cycles_broken: AtomicU64,
    refused: [AtomicU64; 6],
}

const REFUSALS: [&str; 6] = [
    "too_large",
    "too_many_spans",
    "bad_encoding",
    "unsupported_media_type",
    "queue_full",
    "no_writer",
];

/// The process's receiver counters.
pub fn counters() -> &'static Counters {
    static C: OnceLock<Counters> = OnceLock::new();
    C.get_or_init(Counters::default)
}

impl Counters {
    fn refuse(&self, reason: usize) {
        self.refused[reason].fetch_add(1, Ordering::Relaxed);
    }

    /// Spans accepted into the writer's queue so far.
    pub fn accepted(&self) -> u64 {
        self.spans_accepted.load(Ordering::Relaxed)
    }

    /// Appends the Prometheus text.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}_total {v}"
            );
        };
        counter(
            "gateway_otlp_receiver_requests",
            "POST /v1/traces requests.",
            get(&self.requests),
        );
        counter(
            "gateway_otlp_receiver_spans_accepted",
            "Application spans queued for storage.",
            get(&self.spans_accepted),
        );
        counter(
            "gateway_otlp_receiver_spans_rejected",
            "Application spans refused (bad ids, timestamps before 2000 or more than a day ahead).",
            get(&self.spans_rejected),
        );
        counter(
            "gateway_otlp_receiver_spans_dropped",
            "Application spans dropped: the writer's queue had no room for them (503) or the request was refused.",
            get(&self.spans_dropped),
        );
        counter(
            "gateway_otlp_receiver_clipped",
            "Names, values, attributes or events cut or left out of application spans.",
            get(&self.clipped),
        );
        counter(
            "gateway_otlp_receiver_parent_cycles_broken",
            "Parent links removed to break a cycle.",
            get(&self.cycles_broken),
        );
        let _ = writeln!(
            out,
            "# HELP gateway_otlp_receiver_refused Requests refused, by reason.\n\
             # TYPE gateway_otlp_receiver_refused counter"
        );
        for (i, r) in REFUSALS.iter().enumerate() {
            let _ = writeln!(
                out,
                "gateway_otlp_receiver_refused_total{{reason=\"{r}\"}} {}",
                get(&self.refused[i])
            );
        }
    }
}

fn error(status: StatusCode, message: String) -> Response {
    let body = crate::error::ErrorBody {
        error: crate::error::ErrorDetail {
            code: status.as_u16(),
            message,
        },
    };
    (status, axum::Json(body)).into_response()
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

fn encoding(headers: &HeaderMap) -> Option<Encoding> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-protobuf");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

/// Reads at most `max` bytes of the body, gunzipped when it says so.
async fn read_body(body: Body, headers: &HeaderMap, max: usize) -> Result<Vec<u8>, Response> {
    let too_large = |what: &str| {
        counters().refuse(0);
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the {what} body is larger than {max} bytes ([telemetry] receiver_max_body_bytes); \
                 export smaller batches"
            ),
        )
    };
    let raw: Bytes = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| too_large("request"))?;
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .map(HeaderValue::to_str)
    {
        None => false,
        Some(Ok(e)) if e.trim().eq_ignore_ascii_case("gzip") => true,
        Some(Ok(e)) if e.trim().eq_ignore_ascii_case("identity") => false,
        Some(other) => {
            counters().refuse(3);
            return Err(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Encoding {:?} is not supported; use gzip or none",
                    other.unwrap_or("?")
                ),
            ));
        }
    };
    if !gzip {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::new();
    let mut dec = flate2::read::GzDecoder::new(&raw[..]).take(max as u64 + 1);
    if let Err(e) = dec.read_to_end(&mut out) {
        counters().refuse(2);
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("invalid gzip body: {e}"),
        ));
    }
    if out.len() > max {
        return Err(too_large("decompressed"));
    }
    Ok(out)
}

/// `POST /v1/traces`.
pub(crate) async fn receive(State(state): State<AppState>, req: Request) -> Response {
    let c = counters();
    c.requests.fetch_add(1, Ordering::Relaxed);
    let limits = state.inner.otlp;
    if !limits.enabled {
        return AppError::NotFound(
            "the OTLP receiver is off ([telemetry] receiver = false)".into(),
        )
        .into_response();
    }
    let (parts, body) = req.into_parts();
    let Some(enc) = encoding(&parts.headers) else {
        c.refuse(3);
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/x-protobuf or application/json".into(),
        );
    };
    let bytes = match read_body(body, &parts.headers, limits.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let decoded = match enc {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(&bytes[..])
            .map_err(|e| format!("invalid OTLP protobuf: {e}")),
        Encoding::Json => json::decode(&bytes),
    };
    let request = match decoded {
        Ok(r) => r,
        Err(message) => {
            c.refuse(2);
            return error(StatusCode::BAD_REQUEST, message);
        }
    };
    let n = convert::span_count(&request);
    if n > limits.max_spans {
        c.refuse(1);
        c.spans_dropped.fetch_add(n as u64, Ordering::Relaxed);
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{n} spans in one request; at most {} are accepted ([telemetry] \
                 receiver_max_spans); export smaller batches",
                limits.max_spans
            ),
        );
    }
    let Some(sink) = sink(state.db_path()) else {
        c.refuse(5);
        c.spans_dropped.fetch_add(n as u64, Ordering::Relaxed);
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no span writer in this process: the standalone API cannot store spans; send them \
             to the API port of the gateway"
                .into(),
        );
    };
    let converted = match tokio::task::spawn_blocking(move || {
        convert::convert(request, std::time::SystemTime::now())
    })
    .await
    {
        Ok(c) => c,
        Err(e) => return AppError::Internal(e.to_string()).into_response(),
    };
    c.clipped.fetch_add(converted.clipped, Ordering::Relaxed);
    c.cycles_broken
        .fetch_add(converted.cycles_broken, Ordering::Relaxed);
    c.spans_rejected
        .fetch_add(converted.rejected, Ordering::Relaxed);
    let count = converted.spans.len();
    if count > sink.room() {
        c.refuse(4);
        c.spans_dropped.fetch_add(count as u64, Ordering::Relaxed);
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the span writer is busy: {count} spans dropped; retry later"),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    let lost = sink.submit(converted.spans);
    c.spans_dropped.fetch_add(lost as u64, Ordering::Relaxed);
    c.spans_accepted
        .fetch_add((count - lost) as u64, Ordering::Relaxed);
    let rejected = converted.rejected + lost as u64;
    let partial = (rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: rejected as i64,
        error_message: match (converted.first_rejection, lost) {
            (Some(reason), _) => format!("{} spans rejected; first: {reason}", converted.rejected),
            (None, lost) => format!("{lost} spans dropped: the span writer's queue was full"),
        },
    });
    let resp = ExportTraceServiceResponse {
        partial_success: partial,
    };
    match enc {
        Encoding::Protobuf => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            resp.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => axum::Json(match resp.partial_success {
            Some(p) => serde_json::json!({"partialSuccess": {
                "rejectedSpans": p.rejected_spans.to_string(),
                "errorMessage": p.error_message,
            }}),
            None => serde_json::json!({}),
        })
        .into_response(),
    }
}
