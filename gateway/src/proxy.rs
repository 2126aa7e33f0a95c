//! The gateway proxy: a transparent pass-through that only observes. This module holds its
//! state and the request-side helpers; the pingora phases are in `phases.rs`.
//!
//! Phases: `request_filter` classifies the path, reads attribution headers and opens the root
//! span; `request_body_filter` keeps the body chunks (shared, no copy) and parses them at the end;
//! `upstream_request_filter` rewrites `Host` and strips attribution headers;
//! `upstream_response_filter` records the status and rewrites upload URLs;
//! `response_body_filter` (synchronous, no I/O) tees chunks into a bounded observer; `logging`
//! runs after the client has its bytes and turns everything into spans.

use crate::ctx::RequestCtx;
use crate::headers::{HeaderExtractor, attribution};
use crate::route;
use crate::upstream::UpstreamTarget;
use arc_swap::ArcSwap;
use bytes::Bytes;
use gateway_plugin_host::PluginHost;
use gateway_plugin_sdk::RequestView;
use gateway_plugin_sdk::semconv as sc;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;
use pingora::http::RequestHeader;
use std::sync::Arc;

/// Settings the proxy reads on every request.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Body bytes kept for parsing.
    pub max_parse_bytes: usize,
    /// Capture prompt and answer text.
    pub capture_content: bool,
    /// Bytes per captured field.
    pub capture_max_bytes: usize,
    /// `[proxy] public_url`, checked and without a trailing `/`: the base of rewritten upload
    /// URLs when set.
    pub public_url: Option<String>,
    /// The listener speaks TLS (`[proxy] tls_cert`): rewritten upload URLs say `https://`.
    pub listener_tls: bool,
}

/// What can change at runtime (live reload). Each request takes the current one when it starts
/// and keeps it to the end, so a reload never mixes two configurations in one trace.
pub struct Runtime {
    /// Per-request settings.
    pub settings: ProxySettings,
    /// Span plugins.
    pub plugins: Arc<PluginHost>,
    /// Record metric snapshots.
    pub snapshots: bool,
    /// Count of unpriced calls (kept across reloads).
    pub unpriced: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// Count of priority requests served (and priced) at standard (kept across reloads).
    pub downgrades: Option<Arc<std::sync::atomic::AtomicU64>>,
}

/// The gateway proxy.
#[derive(Clone)]
pub struct GatewayProxy {
    /// Where requests go.
    pub target: Arc<UpstreamTarget>,
    /// Tracer for the request spans.
    pub tracer: SdkTracer,
    /// The reloadable part, swapped atomically.
    pub runtime: Arc<ArcSwap<Runtime>>,
    /// GenAI client metrics.
    pub metrics: Arc<crate::genai_metrics::GenAiMetrics>,
    /// Where finished requests go; `None`: finished on the proxy thread.
    pub completions: Option<Arc<crate::completion::Completions>>,
    /// Requests in flight, their spans not yet built (shutdown waits for 0).
    pub in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// The memory budget all requests share for bodies kept for parsing.
    pub body_budget: Arc<crate::body_budget::BodyBudget>,
    propagator: TraceContextPropagator,
}

impl GatewayProxy {
    /// A proxy in front of `target`.
    pub fn new(
        target: Arc<UpstreamTarget>,
        tracer: SdkTracer,
        runtime: Arc<ArcSwap<Runtime>>,
        metrics: Arc<crate::genai_metrics::GenAiMetrics>,
    ) -> Self {
        let body_budget =
            crate::body_budget::BodyBudget::for_max_parse(runtime.load().settings.max_parse_bytes);
        Self {
            target,
            tracer,
            runtime,
            metrics,
            completions: None,
            in_flight: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            body_budget,
            propagator: TraceContextPropagator::new(),
        }
    }

