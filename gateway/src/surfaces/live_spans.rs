//! The proxy's hooks for a Live session and the spans it becomes.
//!
//! [`upgraded`] starts the session when the upstream answers `101` on a Live route;
//! [`client_bytes`] and [`server_bytes`] feed it the bytes pingora forwards (its request and
//! response body filters keep running on an upgraded connection), synchronously and without
//! I/O. A turn is emitted as soon as it is complete and metered: an LLM span (CLIENT, child of
//! the session's root) with its usage, its own cost from the built-in plugins (plugin libraries
//! are not run per turn, so a slow one never holds the frames; counted as skipped) and its time
//! to first response. [`finish`] ends the session: what is still open is emitted, and the root
//! span gets the **sum** of the turns' usage and cost and how the session ended.

use super::live::{Done, LiveSession, NAME, Side, ToolSpan, Turn, TurnEnd};
use crate::ctx::RequestCtx;
use crate::errors::ProxyFailure;
use crate::observe::permessage_deflate::Agreement;
use crate::proxy::GatewayProxy;
use crate::span_attrs::{plugin_attrs, request_attrs, usage_attrs};
use bytes::Bytes;
use gateway_plugin_sdk::semconv as sc;
use gateway_plugin_sdk::{
    AttrValue, CompletedCall, Metering, PluginOutput, RequestInfo, RequestView, Step, Timings,
};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer};
use std::time::Instant;

/// The upstream answered `101` with `extensions` (its `Sec-WebSocket-Extensions`): a Live
/// route starts its session.
pub(crate) fn upgraded(ctx: &mut RequestCtx, extensions: Option<&str>) {
    let live = ctx
        .route
        .as_ref()
        .is_some_and(|r| r.surface().name() == NAME);
    if !live {
        return;
    }
    ctx.response_header = Some(Instant::now());
    ctx.upstream_status = Some(101);
    let deflate = extensions.and_then(Agreement::from_header);
    ctx.live = Some(Box::new(LiveSession::new(
        ctx.rt.settings.max_parse_bytes,
        deflate,
    )));
}

/// Client bytes of an upgraded Live connection; `false` when this is not one.
pub(crate) fn client_bytes(
    proxy: &GatewayProxy,
    ctx: &mut RequestCtx,
    body: Option<&Bytes>,
    end: bool,
) -> bool {
    feed(proxy, ctx, Side::Client, body, end)
}

/// Upstream bytes of an upgraded Live connection; `false` when this is not one.
pub(crate) fn server_bytes(
    proxy: &GatewayProxy,
    ctx: &mut RequestCtx,
    body: Option<&Bytes>,
    end: bool,
) -> bool {
    feed(proxy, ctx, Side::Server, body, end)
}

fn feed(
    proxy: &GatewayProxy,
    ctx: &mut RequestCtx,
    side: Side,
    body: Option<&Bytes>,
    end: bool,
) -> bool {
    let Some(mut live) = ctx.live.take() else {
        return false;
    };
    let now = Instant::now();
    let mut done = Vec::new();
    if let Some(bytes) = body.filter(|b| !b.is_empty()) {
        if side == Side::Server {
            ctx.first_chunk.get_or_insert(now);
        }
        live.feed(side, bytes, now, &mut done);
    }
    if end {
        live.side_ended(side, now);
        if side == Side::Server {
            ctx.response_done = Some(now);
        }
    }
    for d in done {
        emit(proxy, ctx, &mut live, d);
    }
    ctx.live = Some(live);
    true
}

