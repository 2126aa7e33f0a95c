//! The pingora phases of [`GatewayProxy`], in the order a request meets them.

use crate::ctx::RequestCtx;
use crate::errors::{ProxyFailure, gemini_error_body};
use crate::headers::{framing, rewrite_upload_url};
use crate::observe::Observer;
use crate::proxy::GatewayProxy;
use crate::route;
use async_trait::async_trait;
use bytes::Bytes;
use gateway_plugin_sdk::semconv as sc;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{ErrorSource, ErrorType};
use std::time::Instant;

/// How long an idle keep-alive client connection is held between requests.
pub const IDLE_KEEPALIVE_SECONDS: u64 = 60;

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        let mut ctx = RequestCtx::new(self.runtime.load_full());
        ctx.in_flight = Some(crate::ctx::InFlight::new(&self.in_flight));
        ctx
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        self.begin(session.req_header(), ctx);
        // From here on the request has a trace: if pingora drops it unfinished, its drop
        // finishes it (see `RequestCtx`'s `Drop`).
        ctx.unfinished = Some(self.clone());
        ctx.inbound_host = crate::headers::client_authority(session);
        // HTTP/1.1 keeps an idle connection open forever by default; an idle client may hold
        // one for IDLE_KEEPALIVE_SECONDS between requests, then it is closed.
        if session.get_keepalive() == Some(0) {
            session.set_keepalive(Some(IDLE_KEEPALIVE_SECONDS));
        }
        // A client may write its next request before reading this answer (HTTP/1.1
        // pipelining): serve them in order. Off by default in pingora, which then closes the
        // connection after the first answer and drops the second request.
        session.set_pipelining_enabled(true);
        Ok(false)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if crate::surfaces::live_client_bytes(self, ctx, body.as_ref(), end_of_stream) {
            return Ok(());
        }
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
        if resp.status == http::StatusCode::SWITCHING_PROTOCOLS {
            let extensions = resp
                .headers
                .get(http::header::SEC_WEBSOCKET_EXTENSIONS)
                .and_then(|v| v.to_str().ok());
            crate::surfaces::live_upgraded(ctx, extensions);
        }
        if resp.status.is_informational() {
            return Ok(());
        }
        ctx.response_header = Some(Instant::now());
        ctx.upstream_status = Some(resp.status.as_u16());
        rewrite_upload_url(resp, ctx);
        let framing = framing(ctx, resp);
        // Event payloads carry JSON overhead around the text, so keep up to the parse cap of
        // them; the text itself is cut to `capture_max_bytes` later.
        let settings = &ctx.rt.settings;
        let capture = if settings.capture_content {
            settings.max_parse_bytes
        } else {
            0
        };
        ctx.response_tier = resp
            .headers
            .get(sc::HEADER_GEMINI_SERVICE_TIER)
            .and_then(|v| v.to_str().ok())
            .map(crate::surfaces::normalize_tier);
        let encoding = resp
            .headers
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok());
        let surface = ctx
            .route
            .as_ref()
            .map_or_else(crate::surfaces::unknown, |r| r.surface());
        ctx.observer = Some(Observer::for_surface(
            framing,
            settings.max_parse_bytes,
            capture,
            surface,
            encoding,
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
        if crate::surfaces::live_server_bytes(self, ctx, body.as_ref(), end_of_stream) {
            return Ok(None);
        }
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
        // A refused upstream certificate says why, to the client and in the log.
        let refusal = crate::upstream::tls_refusal(e);
        if let Some(why) = &refusal {
            tracing::warn!(reason = %why, error = %e, "Upstream TLS handshake refused.");
        }
        if code > 0 && ctx.response_header.is_none() {
            let message = match (failure, &refusal) {
                (ProxyFailure::Unreachable, Some(why)) => {
                    format!("The gateway could not reach the Gemini API: {why}.")
                }
                (ProxyFailure::Timeout, _) => {
                    "The gateway timed out waiting for the Gemini API.".to_owned()
                }
                (ProxyFailure::Unreachable, None) => {
                    "The gateway could not reach the Gemini API.".to_owned()
                }
                _ => "The gateway could not complete the request.".to_owned(),
            };
            let body = gemini_error_body(code, &message);
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
        self.complete(ctx);
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
