//! The logging phase: turns a finished request into its root span and three step spans.
//!
//! Runs after the client has its last byte (in place, or on the completion thread when plugin
//! libraries are loaded: see `completion`), so nothing here delays a response. Child spans are created with the instants recorded on the data path
//! as their start and end times.

use crate::ctx::RequestCtx;
use crate::errors::ProxyFailure;
use crate::payload::{self, ResponseSummary};
use crate::proxy::GatewayProxy;
use crate::span_attrs::{
    attr_kv, conversation_attrs, plugin_attrs, plugin_errors, post_attrs, prompt_attrs,
    request_attrs, request_params, response_attrs, span_attrs, surface_attrs, usage_attrs,
};
use crate::surfaces::{AnswerCtx, Surface};
use gateway_plugin_sdk::semconv as sc;
use gateway_plugin_sdk::{CompletedCall, Metering, RequestInfo, RequestView, Step, Timings};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry_sdk::trace::Span as SdkSpan;
use std::time::{Instant, SystemTime};

/// Everything the spans of one request are made from.
#[derive(Debug)]
pub struct Outcome {
    /// `ok`, `error` or `cancelled`.
    pub status: &'static str,
    /// `error.type`, if the request failed.
    pub error_type: Option<String>,
    /// Status the client got.
    pub http_status: Option<u16>,
    /// What the response said.
    pub summary: ResponseSummary,
}

pub(crate) fn outcome(ctx: &RequestCtx, summary: ResponseSummary) -> Outcome {
    let http_status = ctx.client_status.or(ctx.upstream_status);
    let (status, error_type) = match ctx.failure {
        // The proxy stopped under the request: whatever it was waiting for never came.
        _ if ctx.interrupted => ("cancelled", Some("shutdown".to_owned())),
        Some(ProxyFailure::ClientGone) => ("cancelled", Some("cancelled".to_owned())),
        Some(f) => ("error", Some(f.error_type().to_owned())),
        None => match http_status {
            Some(code) if code >= 400 => ("error", Some(code.to_string())),
            None => ("error", Some("_OTHER".to_owned())),
            _ => match &summary.error_status {
                Some(s) => ("error", Some(s.clone())),
                None => ("ok", None),
            },
        },
    };
    Outcome {
        status,
        error_type,
        http_status,
        summary,
    }
}

impl GatewayProxy {
    /// Hands a finished request over: to the completion thread when plugin libraries are
    /// loaded (in place, library hooks skipped and counted, when its queue is full), else
    /// finished in place. Called once per request, from the logging phase, or from the
    /// context's drop when the proxy stopped under the request.
    pub(crate) fn complete(&self, ctx: &mut RequestCtx) {
        ctx.unfinished = None;
        match &self.completions {
            Some(c) if ctx.rt.plugins.has_kind(crate::plugins::LIBRARY) => {
                if let Some(mut job) = c.submit(ctx) {
                    // Queue full: spans and built-in plugins in place, library hooks skipped
                    // (counted), so a slow hook never holds a proxy worker.
                    job.skip_library_hooks = true;
                    self.finish(&mut job);
                }
            }
            _ => self.finish(ctx),
        }
    }

