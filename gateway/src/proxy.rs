//! The pingora `ProxyHttp` implementation: a transparent pass-through that only observes.
//!
//! Phases: `request_filter` classifies the path, reads attribution headers and opens the root
//! span; `request_body_filter` keeps the body chunks (shared, no copy) and parses them at the end;
//! `upstream_request_filter` rewrites `Host` and strips attribution headers;
//! `upstream_response_filter` records the status and rewrites upload URLs;
//! `response_body_filter` (synchronous, no I/O) tees chunks into a bounded observer; `logging`
//! runs after the client has its bytes and turns everything into spans.

use crate::ctx::{Attribution, RequestCtx};
use crate::errors::{ProxyFailure, gemini_error_body};
use crate::observe::Observer;
use crate::route::{self, Framing};
use crate::upstream::UpstreamTarget;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use gateway_plugin_host::PluginHost;
use gateway_plugin_sdk::RequestView;
use gateway_plugin_sdk::semconv as sc;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{ErrorSource, ErrorType};
use std::sync::Arc;
use std::time::Instant;

/// Settings the proxy reads on every request.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Body bytes kept for parsing.
    pub max_parse_bytes: usize,
    /// Capture prompt and answer text.
    pub capture_content: bool,
    /// Bytes per captured field.
    pub capture_max_bytes: usize,
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
}

