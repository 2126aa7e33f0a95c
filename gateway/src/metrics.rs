//! Gateway-internal counters in Prometheus text: the span writer (exported, dropped by reason,
//! queue depth), plugins (calls, errors and time per hook) and unpriced requests. The API appends
//! this to its `/metrics` when it runs inside the gateway.

use crate::proxy::Runtime;
use arc_swap::ArcSwap;
use gateway_sqlite::ExportStats;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Gateway requests whose `traces` row is unpriced, by the store's one rule
/// ([`gateway_store::is_unpriced`]): counted from each request's root span as it reaches the
/// SQLite writer, so the counter and the dashboard's unpriced count agree (deferred, free and
/// failed-before-usage requests are in neither). Nothing is counted with `[builtins] sqlite`
/// off.
pub static UNPRICED_CALLS: AtomicU64 = AtomicU64::new(0);

/// Counts `span` in [`UNPRICED_CALLS`] when it is an unpriced request's root span.
pub(crate) fn count_unpriced(span: &opentelemetry_sdk::trace::SpanData) {
    if gateway_sqlite::is_unpriced_root(span) {
        UNPRICED_CALLS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything the gateway counts about itself.
#[derive(Clone)]
pub struct GatewayMetrics {
    /// The SQLite writer's counters.
    pub sqlite: Arc<ExportStats>,
    /// The live runtime (plugin host with per-hook measurements, unpriced counter).
    pub runtime: Arc<ArcSwap<Runtime>>,
    /// The OTLP exporter's counters, when configured.
    pub otlp: Option<Arc<ExportStats>>,
    /// GenAI client histograms.
    pub genai: Arc<crate::genai_metrics::GenAiMetrics>,
    /// The completion thread's counters.
    pub completions: Arc<crate::completion::CompletionStats>,
    /// The shared memory budget for request bodies.
    pub body_budget: Arc<crate::body_budget::BodyBudget>,
    /// Client connections: open, refused at the cap, timed out before a request header.
    pub connections: Arc<crate::connections::ConnectionStats>,
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl GatewayMetrics {
    /// Appends the Prometheus text exposition of these counters.
    pub fn render(&self, out: &mut String) {
        let s = &self.sqlite;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        metric(
            out,
            "gateway_spans_exported_total",
            "counter",
            "Spans written to SQLite.",
        );
        let _ = writeln!(out, "gateway_spans_exported_total {}", load(&s.exported));
        metric(
            out,
            "gateway_spans_dropped_total",
            "counter",
            "Spans lost, by reason.",
        );
        let _ = writeln!(
            out,
            "gateway_spans_dropped_total{{reason=\"queue_full\"}} {}",
            load(&s.dropped_queue_full)
        );
        let _ = writeln!(
            out,
            "gateway_spans_dropped_total{{reason=\"export_error\"}} {}",
            load(&s.dropped_export_error)
        );
        let _ = writeln!(
            out,
            "gateway_spans_dropped_total{{reason=\"file_replaced\"}} {}",
            load(&s.dropped_file_replaced)
        );
        for (name, help, value) in [
            (
                "gateway_traces_dropped_total",
                "Gateway requests whose trace summary (traces row) was lost with its spans, any reason.",
                &s.dropped_traces,
            ),
            (
                "gateway_metric_snapshots_dropped_total",
                "metric_snapshots rows (the alert feed) lost with their spans, any reason.",
                &s.dropped_metric_rows,
            ),
            (
                "gateway_breached_snapshots_dropped_total",
                "Breached metric_snapshots rows (alerts) lost with their spans, any reason.",
                &s.dropped_breached_rows,
            ),
            (
                "gateway_span_write_retries_total",
                "Batches written again because another connection held the write lock past busy_timeout_ms.",
                &s.busy_retries,
            ),
        ] {
            metric(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", load(value));
        }
        metric(
            out,
            "gateway_span_export_errors_total",
            "counter",
            "Failed write batches.",
        );
        let _ = writeln!(
            out,
            "gateway_span_export_errors_total {}",
            load(&s.export_errors)
        );
        metric(
            out,
            "gateway_writer_queue_depth",
            "gauge",
            "Spans waiting for the writer.",
        );
        let _ = writeln!(out, "gateway_writer_queue_depth {}", s.queue_depth());
        metric(
            out,
            "gateway_writer_queue_bytes",
            "gauge",
            "Span data waiting for the writer, in bytes as the queue estimates them.",
        );
        let _ = writeln!(out, "gateway_writer_queue_bytes {}", s.queue_bytes());
        metric(
            out,
            "gateway_writer_queue_bytes_limit",
            "gauge",
            "The writer queue's bound in those bytes, past which spans are dropped (queue_full).",
        );
        let _ = writeln!(
            out,
            "gateway_writer_queue_bytes_limit {}",
            s.queue_bytes_limit()
        );
        let c = &self.completions;
        metric(
            out,
            "gateway_completion_queue_depth",
            "gauge",
            "Finished requests waiting for the completion thread (hooks and spans).",
        );
        let _ = writeln!(out, "gateway_completion_queue_depth {}", c.queue_depth());
        metric(
            out,
            "gateway_completions_inline_total",
            "counter",
            "Requests finished on a proxy thread because the completion thread was behind.",
        );
        let _ = writeln!(out, "gateway_completions_inline_total {}", load(&c.inline));
        metric(
            out,
            "gateway_writer_priority_boosts_total",
            "counter",
            "Times a backlog moved the SQLite writer from background to normal priority.",
        );
        let _ = writeln!(
            out,
            "gateway_writer_priority_boosts_total {}",
            load(&s.priority_boosts)
        );
        metric(
            out,
            "gateway_writer_priority_urgent_total",
            "counter",
            "Times a half-full queue raised the SQLite writer to high priority (nice -10): \
             under sustained overload the proxy then answers only as fast as traces are stored.",
        );
        let _ = writeln!(
            out,
            "gateway_writer_priority_urgent_total {}",
            load(&s.priority_urgent)
        );
        if let Some(o) = &self.otlp {
            metric(
                out,
                "gateway_otlp_spans_exported_total",
                "counter",
                "Spans sent over OTLP.",
            );
            let _ = writeln!(
                out,
                "gateway_otlp_spans_exported_total {}",
                load(&o.exported)
            );
            metric(
                out,
                "gateway_otlp_spans_dropped_total",
                "counter",
                "Spans not sent over OTLP, by reason.",
            );
            let _ = writeln!(
                out,
                "gateway_otlp_spans_dropped_total{{reason=\"queue_full\"}} {}",
                load(&o.dropped_queue_full)
            );
            let _ = writeln!(
                out,
                "gateway_otlp_spans_dropped_total{{reason=\"export_error\"}} {}",
                load(&o.dropped_export_error)
            );
            metric(
                out,
                "gateway_otlp_queue_depth",
                "gauge",
                "Spans waiting for OTLP export.",
            );
            let _ = writeln!(out, "gateway_otlp_queue_depth {}", o.queue_depth());
        }
        self.genai.render(out);
        let rt = self.runtime.load();
        metric(
            out,
            "gateway_unpriced_calls_total",
            "counter",
            "Requests whose usage was metered but not priced (cost unknown, never $0).",
        );
        let _ = writeln!(
            out,
            "gateway_unpriced_calls_total {}",
            load(&UNPRICED_CALLS)
        );
        if let Some(d) = &rt.downgrades {
            metric(
                out,
                "gateway_service_tier_downgrades_total",
                "counter",
                "Priority requests served (and priced) at the standard tier.",
            );
            let _ = writeln!(out, "gateway_service_tier_downgrades_total {}", load(d));
        }
        metric(
            out,
            "gateway_parse_budget_bytes_held",
            "gauge",
            "Request-body bytes kept for parsing right now, across all requests.",
        );
        let _ = writeln!(
            out,
            "gateway_parse_budget_bytes_held {}",
            self.body_budget.held()
        );
        metric(
            out,
            "gateway_parse_budget_refusals_total",
            "counter",
            "Requests forwarded uninspected because the request-body memory budget was in use.",
        );
        let _ = writeln!(
            out,
            "gateway_parse_budget_refusals_total {}",
            self.body_budget.refused()
        );
        let conns = &self.connections;
        metric(
            out,
            "gateway_client_connections_open",
            "gauge",
            "Client connections being served.",
        );
        let _ = writeln!(
            out,
            "gateway_client_connections_open {}",
            conns.open.load(Ordering::Relaxed)
        );
        metric(
            out,
            "gateway_client_connections_refused_total",
            "counter",
            "Client connections closed at once because the connection cap was reached.",
        );
        let _ = writeln!(
            out,
            "gateway_client_connections_refused_total {}",
            load(&conns.refused)
        );
        metric(
            out,
            "gateway_client_header_timeouts_total",
            "counter",
            "Client connections closed because a request header did not arrive within proxy.header_timeout_seconds.",
        );
        let _ = writeln!(
            out,
            "gateway_client_header_timeouts_total {}",
            load(&conns.header_timeouts)
        );
        metric(
            out,
            "gateway_unmetered_usage_total",
            "counter",
            "Answers that carried usage on a path no Gemini surface recognises.",
        );
        let _ = writeln!(
            out,
            "gateway_unmetered_usage_total {}",
            crate::surfaces::unmetered()
        );
        metric(
            out,
            "gateway_response_decode_errors_total",
            "counter",
            "Compressed answers the observer could not fully decode (the client got them intact).",
        );
        let _ = writeln!(
            out,
            "gateway_response_decode_errors_total {}",
            crate::surfaces::decode_errors()
        );
        let report = rt.plugins.report();
        metric(
            out,
            "gateway_plugin_hook_calls_total",
            "counter",
            "Plugin hook invocations.",
        );
        metric(
            out,
            "gateway_plugin_errors_total",
            "counter",
            "Plugin hook failures (panics or reported errors).",
        );
        metric(
            out,
            "gateway_plugin_hook_seconds_total",
            "counter",
            "Time spent in plugin hooks.",
        );
        for p in report {
            let name = escape(&p.name);
            for (hook, (calls, errors, nanos)) in
                [("on_request", p.on_request), ("on_complete", p.on_complete)]
            {
                let labels = format!("plugin=\"{name}\",kind=\"{}\",hook=\"{hook}\"", p.kind);
                let _ = writeln!(out, "gateway_plugin_hook_calls_total{{{labels}}} {calls}");
                let _ = writeln!(out, "gateway_plugin_errors_total{{{labels}}} {errors}");
                let _ = writeln!(
                    out,
                    "gateway_plugin_hook_seconds_total{{{labels}}} {}",
                    nanos as f64 / 1e9
                );
            }
        }
    }
}

impl gateway_api::ExtraMetrics for GatewayMetrics {
    fn render(&self, out: &mut String) {
        GatewayMetrics::render(self, out);
    }

    fn health(&self) -> Option<String> {
        self.sqlite.health_problem()
    }
}