    /// Builds and ends all spans of a finished request.
    pub(crate) fn finish(&self, ctx: &mut RequestCtx) {
        if crate::surfaces::finish_live(self, ctx) {
            return;
        }
        // Times leave out the wait for the completion thread (see `completion`).
        let work_start = Instant::now();
        let post_start = ctx.handoff.unwrap_or(work_start).min(work_start);
        let waited = work_start - post_start;
        self.parse_request(ctx);
        let info = ctx.info.take().unwrap_or_default();
        let observed = ctx.observer.take().map(|o| o.finish()).unwrap_or_default();
        let rt = ctx.rt.clone();
        let prompt_end = ctx.request_done.or(ctx.upstream_start).unwrap_or(ctx.start);
        let llm_start = ctx.upstream_start.unwrap_or(prompt_end);
        let llm_end = ctx.response_done.unwrap_or(post_start).max(llm_start);
        let route = ctx
            .route
            .clone()
            .unwrap_or_else(|| crate::surfaces::classify(&ctx.method, &ctx.path, None));
        let surface = route.surface();
        let mut summary = surface.summarize(
            &observed,
            &AnswerCtx {
                route: &route,
                path: &ctx.path,
                info: &info,
                header_tier: ctx.response_tier.as_deref(),
                upstream_status: ctx.upstream_status,
                body: &ctx.body,
                llm_start: ctx.wall(llm_start),
                llm_end: ctx.wall(llm_end),
            },
        );
        crate::surfaces::sanity_check(&mut summary);
        if rt.settings.capture_content {
            summary.output_text = payload::captured_text(&observed, rt.settings.capture_max_bytes);
        }
        let metering = summary.metering.unwrap_or(route.metering);
        // A call whose request names no model (a GET of an interaction) is the served model's.
        let mut info = info;
        if info.model.is_none() && info.operation.is_some() {
            info.model = summary.response_model.clone();
        }
        if metering == Metering::Unknown && summary.usage.is_some() {
            crate::surfaces::count_unmetered();
        }
        if observed.decode_error.is_some() {
            crate::surfaces::count_decode_error();
        }
        let out = outcome(ctx, summary);
        // Time to first chunk: the first chunk that carries generated content (thoughts
        // included), of a streamed call answered 2xx; not the first byte or an empty frame.
        let ttfc = observed
            .first_content
            .zip(ctx.upstream_start)
            .map(|(c, u)| c.saturating_duration_since(u))
            .filter(|_| info.stream && ctx.upstream_status.is_some_and(|s| s < 400));
        let per_chunk = observed.time_per_output_chunk().filter(|_| ttfc.is_some());

        // Completion hooks: the client already has its bytes.
        if !rt.plugins.is_empty() {
            let call = CompletedCall {
                request: RequestView {
                    trace_id: &ctx.trace_id,
                    info: &info,
                    attribution: &ctx.attribution,
                    body: &ctx.body,
                },
                http_status: out.http_status,
                status: out.status,
                usage: out.summary.usage.as_ref(),
                usage_parts: &out.summary.usage_parts,
                timings: Timings {
                    total_ms: RequestCtx::ms(ctx.start, llm_end.max(post_start)),
                    ttft_ms: ttfc.map(|d| d.as_secs_f64() * 1e3),
                    upstream_ms: ctx.upstream_start.map(|u| RequestCtx::ms(u, llm_end)),
                },
                finish_reasons: &out.summary.finish_reasons,
                response_model: out.summary.response_model.as_deref(),
                service_tier: out.summary.service_tier.as_deref(),
                metering,
                // A deferred call's work is priced on the day it was made (never after this
                // request: an answer's clock may be ahead of ours).
                started_at: out
                    .summary
                    .work_created_at
                    .map_or(ctx.start_wall, |t| t.min(ctx.start_wall)),
            };
            let errors = if ctx.skip_library_hooks {
                // The completion queue was full: the library hooks are skipped (and counted)
                // rather than run on the proxy thread.
                let (errors, skipped) = rt.plugins.run_complete_except(
                    crate::plugins::LIBRARY,
                    &call,
                    &mut ctx.plugin_out,
                );
                ctx.hooks_skipped = skipped;
                errors
            } else {
                rt.plugins.run_complete(&call, &mut ctx.plugin_out)
            };
            ctx.plugin_errors.extend(errors);
        }

        // prompt_construction: from the request header to the parsed body.
        let mut prompt = prompt_attrs(&info, ctx);
        plugin_attrs(&mut ctx.plugin_out, Step::PromptConstruction, &mut prompt);
        prompt.extend(plugin_errors(ctx, "on_request"));
        let span = self.child(
            ctx,
            "prompt_construction",
            SpanKind::Internal,
            ctx.wall(ctx.start),
            prompt,
            None,
        );
        end(span, ctx, prompt_end.max(ctx.start));

        // The LLM call: from the upstream request to the end of the response body.
        let llm_name = if info.operation.is_some() {
            surface.llm_span_name(&info, &route)
        } else {
            format!("{} {}", ctx.method, route.template)
        };
        let mut llm = span_attrs(KeyValue::new(sc::GATEWAY_STEP, sc::STEP_LLM_CALL));
        llm.extend([
            KeyValue::new(sc::GEN_AI_PROVIDER_NAME, sc::PROVIDER_GCP_GEMINI),
            KeyValue::new(sc::SERVER_ADDRESS, self.target.upstream.host.clone()),
            KeyValue::new(sc::SERVER_PORT, i64::from(self.target.upstream.port)),
        ]);
        request_attrs(&info, &mut llm);
        request_params(&info, &mut llm);
        conversation_attrs(ctx, &mut llm);
        surface_attrs(surface, metering, &out.summary, &info, &mut llm);
        response_attrs(&out.summary, &info, metering, &mut llm);
        llm.extend(out.summary.llm_attrs.iter().cloned());
        if let Some(s) = ctx.upstream_status {
            llm.push(KeyValue::new(sc::HTTP_RESPONSE_STATUS_CODE, i64::from(s)));
        }
        if let Some(t) = ttfc {
            llm.push(KeyValue::new(
                sc::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
                t.as_secs_f64(),
            ));
        }
        if let Some(t) = per_chunk {
            llm.push(KeyValue::new(
                sc::GEN_AI_RESPONSE_TIME_PER_OUTPUT_CHUNK,
                t.as_secs_f64(),
            ));
        }
        let llm_failed = ctx.failure.is_some() || ctx.upstream_status.is_none_or(|s| s >= 400);
        if let Some(e) = out.error_type.as_ref().filter(|_| llm_failed) {
            llm.push(KeyValue::new(sc::ERROR_TYPE, e.clone()));
        }
        plugin_attrs(&mut ctx.plugin_out, Step::LlmCall, &mut llm);
        let llm_status = llm_failed.then(|| {
            ctx.failure_message
                .clone()
                .unwrap_or_else(|| format!("HTTP {}", ctx.upstream_status.unwrap_or(0)))
        });
        let span = self.child(
            ctx,
            &llm_name,
            SpanKind::Client,
            ctx.wall(llm_start),
            llm,
            llm_status,
        );
        let llm_cx = ctx
            .root
            .with_remote_span_context(span.span_context().clone());
        let llm_span_id = gateway_sqlite::span_hex(span.span_context().span_id());
        end(span, ctx, llm_end);
        // Steps of the call (Interactions), as children of the LLM span.
        for step in &out.summary.steps {
            let mut child = self
                .tracer
                .span_builder(step.name.clone())
                .with_kind(SpanKind::Internal)
                .with_start_time(step.start)
                .with_attributes(step.attributes.clone())
                .start_with_context(&self.tracer, &llm_cx);
            child.end_with_timestamp(step.end.max(step.start));
        }

        // Spans created by plugins, with their own times.
        for ps in std::mem::take(&mut ctx.plugin_out.spans) {
            let mut attrs = vec![KeyValue::new(sc::GATEWAY_STEP, sc::STEP_PLUGIN)];
            attrs.extend(ps.attributes.into_iter().map(|(k, v)| attr_kv(k, v)));
            let mut span = self.child(ctx, &ps.name, SpanKind::Internal, ps.start, attrs, None);
            span.end_with_timestamp(ps.end.max(ps.start));
        }

        // post_processing: reading usage, running completion hooks, finishing the trace.
        let mut post = post_attrs(ctx, &out, &observed);
        if ctx.handoff.is_some() {
            post.push(KeyValue::new(
                sc::GATEWAY_COMPLETION_WAIT_MS,
                waited.as_secs_f64() * 1e3,
            ));
        }
        let post_start = post_start.max(llm_end);
        let mut span = self.child(
            ctx,
            "post_processing",
            SpanKind::Internal,
            ctx.wall(post_start),
            post,
            None,
        );
        if rt.snapshots {
            let model = info.model.clone().unwrap_or_default();
            for m in &ctx.plugin_out.metrics {
                let mut a = vec![
                    KeyValue::new("metric", m.name.clone()),
                    KeyValue::new("value", m.value),
                    KeyValue::new("breached", m.threshold.is_some_and(|t| m.value > t)),
                    KeyValue::new("model", model.clone()),
                    KeyValue::new(gateway_sqlite::METRIC_LLM_SPAN_ID, llm_span_id.clone()),
                ];
                if let Some(t) = m.threshold {
                    a.push(KeyValue::new("threshold", t));
                }
                span.add_event(gateway_sqlite::METRIC_EVENT, a);
            }
        }
        let finished = Instant::now() - waited;
        end(span, ctx, finished);

        if let Some(op) = info.operation.as_deref() {
            self.metrics.record(&crate::genai_metrics::CallSample {
                operation: op,
                model: info.model.as_deref().unwrap_or(""),
                error_type: out.error_type.as_deref().unwrap_or(""),
                duration_s: RequestCtx::ms(ctx.start, llm_end) / 1e3,
                ttft_s: ttfc.map(|d| d.as_secs_f64()),
                per_chunk_s: per_chunk.map(|d| d.as_secs_f64()),
                usage: out.summary.usage.as_ref(),
            });
        }

        self.end_root(ctx, &info, &out, finished, (surface, metering, ttfc));
    }