/// Ends a Live session's trace; `false` when the request was not an upgraded Live session.
pub(crate) fn finish(proxy: &GatewayProxy, ctx: &mut RequestCtx) -> bool {
    let Some(mut live) = ctx.live.take() else {
        return false;
    };
    proxy.parse_request(ctx);
    let now = Instant::now();
    for d in live.close_all(now) {
        emit(proxy, ctx, &mut live, d);
    }
    let (end, status, error_type) = ending(ctx, &live);
    let info = session_info(ctx, &live);
    let mut a = vec![
        KeyValue::new(sc::GATEWAY_STATUS, status),
        KeyValue::new(sc::GATEWAY_SURFACE, NAME),
        KeyValue::new(sc::GATEWAY_METERING, Metering::Metered.as_str()),
        KeyValue::new(sc::GATEWAY_LIVE_END, end),
        KeyValue::new(sc::GATEWAY_LIVE_TURNS, i64::from(live.metered_turns)),
        KeyValue::new(
            sc::GATEWAY_LIVE_TURNS_UNMETERED,
            i64::from(live.unmetered_turns),
        ),
    ];
    request_attrs(&info, &mut a);
    let (client_frames, server_frames) = live.frames();
    a.push(KeyValue::new(
        sc::GATEWAY_LIVE_FRAMES_CLIENT,
        client_frames as i64,
    ));
    a.push(KeyValue::new(
        sc::GATEWAY_LIVE_FRAMES_SERVER,
        server_frames as i64,
    ));
    a.push(KeyValue::new(
        sc::GATEWAY_LIVE_FRAMES_UNREADABLE,
        live.unreadable as i64,
    ));
    if let Some(why) = &live.unreadable_reason {
        a.push(KeyValue::new(
            sc::GATEWAY_LIVE_FRAMES_UNREADABLE_REASON,
            why.clone(),
        ));
    }
    if let Some((_, Some(code))) = live.close {
        a.push(KeyValue::new(sc::GATEWAY_LIVE_CLOSE_CODE, i64::from(code)));
    }
    if let Some(left) = &live.go_away {
        a.push(KeyValue::new(
            sc::GATEWAY_LIVE_GO_AWAY_TIME_LEFT,
            left.clone(),
        ));
    }
    if let Some(id) = &live.session_id {
        a.push(KeyValue::new(sc::GATEWAY_LIVE_SESSION_ID, id.clone()));
    }
    if let Some(t) = &live.tier {
        a.push(KeyValue::new(sc::GATEWAY_SERVICE_TIER, t.clone()));
    }
    if let Some(s) = ctx.client_status.or(ctx.upstream_status) {
        a.push(KeyValue::new(sc::HTTP_RESPONSE_STATUS_CODE, i64::from(s)));
    }
    if let Some(e) = &error_type {
        a.push(KeyValue::new(sc::ERROR_TYPE, e.clone()));
    }
    if live.metered_turns > 0 {
        usage_attrs(&live.total, &mut a);
    }
    if let Some(ms) = live.first_ttfr_ms {
        a.push(KeyValue::new(sc::GATEWAY_TTFT_MS, ms));
    }
    if live.unpriced {
        a.push(KeyValue::new(sc::GATEWAY_COST_UNPRICED, true));
    } else if let Some(usd) = live.cost_usd {
        a.push(KeyValue::new(sc::GATEWAY_COST_USD, usd));
    }
    attribution_attrs(ctx, &mut a);
    let span = ctx.root.span();
    span.set_attributes(a);
    if status == "error" {
        span.set_status(Status::error(error_type.unwrap_or_default()));
    }
    span.end_with_timestamp(ctx.wall(now));
    true
}

/// How the session ended: (`gateway.live.end`, `gateway.status`, `error.type`).
fn ending(ctx: &RequestCtx, live: &LiveSession) -> (&'static str, &'static str, Option<String>) {
    if live.go_away.is_some() {
        return ("go_away", "error", Some("go_away".to_owned()));
    }
    match (live.close, live.ended, ctx.failure) {
        (Some((Side::Server, None | Some(1000))), _, _) => ("server_close", "ok", None),
        (Some((Side::Server, Some(code))), _, _) => (
            "server_close",
            "error",
            Some(format!("websocket_close_{code}")),
        ),
        (Some((Side::Client, _)), _, _) => ("client_close", "ok", None),
        (None, _, Some(ProxyFailure::ClientGone)) | (None, Some((Side::Client, _)), None) => {
            ("client_gone", "cancelled", Some("cancelled".to_owned()))
        }
        (None, _, Some(f)) => ("upstream_gone", "error", Some(f.error_type().to_owned())),
        (None, Some((Side::Server, _)), None) => {
            ("upstream_gone", "error", Some("upstream_closed".to_owned()))
        }
        // Neither side ended and pingora reported nothing: the proxy stopped under the session.
        (None, None, None) => ("interrupted", "cancelled", Some("shutdown".to_owned())),
    }
}

/// The request as the spans describe it: the setup's model, streamed.
fn session_info(ctx: &RequestCtx, live: &LiveSession) -> RequestInfo {
    let mut info = ctx.info.clone().unwrap_or_default();
    if live.model.is_some() {
        info.model = live.model.clone();
    }
    info.operation = Some(sc::OP_GENERATE_CONTENT.to_owned());
    info.stream = true;
    info
}

