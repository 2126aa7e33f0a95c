//! The per-request context: everything observed about one request, filled phase by phase.

use crate::errors::ProxyFailure;
use crate::observe::Observer;
use crate::proxy::Runtime;
use crate::request::CapturedPrompt;
use crate::route::Route;
use bytes::Bytes;
use gateway_plugin_host::PluginError;
pub use gateway_plugin_sdk::Attribution;
use gateway_plugin_sdk::{PluginOutput, RequestInfo};
use opentelemetry::Context;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Per-request state. Created when the request header has been read.
pub struct RequestCtx {
    /// The configuration this request runs under (taken at its start).
    pub rt: Arc<Runtime>,
    /// Monotonic start.
    pub start: Instant,
    /// Wall-clock start, for span timestamps.
    pub start_wall: SystemTime,
    /// The classified path (set in `request_filter`).
    pub route: Option<Route>,
    /// Context holding the root SERVER span.
    pub root: Context,
    /// Lowercase hex trace id.
    pub trace_id: String,
    /// HTTP method.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Query with secrets redacted.
    pub query_redacted: Option<String>,
    /// The authority clients reached the gateway at (a checked `host[:port]`), used to rewrite
    /// upload URLs; see `headers::client_authority`.
    pub inbound_host: Option<String>,
    /// Attribution headers.
    pub attribution: Attribution,
    /// `x-gateway-property-*` headers past the per-request cap (counted, not kept).
    pub properties_dropped: u32,
    /// Request body chunks kept for parsing (shared `Bytes`, no copy).
    pub body_chunks: Vec<Bytes>,
    /// Request body bytes seen.
    pub body_len: usize,
    /// More than `max_parse_bytes` arrived: the body is not inspected.
    pub body_overflow: bool,
    /// Why the body is not inspected, when the global budget (not this request) was the cause.
    pub body_refused: Option<String>,
    /// This request's share of the global body budget.
    pub body_hold: Option<crate::body_budget::BodyHold>,
    /// When the request body ended.
    pub request_done: Option<Instant>,
    /// The parsed request.
    pub info: Option<RequestInfo>,
    /// Prompt text, when capture is on.
    pub prompt: CapturedPrompt,
    /// When the upstream request was sent.
    pub upstream_start: Option<Instant>,
    /// When the upstream response header arrived.
    pub response_header: Option<Instant>,
    /// When the first response body bytes arrived.
    pub first_chunk: Option<Instant>,
    /// When the response body ended.
    pub response_done: Option<Instant>,
    /// Status from the upstream.
    pub upstream_status: Option<u16>,
    /// The tier that served the call, from `x-gemini-service-tier` (lowercase).
    pub response_tier: Option<String>,
    /// Status the client got.
    pub client_status: Option<u16>,
    /// Observes the response body.
    pub observer: Option<Observer>,
    /// Why proxying failed, if it did.
    pub failure: Option<ProxyFailure>,
    /// The error message of that failure.
    pub failure_message: Option<String>,
    /// The `x-goog-upload-url` was rewritten to the gateway.
    pub upload_url_rewritten: bool,
    /// The request body as kept for parsing and plugins (empty when over the cap).
    pub body: Bytes,
    /// What plugins produced so far.
    pub plugin_out: PluginOutput,
    /// Hooks that panicked, with the step they ran for.
    pub plugin_errors: Vec<PluginError>,
    /// The request-side hooks have run.
    pub request_hooks_done: bool,
    /// When the logging phase handed the request to the completion thread.
    pub handoff: Option<Instant>,
    /// The completion queue was full: finish here without the plugin libraries' hooks.
    pub skip_library_hooks: bool,
    /// Library hooks skipped for this request.
    pub hooks_skipped: usize,
    /// Counts this request as in flight until it is dropped (after its spans are built).
    pub in_flight: Option<InFlight>,
    /// An upgraded Live API session, read frame by frame (`surfaces::live`).
    pub live: Option<Box<crate::surfaces::LiveSession>>,
    /// Set once the root span is open, taken when the request is handed to completion: a
    /// context dropped while it is still set was never finished (see [`Drop`] below).
    pub unfinished: Option<crate::proxy::GatewayProxy>,
    /// The proxy stopped under this request (SIGINT, or the grace period ran out) before it
    /// ended: it is stored as `cancelled`, `error.type` `shutdown`.
    pub interrupted: bool,
}

/// Requests finished as interrupted because the proxy stopped under them (logged at exit).
pub static INTERRUPTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// pingora drops a request's future without its logging phase when its runtime stops (SIGINT,
/// or SIGTERM once the grace period is over). Such a request is finished here, as interrupted,
/// so that it is stored like any other; shutdown waits for these drops (the request counts as
/// in flight until its spans are built) before it flushes the span pipeline.
impl Drop for RequestCtx {
    fn drop(&mut self) {
        let Some(proxy) = self.unfinished.take() else {
            return;
        };
        let fresh = RequestCtx::new(self.rt.clone());
        let mut ctx = std::mem::replace(self, fresh);
        ctx.interrupted = true;
        INTERRUPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let trace_id = ctx.trace_id.clone();
        // Never a panic out of a drop (it may run while unwinding).
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            proxy.complete(&mut ctx);
        }));
        if done.is_err() {
            tracing::error!(%trace_id, "Finishing an interrupted request panicked.");
        }
    }
}

/// A request in flight: increments a shared counter when made, decrements it when dropped, so
/// shutdown can wait for exactly the requests (and their spans) still running.
#[derive(Debug)]
pub struct InFlight(Arc<std::sync::atomic::AtomicUsize>);

impl InFlight {
    /// Counts one more request on `counter`.
    pub fn new(counter: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Self(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl RequestCtx {
    /// A fresh context under `rt`; the clock starts now.
    pub fn new(rt: Arc<Runtime>) -> Self {
        Self {
            rt,
            start: Instant::now(),
            start_wall: SystemTime::now(),
            route: None,
            root: Context::new(),
            trace_id: String::new(),
            method: String::new(),
            path: String::new(),
            query_redacted: None,
            inbound_host: None,
            attribution: Attribution::default(),
            properties_dropped: 0,
            body_chunks: Vec::new(),
            body_len: 0,
            body_overflow: false,
            body_refused: None,
            body_hold: None,
            request_done: None,
            info: None,
            prompt: CapturedPrompt::default(),
            upstream_start: None,
            response_header: None,
            first_chunk: None,
            response_done: None,
            upstream_status: None,
            response_tier: None,
            client_status: None,
            observer: None,
            failure: None,
            failure_message: None,
            upload_url_rewritten: false,
            body: Bytes::new(),
            plugin_out: PluginOutput::default(),
            plugin_errors: Vec::new(),
            request_hooks_done: false,
            handoff: None,
            skip_library_hooks: false,
            hooks_skipped: 0,
            in_flight: None,
            live: None,
            unfinished: None,
            interrupted: false,
        }
    }

    /// Wall-clock time of a monotonic instant of this request.
    pub fn wall(&self, at: Instant) -> SystemTime {
        self.start_wall + at.saturating_duration_since(self.start)
    }

    /// Milliseconds between two instants.
    pub fn ms(from: Instant, to: Instant) -> f64 {
        to.saturating_duration_since(from).as_secs_f64() * 1e3
    }
}