/// The gateway proxy.
pub struct GatewayProxy {
    /// Where requests go.
    pub target: Arc<UpstreamTarget>,
    /// Tracer for the request spans.
    pub tracer: SdkTracer,
    /// The reloadable part, swapped atomically.
    pub runtime: Arc<ArcSwap<Runtime>>,
    /// GenAI client metrics.
    pub metrics: Arc<crate::genai_metrics::GenAiMetrics>,
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
        Self {
            target,
            tracer,
            runtime,
            metrics,
            propagator: TraceContextPropagator::new(),
        }
    }

    fn begin(&self, req: &RequestHeader, ctx: &mut RequestCtx) {
        let path = req.uri.path();
        let query = req.uri.query();
        let route = route::classify(path, query);
        ctx.method = req.method.as_str().to_owned();
        ctx.path = path.to_owned();
        ctx.query_redacted = query.map(route::redact_query);
        ctx.inbound_host = req
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        ctx.attribution = attribution(&req.headers);

        let parent = self.propagator.extract(&HeaderExtractor(&req.headers));
        let name = if route.operation.is_some() || route.template.starts_with('/') {
            format!("{} {}", ctx.method, route.template)
        } else {
            ctx.method.clone()
        };
        let mut attrs = vec![
            KeyValue::new(sc::HTTP_REQUEST_METHOD, ctx.method.clone()),
            KeyValue::new(sc::URL_PATH, ctx.path.clone()),
        ];
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
        ctx.trace_id = span.span_context().trace_id().to_string();
        ctx.root = Context::new().with_span(span);
        ctx.route = Some(route);
    }

    fn keep_body(&self, ctx: &mut RequestCtx, body: &Option<Bytes>) {
        let Some(chunk) = body else { return };
        ctx.body_len += chunk.len();
        let upload = ctx.route.as_ref().is_some_and(|r| r.upload);
        if upload || ctx.body_overflow {
            return;
        }
        if ctx.body_len > ctx.rt.settings.max_parse_bytes {
            ctx.body_overflow = true;
            ctx.body_chunks = Vec::new();
        } else if !chunk.is_empty() {
            ctx.body_chunks.push(chunk.clone());
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
            info.parse_error = Some(format!(
                "request body larger than max_parse_bytes ({}); not inspected",
                rt.settings.max_parse_bytes
            ));
            (info, p)
        } else {
            ctx.body = match ctx.body_chunks.len() {
                0 => Bytes::new(),
                1 => ctx.body_chunks[0].clone(),
                _ => Bytes::from(ctx.body_chunks.concat()),
            };
            crate::request::parse(route, &ctx.body, cap)
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

    fn rewrite_upload_url(&self, resp: &mut ResponseHeader, ctx: &mut RequestCtx) {
        let Some(url) = resp
            .headers
            .get("x-goog-upload-url")
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let Some(host) = ctx.inbound_host.as_deref() else {
            return;
        };
        let Some(rest) = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
        else {
            return;
        };
        let path = rest.find('/').map_or("/", |i| &rest[i..]);
        let rewritten = format!("http://{host}{path}");
        if resp.insert_header("x-goog-upload-url", rewritten).is_ok() {
            ctx.upload_url_rewritten = true;
        }
    }

    fn framing(&self, ctx: &RequestCtx, resp: &ResponseHeader) -> Framing {
        let Some(route) = ctx.route.as_ref() else {
            return Framing::Opaque;
        };
        if route.framing == Framing::Opaque {
            return Framing::Opaque;
        }
        let ct = resp
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if ct.starts_with("text/event-stream") {
            Framing::Sse
        } else if ct.contains("json") || ct.is_empty() {
            if route.framing == Framing::JsonArray {
                Framing::JsonArray
            } else {
                Framing::Json
            }
        } else {
            Framing::Opaque
        }
    }
}

fn attribution(headers: &http::HeaderMap) -> Attribution {
    let mut a = Attribution::default();
    for (name, value) in headers {
        let name = name.as_str();
        let Some(rest) = name.strip_prefix("x-gateway-") else {
            continue;
        };
        let Ok(value) = value.to_str() else { continue };
        match rest {
            "user-id" => a.user_id = Some(value.to_owned()),
            "session-id" => a.session_id = Some(value.to_owned()),
            _ => {
                if let Some(prop) = rest.strip_prefix("property-")
                    && !prop.is_empty()
                {
                    a.properties.push((prop.to_owned(), value.to_owned()));
                }
            }
        }
    }
    a
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.runtime.load_full())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        self.begin(session.req_header(), ctx);
        Ok(false)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.keep_body(ctx, body);
        if end_of_stream {
            ctx.request_done = Some(Instant::now());
            self.parse_request(ctx);
        }
        Ok(())
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        self.target.peer().ok_or_else(|| {
            pingora::Error::create(
                ErrorType::ConnectNoRoute,
                ErrorSource::Upstream,
                Some(format!("cannot resolve upstream host {}", self.target.upstream.host).into()),
                None,
            )
        })
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        upstream_request.insert_header(http::header::HOST, self.target.upstream.authority())?;
        let strip: Vec<http::HeaderName> = upstream_request
            .headers
            .keys()
            .filter(|k| k.as_str().starts_with("x-gateway-"))
            .cloned()
            .collect();
        for name in strip {
            upstream_request.remove_header(&name);
        }
        ctx.upstream_start.get_or_insert_with(Instant::now);
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if resp.status.is_informational() {
            return Ok(());
        }
        ctx.response_header = Some(Instant::now());
        ctx.upstream_status = Some(resp.status.as_u16());
        self.rewrite_upload_url(resp, ctx);
        let framing = self.framing(ctx, resp);
        // Event payloads carry JSON overhead around the text, so keep up to the parse cap of
        // them; the text itself is cut to `capture_max_bytes` later.
        let settings = &ctx.rt.settings;
        let capture = if settings.capture_content {
            settings.max_parse_bytes
        } else {
            0
        };
        let openai = ctx.route.as_ref().is_some_and(|r| r.openai);
        ctx.observer = Some(Observer::new(
            framing,
            settings.max_parse_bytes,
            capture,
            openai,
        ));
        resp.insert_header(sc::HEADER_TRACE_ID, ctx.trace_id.as_str())?;
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(chunk) = body.as_ref().filter(|b| !b.is_empty()) {
            ctx.first_chunk.get_or_insert_with(Instant::now);
            if let Some(obs) = ctx.observer.as_mut() {
                obs.feed(chunk);
            }
        }
        if end_of_stream {
            ctx.response_done = Some(Instant::now());
        }
        Ok(None)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &pingora::Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let failure = ProxyFailure::classify(e, ctx.response_header.is_some());
        ctx.failure = Some(failure);
        ctx.failure_message = Some(e.to_string());
        let mut code = failure.status();
        if code > 0 && ctx.response_header.is_none() {
            let message = match failure {
                ProxyFailure::Timeout => "The gateway timed out waiting for the Gemini API.",
                ProxyFailure::Unreachable => "The gateway could not reach the Gemini API.",
                _ => "The gateway could not complete the request.",
            };
            let body = gemini_error_body(code, message);
            if let Ok(mut resp) = ResponseHeader::build(code, Some(4)) {
                let _ = resp.insert_header(
                    http::header::CONTENT_TYPE,
                    "application/json; charset=UTF-8",
                );
                let _ = resp.insert_header(http::header::CONTENT_LENGTH, body.len());
                let _ = resp.insert_header(sc::HEADER_TRACE_ID, ctx.trace_id.as_str());
                if let Err(error) = session.write_error_response(resp, Bytes::from(body)).await {
                    tracing::debug!(%error, "Could not send the error response.");
                }
            }
        } else if ctx.response_header.is_some() {
            code = ctx.upstream_status.unwrap_or(code);
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(
        &self,
        session: &mut Session,
        e: Option<&pingora::Error>,
        ctx: &mut RequestCtx,
    ) {
        if let (Some(e), None) = (e, ctx.failure) {
            ctx.failure = Some(ProxyFailure::classify(e, ctx.response_header.is_some()));
            ctx.failure_message = Some(e.to_string());
        }
        ctx.client_status = session.response_written().map(|r| r.status.as_u16());
        self.finish(ctx);
    }

    fn request_summary(&self, session: &Session, _ctx: &RequestCtx) -> String {
        let req = session.req_header();
        match req.uri.query() {
            Some(q) => format!(
                "{} {}?{}",
                req.method,
                req.uri.path(),
                route::redact_query(q)
            ),
            None => format!("{} {}", req.method, req.uri.path()),
        }
    }
}
