//! The GenAI client metrics (`gen_ai.client.token.usage`, `gen_ai.client.operation.duration`,
//! `gen_ai.client.operation.time_to_first_chunk`), recorded once per model call into
//! OpenTelemetry histograms (exported over OTLP when configured) and into Prometheus histograms
//! of the same names (rendered on `/metrics`).
//!
//! Label values come from clients (the model in the URL) and the upstream (error types), so
//! they are bounded: at most [`MAX_LABEL_VALUES`] distinct values per label, each at most
//! [`MAX_LABEL_LEN`] bytes of `[A-Za-z0-9._:/@-]`; anything else is recorded as `_OTHER` and
//! counted in `gateway_metric_label_overflow_total`.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram as PromHistogram;
use prometheus_client::registry::Registry;

/// Semconv bucket advice for durations (seconds).
const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// Semconv bucket advice for token counts.
const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// Distinct values admitted per label.
pub const MAX_LABEL_VALUES: usize = 200;
/// Longest label value admitted, in bytes.
pub const MAX_LABEL_LEN: usize = 96;
const OTHER: &str = "_OTHER";

/// The distinct values one label has admitted.
#[derive(Default)]
struct LabelGuard {
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl LabelGuard {
    /// `value` itself when it is well formed and known or there is room, else `_OTHER`.
    fn admit(&self, value: &str, overflow: &std::sync::atomic::AtomicU64) -> String {
        let well_formed = value.len() <= MAX_LABEL_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:/@-".contains(&b));
        if well_formed {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.contains(value) {
                return value.to_owned();
            }
            if seen.len() < MAX_LABEL_VALUES {
                seen.insert(value.to_owned());
                return value.to_owned();
            }
        }
        overflow.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        OTHER.to_owned()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    gen_ai_operation_name: String,
    gen_ai_provider_name: String,
    gen_ai_request_model: String,
    error_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    gen_ai_operation_name: String,
    gen_ai_request_model: String,
    gen_ai_token_type: String,
}

/// One finished model call, as the metrics see it.
#[derive(Debug, Clone, Copy)]
pub struct CallSample<'a> {
    /// `gen_ai.operation.name`.
    pub operation: &'a str,
    /// `gen_ai.request.model`.
    pub model: &'a str,
    /// `error.type`, empty when the call succeeded.
    pub error_type: &'a str,
    /// Client-observed duration, seconds.
    pub duration_s: f64,
    /// Time to first chunk, seconds (streams).
    pub ttft_s: Option<f64>,
    /// Billable input and output tokens, when reported.
    pub tokens: Option<(u64, u64)>,
}

/// Both sets of instruments.
pub struct GenAiMetrics {
    otel: Option<(Histogram<f64>, Histogram<f64>, Histogram<u64>)>,
    duration: Family<Labels, PromHistogram>,
    ttft: Family<Labels, PromHistogram>,
    tokens: Family<TokenLabels, PromHistogram>,
    registry: Registry,
    models: LabelGuard,
    errors: LabelGuard,
    overflow: std::sync::atomic::AtomicU64,
}

impl GenAiMetrics {
    /// Instruments; `meter` adds the OpenTelemetry side (for OTLP).
    pub fn new(meter: Option<Meter>) -> Self {
        let duration = Family::<Labels, PromHistogram>::new_with_constructor(|| {
            PromHistogram::new(DURATION_BUCKETS)
        });
        let ttft = Family::<Labels, PromHistogram>::new_with_constructor(|| {
            PromHistogram::new(DURATION_BUCKETS)
        });
        let tokens = Family::<TokenLabels, PromHistogram>::new_with_constructor(|| {
            PromHistogram::new(TOKEN_BUCKETS)
        });
        let mut registry = Registry::default();
        registry.register_with_unit(
            "gen_ai_client_operation_duration",
            "GenAI operation duration",
            prometheus_client::registry::Unit::Seconds,
            duration.clone(),
        );
        registry.register_with_unit(
            "gen_ai_client_operation_time_to_first_chunk",
            "Time to the first response chunk of streamed calls",
            prometheus_client::registry::Unit::Seconds,
            ttft.clone(),
        );
        registry.register(
            "gen_ai_client_token_usage",
            "Billable tokens per call, by gen_ai.token.type",
            tokens.clone(),
        );
        let otel = meter.map(|m| {
            (
                m.f64_histogram("gen_ai.client.operation.duration")
                    .with_unit("s")
                    .with_boundaries(DURATION_BUCKETS.to_vec())
                    .build(),
                m.f64_histogram("gen_ai.client.operation.time_to_first_chunk")
                    .with_unit("s")
                    .with_boundaries(DURATION_BUCKETS.to_vec())
                    .build(),
                m.u64_histogram("gen_ai.client.token.usage")
                    .with_unit("{token}")
                    .with_boundaries(TOKEN_BUCKETS.to_vec())
                    .build(),
            )
        });
        Self {
            otel,
            duration,
            ttft,
            tokens,
            registry,
            models: LabelGuard::default(),
            errors: LabelGuard::default(),
            overflow: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Label values replaced by `_OTHER` so far.
    pub fn label_overflow(&self) -> u64 {
        self.overflow.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records one call.
    pub fn record(&self, s: &CallSample<'_>) {
        let model = self.models.admit(s.model, &self.overflow);
        let error_type = if s.error_type.is_empty() {
            String::new()
        } else {
            self.errors.admit(s.error_type, &self.overflow)
        };
        let s = &CallSample {
            model: &model,
            error_type: &error_type,
            ..*s
        };
        let labels = Labels {
            gen_ai_operation_name: s.operation.to_owned(),
            gen_ai_provider_name: gateway_plugin_sdk::semconv::PROVIDER_GCP_GEMINI.to_owned(),
            gen_ai_request_model: s.model.to_owned(),
            error_type: s.error_type.to_owned(),
        };
        self.duration.get_or_create(&labels).observe(s.duration_s);
        if let Some(t) = s.ttft_s {
            self.ttft.get_or_create(&labels).observe(t);
        }
        let token_labels = |kind: &str| TokenLabels {
            gen_ai_operation_name: s.operation.to_owned(),
            gen_ai_request_model: s.model.to_owned(),
            gen_ai_token_type: kind.to_owned(),
        };
        if let Some((input, output)) = s.tokens {
            self.tokens
                .get_or_create(&token_labels("input"))
                .observe(input as f64);
            self.tokens
                .get_or_create(&token_labels("output"))
                .observe(output as f64);
        }
        if let Some((duration, ttft, tokens)) = &self.otel {
            use gateway_plugin_sdk::semconv as sc;
            let mut attrs = vec![
                KeyValue::new(sc::GEN_AI_OPERATION_NAME, s.operation.to_owned()),
                KeyValue::new(sc::GEN_AI_PROVIDER_NAME, sc::PROVIDER_GCP_GEMINI),
                KeyValue::new(sc::GEN_AI_REQUEST_MODEL, s.model.to_owned()),
            ];
            if !s.error_type.is_empty() {
                attrs.push(KeyValue::new(sc::ERROR_TYPE, s.error_type.to_owned()));
            }
            duration.record(s.duration_s, &attrs);
            if let Some(t) = s.ttft_s {
                ttft.record(t, &attrs);
            }
            if let Some((input, output)) = s.tokens {
                attrs.truncate(3);
                attrs.push(KeyValue::new(sc::GEN_AI_TOKEN_TYPE, "input"));
                tokens.record(input, &attrs);
                attrs.pop();
                attrs.push(KeyValue::new(sc::GEN_AI_TOKEN_TYPE, "output"));
                tokens.record(output, &attrs);
            }
        }
    }

    /// Appends the Prometheus text of the histograms.
    pub fn render(&self, out: &mut String) {
        let _ = prometheus_client::encoding::text::encode_registry(out, &self.registry);
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP gateway_metric_label_overflow_total Label values recorded as _OTHER (too long, \
             malformed, or past {MAX_LABEL_VALUES} distinct values).\n\
             # TYPE gateway_metric_label_overflow_total counter\n\
             gateway_metric_label_overflow_total {}",
            self.label_overflow()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(model: &str) -> CallSample<'_> {
        CallSample {
            operation: "generate_content",
            model,
            error_type: "",
            duration_s: 0.1,
            ttft_s: None,
            tokens: Some((1, 1)),
        }
    }

    #[test]
    fn hostile_model_names_cannot_grow_the_label_set() {
        let m = GenAiMetrics::new(None);
        m.record(&sample("gemini-3.8-flash"));
        let long = "x".repeat(1024);
        m.record(&sample(&long));
        m.record(&sample("bad model\nname"));
        for i in 0..(MAX_LABEL_VALUES + 50) {
            m.record(&sample(&format!("model-{i}")));
        }
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("gen_ai_request_model=\"gemini-3.8-flash\""));
        assert!(!out.contains(&long));
        assert!(!out.contains("bad model"));
        // 1 long + 1 malformed + the names past the cap (one slot went to gemini-3.8-flash).
        assert_eq!(m.label_overflow(), 2 + 51);
        let distinct: std::collections::HashSet<&str> = out
            .lines()
            .filter(|l| l.starts_with("gen_ai_client_operation_duration") && l.contains("_count{"))
            .filter_map(|l| l.split("gen_ai_request_model=\"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(distinct.len(), MAX_LABEL_VALUES + 1, "the cap plus _OTHER");
    }
}