fn attribution_attrs(ctx: &RequestCtx, a: &mut Vec<KeyValue>) {
    let at = &ctx.attribution;
    if let Some(u) = &at.user_id {
        a.push(KeyValue::new(sc::USER_ID, u.clone()));
    }
    if let Some(s) = &at.session_id {
        a.push(KeyValue::new(sc::SESSION_ID, s.clone()));
        a.push(KeyValue::new(sc::GEN_AI_CONVERSATION_ID, s.clone()));
    }
    for (k, v) in &at.properties {
        a.push(KeyValue::new(
            format!("{}{k}", sc::GATEWAY_PROPERTY_PREFIX),
            v.clone(),
        ));
    }
    if ctx.properties_dropped > 0 {
        a.push(KeyValue::new(
            sc::GATEWAY_PROPERTY_DROPPED,
            i64::from(ctx.properties_dropped),
        ));
    }
}

fn emit(proxy: &GatewayProxy, ctx: &RequestCtx, live: &mut LiveSession, done: Done) {
    match done {
        Done::Turn(t) => turn_span(proxy, ctx, live, t),
        Done::Tool(t) => tool_span(proxy, ctx, &t),
    }
}

fn secs(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64()
}

fn turn_span(proxy: &GatewayProxy, ctx: &RequestCtx, live: &mut LiveSession, t: Turn) {
    let info = session_info(ctx, live);
    let (end, how) = t.end.unwrap_or((Instant::now(), TurnEnd::SessionEnd));
    let ttfr = t.first_response.map(|f| secs(t.last_input, f));
    let mut a = vec![
        KeyValue::new(sc::GATEWAY_STEP, sc::STEP_LLM_CALL),
        KeyValue::new(sc::GEN_AI_PROVIDER_NAME, sc::PROVIDER_GCP_GEMINI),
        KeyValue::new(sc::SERVER_ADDRESS, proxy.target.upstream.host.clone()),
        KeyValue::new(sc::SERVER_PORT, i64::from(proxy.target.upstream.port)),
        KeyValue::new(sc::GATEWAY_SURFACE, NAME),
        KeyValue::new(sc::GATEWAY_METERING, Metering::Metered.as_str()),
        KeyValue::new(sc::GATEWAY_LIVE_TURN_INDEX, i64::from(t.index)),
        KeyValue::new(sc::GATEWAY_LIVE_TURN_END, how.as_str()),
    ];
    request_attrs(&info, &mut a);
    if let Some(s) = &ctx.attribution.session_id {
        a.push(KeyValue::new(sc::GEN_AI_CONVERSATION_ID, s.clone()));
    }
    if let Some(s) = ttfr {
        a.push(KeyValue::new(sc::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, s));
    }
    if let Some(tier) = &t.tier {
        a.push(KeyValue::new(sc::GATEWAY_SERVICE_TIER, tier.clone()));
        live.tier = Some(tier.clone());
    }
    let mut out = PluginOutput::default();
    let mut error = None;
    match &t.usage {
        Some(u) => {
            usage_attrs(u, &mut a);
            live.metered_turns += 1;
            super::live_wire::add_usage(&mut live.total, u);
            if live.first_ttfr_ms.is_none() {
                live.first_ttfr_ms = ttfr.map(|s| s * 1e3);
            }
            let (errors, skipped) = price(ctx, &info, &t, end, ttfr, &mut out);
            if !errors.is_empty() {
                let msgs: Vec<String> = errors.iter().map(ToString::to_string).collect();
                a.push(KeyValue::new(sc::GATEWAY_PLUGIN_ERROR, msgs.join("; ")));
            }
            if skipped > 0 {
                a.push(KeyValue::new(sc::GATEWAY_PLUGIN_SKIPPED, skipped as i64));
            }
            add_cost(live, &out);
            for step in [Step::Root, Step::LlmCall, Step::PostProcessing] {
                plugin_attrs(&mut out, step, &mut a);
            }
        }
        None => {
            live.unmetered_turns += 1;
            a.push(KeyValue::new(
                sc::GATEWAY_COST_UNPRICED_REASON,
                "no usageMetadata for this turn",
            ));
            if how == TurnEnd::SessionEnd {
                a.push(KeyValue::new(sc::ERROR_TYPE, "session_ended"));
                error = Some("the session ended before the turn completed".to_owned());
            }
        }
    }
    let name = match &info.model {
        Some(m) => format!("{} {m}", sc::OP_GENERATE_CONTENT),
        None => sc::OP_GENERATE_CONTENT.to_owned(),
    };
    let mut span = proxy
        .tracer
        .span_builder(name)
        .with_kind(SpanKind::Client)
        .with_start_time(ctx.wall(t.start))
        .with_attributes(a)
        .start_with_context(&proxy.tracer, &ctx.root);
    if ctx.rt.snapshots {
        let id = gateway_sqlite::span_hex(span.span_context().span_id());
        let model = info.model.clone().unwrap_or_default();
        for m in &out.metrics {
            let mut e = vec![
                KeyValue::new("metric", m.name.clone()),
                KeyValue::new("value", m.value),
                KeyValue::new("breached", m.threshold.is_some_and(|t| m.value > t)),
                KeyValue::new("model", model.clone()),
                KeyValue::new(gateway_sqlite::METRIC_LLM_SPAN_ID, id.clone()),
            ];
            if let Some(t) = m.threshold {
                e.push(KeyValue::new("threshold", t));
            }
            span.add_event(gateway_sqlite::METRIC_EVENT, e);
        }
    }
    if let Some(e) = error {
        span.set_status(Status::error(e));
    }
    span.end_with_timestamp(ctx.wall(end.max(t.start)));
    proxy.metrics.record(&crate::genai_metrics::CallSample {
        operation: sc::OP_GENERATE_CONTENT,
        model: info.model.as_deref().unwrap_or(""),
        error_type: if t.usage.is_some() {
            ""
        } else {
            "session_ended"
        },
        duration_s: secs(t.start, end),
        ttft_s: ttfr,
        per_chunk_s: None,
        usage: t.usage.as_ref(),
    });
}