    pub(crate) fn begin(&self, req: &RequestHeader, ctx: &mut RequestCtx) {
        let path = req.uri.path();
        let query = req.uri.query();
        ctx.method = req.method.as_str().to_owned();
        let route = crate::surfaces::classify(&ctx.method, path, query);
        ctx.path = path.to_owned();
        ctx.query_redacted = query.map(route::redact_query);
        (ctx.attribution, ctx.properties_dropped) = attribution(&req.headers);

        let parent = self.propagator.extract(&HeaderExtractor(&req.headers));
        let name = if route.operation.is_some() || route.template.starts_with('/') {
            format!("{} {}", ctx.method, route.template)
        } else {
            ctx.method.clone()
        };
        // The root span's list takes the attributes set when it ends too (`finish.rs`).
        let mut attrs = crate::span_attrs::span_attrs(KeyValue::new(
            sc::HTTP_REQUEST_METHOD,
            ctx.method.clone(),
        ));
        attrs.push(KeyValue::new(sc::URL_PATH, ctx.path.clone()));
        if let Some(q) = &ctx.query_redacted {
            attrs.push(KeyValue::new(sc::URL_QUERY, q.clone()));
        }
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_start_time(ctx.start_wall)
            .with_attributes(attrs)
            .start_with_context(&self.tracer, &parent);
        ctx.trace_id = gateway_sqlite::trace_hex(span.span_context().trace_id());
        ctx.root = Context::new().with_span(span);
        ctx.route = Some(route);
    }

    pub(crate) fn keep_body(&self, ctx: &mut RequestCtx, body: &Option<Bytes>) {
        let Some(chunk) = body else { return };
        ctx.body_len += chunk.len();
        let upload = ctx.route.as_ref().is_some_and(|r| r.upload);
        if upload || ctx.body_overflow {
            return;
        }
        if ctx.body_len > ctx.rt.settings.max_parse_bytes {
            ctx.body_overflow = true;
            ctx.body_chunks = Vec::new();
            ctx.body_hold = None;
        } else if !chunk.is_empty() {
            let hold = ctx
                .body_hold
                .get_or_insert_with(|| crate::body_budget::BodyHold::new(&self.body_budget));
            if hold.grow(chunk.len()) {
                ctx.body_chunks.push(chunk.clone());
            } else {
                ctx.body_overflow = true;
                ctx.body_chunks = Vec::new();
                ctx.body_hold = None;
                ctx.body_refused = Some(format!(
                    "the gateway's memory budget for request bodies ({} bytes) is in use by \
                     other requests; forwarded, not inspected",
                    self.body_budget.limit()
                ));
            }
        }
    }

    /// Parses the kept request body (once).
    pub(crate) fn parse_request(&self, ctx: &mut RequestCtx) {
        if ctx.info.is_some() {
            return;
        }
        let Some(route) = ctx.route.as_ref() else {
            return;
        };
        let rt = ctx.rt.clone();
        let cap = if rt.settings.capture_content {
            rt.settings.capture_max_bytes
        } else {
            0
        };
        let (mut info, prompt) = if ctx.body_overflow {
            let (mut info, p) = crate::request::parse(route, b"", 0);
            info.parse_error = Some(ctx.body_refused.clone().unwrap_or_else(|| {
                format!(
                    "request body larger than max_parse_bytes ({}); not inspected",
                    rt.settings.max_parse_bytes
                )
            }));
            (info, p)
        } else {
            ctx.body = match ctx.body_chunks.len() {
                0 => Bytes::new(),
                1 => ctx.body_chunks[0].clone(),
                _ => Bytes::from(ctx.body_chunks.concat()),
            };
            let (mut info, p) = crate::request::parse(route, &ctx.body, cap);
            if info.parse_error.is_none() && !ctx.body.is_empty() {
                route.surface().refine_request(&ctx.body, &mut info);
            }
            (info, p)
        };
        info.body_bytes = ctx.body_len as u64;
        ctx.body_chunks = Vec::new();
        ctx.info = Some(info);
        ctx.prompt = prompt;
        self.run_request_hooks(ctx);
    }

    /// Runs the plugins' request-side hooks once, right after the body is parsed.
    fn run_request_hooks(&self, ctx: &mut RequestCtx) {
        if ctx.request_hooks_done || ctx.rt.plugins.is_empty() {
            return;
        }
        ctx.request_hooks_done = true;
        let Some(info) = ctx.info.as_ref() else {
            return;
        };
        let view = RequestView {
            trace_id: &ctx.trace_id,
            info,
            attribution: &ctx.attribution,
            body: &ctx.body,
        };
        let errors = ctx.rt.plugins.run_request(&view, &mut ctx.plugin_out);
        ctx.plugin_errors.extend(errors);
    }
}