    fn child(
        &self,
        ctx: &RequestCtx,
        name: &str,
        kind: SpanKind,
        start: SystemTime,
        attrs: Vec<KeyValue>,
        error: Option<String>,
    ) -> SdkSpan {
        let mut span = self
            .tracer
            .span_builder(name.to_owned())
            .with_kind(kind)
            .with_start_time(start)
            .with_attributes(attrs)
            .start_with_context(&self.tracer, &ctx.root);
        if let Some(description) = error {
            span.set_status(Status::error(description));
        }
        span
    }

    fn end_root(
        &self,
        ctx: &mut RequestCtx,
        info: &RequestInfo,
        out: &Outcome,
        end: Instant,
        (surface, metering, ttfc): (&'static dyn Surface, Metering, Option<std::time::Duration>),
    ) {
        let mut a = span_attrs(KeyValue::new(sc::GATEWAY_STATUS, out.status));
        request_attrs(info, &mut a);
        surface_attrs(surface, metering, &out.summary, info, &mut a);
        if let Some(m) = &out.summary.response_model {
            a.push(KeyValue::new(sc::GEN_AI_RESPONSE_MODEL, m.clone()));
        }
        if let Some(s) = out.http_status {
            a.push(KeyValue::new(sc::HTTP_RESPONSE_STATUS_CODE, i64::from(s)));
        }
        if let Some(e) = &out.error_type {
            a.push(KeyValue::new(sc::ERROR_TYPE, e.clone()));
        }
        if let Some(u) = &out.summary.usage {
            usage_attrs(u, &mut a);
        }
        if let Some(t) = ttfc {
            a.push(KeyValue::new(sc::GATEWAY_TTFT_MS, t.as_secs_f64() * 1e3));
        }
        if let (Some(up), Some(done)) = (ctx.upstream_start, ctx.response_done) {
            let total = RequestCtx::ms(ctx.start, end);
            a.push(KeyValue::new(
                sc::GATEWAY_OVERHEAD_MS,
                (total - RequestCtx::ms(up, done)).max(0.0),
            ));
        }
        let attribution = &ctx.attribution;
        if let Some(u) = &attribution.user_id {
            a.push(KeyValue::new(sc::USER_ID, u.clone()));
        }
        if let Some(s) = &attribution.session_id {
            a.push(KeyValue::new(sc::SESSION_ID, s.clone()));
            a.push(KeyValue::new(sc::GEN_AI_CONVERSATION_ID, s.clone()));
        }
        // Plugin attributes (cost among them) before the client's properties: a span past its
        // attribute limit drops the newest ones, never the gateway's own.
        plugin_attrs(&mut ctx.plugin_out, Step::Root, &mut a);
        for (k, v) in &attribution.properties {
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
        let span = ctx.root.span();
        span.set_attributes(a);
        if out.status == "error" && out.http_status.is_none_or(|s| s >= 500) {
            span.set_status(Status::error(out.error_type.clone().unwrap_or_default()));
        }
        span.end_with_timestamp(ctx.wall(end));
    }
}

fn end(mut span: SdkSpan, ctx: &RequestCtx, at: Instant) {
    span.end_with_timestamp(ctx.wall(at));
}