/// Runs the built-in plugins' completion hooks (cost, metric snapshots) for one turn.
fn price(
    ctx: &RequestCtx,
    info: &RequestInfo,
    t: &Turn,
    end: Instant,
    ttfr: Option<f64>,
    out: &mut PluginOutput,
) -> (Vec<gateway_plugin_host::PluginError>, usize) {
    let total_ms = secs(t.start, end) * 1e3;
    let call = CompletedCall {
        request: RequestView {
            trace_id: &ctx.trace_id,
            info,
            attribution: &ctx.attribution,
            body: &[],
        },
        http_status: ctx.upstream_status,
        status: "ok",
        usage: t.usage.as_ref(),
        usage_parts: &[],
        timings: Timings {
            total_ms,
            ttft_ms: ttfr.map(|s| s * 1e3),
            upstream_ms: Some(total_ms),
        },
        finish_reasons: &[],
        response_model: None,
        service_tier: t.tier.as_deref(),
        metering: Metering::Metered,
        started_at: ctx.wall(t.start),
    };
    ctx.rt
        .plugins
        .run_complete_except(crate::plugins::LIBRARY, &call, out)
}

/// Adds a priced turn's cost to the session's sum (an unpriced turn flags the session).
fn add_cost(live: &mut LiveSession, out: &PluginOutput) {
    let root = |key: &str| out.get(Step::Root, key);
    if let Some(AttrValue::Bool(true)) = root(sc::GATEWAY_COST_UNPRICED) {
        live.unpriced = true;
    } else if let Some(AttrValue::F64(usd)) = root(sc::GATEWAY_COST_USD) {
        live.cost_usd = Some(live.cost_usd.unwrap_or(0.0) + usd);
    }
}

fn tool_span(proxy: &GatewayProxy, ctx: &RequestCtx, t: &ToolSpan) {
    let mut a = vec![
        KeyValue::new(sc::GEN_AI_OPERATION_NAME, sc::OP_EXECUTE_TOOL),
        KeyValue::new(sc::GEN_AI_TOOL_NAME, t.name.clone()),
        KeyValue::new(sc::GEN_AI_TOOL_TYPE, "function"),
    ];
    if let Some(id) = &t.id {
        a.push(KeyValue::new(sc::GEN_AI_TOOL_CALL_ID, id.clone()));
    }
    if let Some(e) = t.error {
        a.push(KeyValue::new(sc::ERROR_TYPE, e));
    }
    let mut span = proxy
        .tracer
        .span_builder(format!("{} {}", sc::OP_EXECUTE_TOOL, t.name))
        .with_kind(SpanKind::Internal)
        .with_start_time(ctx.wall(t.start))
        .with_attributes(a)
        .start_with_context(&proxy.tracer, &ctx.root);
    if let Some(e) = t.error {
        span.set_status(Status::error(e));
    }
    span.end_with_timestamp(ctx.wall(t.end.unwrap_or(t.start).max(t.start)));
}
