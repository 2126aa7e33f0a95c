//! Prometheus metrics of the traces the live tailer sees, rendered with `prometheus-client`.
//!
//! Counters start at zero when the process starts and count traces the tailer has seen since.
//! Model labels are capped at [`MAX_MODELS`] distinct values (later ones become `other`) so a
//! client cannot blow up the label cardinality.

use gateway_store::query::TraceSummary;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

/// Distinct model label values kept before folding into `other`.
pub const MAX_MODELS: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    status: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

type HistogramFamily = Family<ModelLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.025, 2.0, 14))
}

fn ttft_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

/// The registry and the handles the tailer updates.
#[derive(Debug)]
pub struct Prom {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily,
    ttft: HistogramFamily,
    input_tokens: Family<ModelLabels, Counter>,
    output_tokens: Family<ModelLabels, Counter>,
    cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
    unpriced: Family<ModelLabels, Counter>,
    models: Mutex<HashSet<String>>,
}

impl Default for Prom {
    fn default() -> Self {
        let mut p = Self {
            registry: Registry::with_prefix("gateway"),
            requests: Family::default(),
            duration: HistogramFamily::new_with_constructor(duration_histogram),
            ttft: HistogramFamily::new_with_constructor(ttft_histogram),
            input_tokens: Family::default(),
            output_tokens: Family::default(),
            cost: Family::default(),
            unpriced: Family::default(),
            models: Mutex::new(HashSet::new()),
        };
        let r = &mut p.registry;
        r.register(
            "requests",
            "Traces seen, by status and model",
            p.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Trace wall time",
            p.duration.clone(),
        );
        r.register(
            "time_to_first_token_seconds",
            "Time to the first response chunk",
            p.ttft.clone(),
        );
        r.register("input_tokens", "Input tokens", p.input_tokens.clone());
        r.register("output_tokens", "Output tokens", p.output_tokens.clone());
        r.register("cost_usd", "Cost of priced traces in USD", p.cost.clone());
        r.register(
            "unpriced_requests",
            "Traces whose cost is unknown",
            p.unpriced.clone(),
        );
        p
    }
}

impl Prom {
    fn model_label(&self, model: Option<&str>) -> String {
        let Some(m) = model else {
            return "none".into();
        };
        let Ok(mut seen) = self.models.lock() else {
            return "other".into();
        };
        if seen.contains(m) {
            return m.to_owned();
        }
        if seen.len() < MAX_MODELS {
            seen.insert(m.to_owned());
            return m.to_owned();
        }
        "other".into()
    }

    /// Counts one trace.
    pub fn observe(&self, t: &TraceSummary) {
        let model = ModelLabels {
            model: self.model_label(t.model.as_deref()),
        };
        self.requests
            .get_or_create(&RequestLabels {
                status: t.status.clone(),
                model: model.model.clone(),
            })
            .inc();
        self.duration
            .get_or_create(&model)
            .observe(t.duration_ms / 1000.0);
        if let Some(ttft) = t.ttft_ms {
            self.ttft.get_or_create(&model).observe(ttft / 1000.0);
        }
        let tokens = |v: Option<i64>| v.unwrap_or(0).max(0) as u64;
        self.input_tokens
            .get_or_create(&model)
            .inc_by(tokens(t.input_tokens));
        self.output_tokens
            .get_or_create(&model)
            .inc_by(tokens(t.output_tokens));
        match t.cost_usd {
            Some(c) if c.is_finite() && c >= 0.0 => {
                self.cost.get_or_create(&model).inc_by(c);
            }
            _ if t.unpriced => {
                self.unpriced.get_or_create(&model).inc();
            }
            _ => {}
        }
    }

    /// Renders the OpenMetrics text, without the closing `# EOF` line.
    pub fn render(&self, out: &mut String) {
        if prometheus_client::encoding::text::encode(out, &self.registry).is_err() {
            tracing::error!("Could not encode the metrics.");
        }
        if out.ends_with("# EOF\n") {
            out.truncate(out.len() - "# EOF\n".len());
        }
    }
}
