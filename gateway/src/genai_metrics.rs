//! The GenAI client metrics (`gen_ai.client.token.usage`, `gen_ai.client.operation.duration`,
//! `gen_ai.client.operation.time_to_first_chunk`), recorded once per model call into
//! OpenTelemetry histograms (exported over OTLP when configured) and into Prometheus histograms
//! of the same names (rendered on `/metrics`).

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
        }
    }

    /// Records one call.
    pub fn record(&self, s: &CallSample<'_>) {
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
    }
}
