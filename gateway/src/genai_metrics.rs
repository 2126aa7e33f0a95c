//! The GenAI client metrics, recorded once per model call into OpenTelemetry instruments
//! (exported over OTLP when configured) and into Prometheus families of the same names
//! (rendered on `/metrics`), under the generation(s) of `[telemetry] semconv`:
//!
//! - v1.41: `gen_ai.client.operation.duration`, `gen_ai.client.operation.time_to_first_chunk`,
//!   `gen_ai.client.operation.time_per_output_chunk` and the `gen_ai.client.token.usage`
//!   histogram by `gen_ai.token.type`;
//! - latest (the GenAI repository's `main`): `gen_ai.client.inference.duration` and
//!   `gen_ai.client.inference.{time_to_first_chunk,time_per_output_chunk}` for inference calls
//!   (other operations keep `gen_ai.client.operation.duration`), and the counters
//!   `gen_ai.client.inference.usage.*` by `gen_ai.token.modality` (a failed call records 0 with
//!   modality `unknown`).
//!
//! Every name comes from the SDK's `semconv` table. Label values come from clients (the model in
//! the URL) and the upstream (error types), so they are bounded: at most [`MAX_LABEL_VALUES`]
//! distinct values per label, each at most [`MAX_LABEL_LEN`] bytes of `[A-Za-z0-9._:/@-]`;
//! anything else is recorded as `_OTHER` and counted in `gateway_metric_label_overflow_total`.

use crate::span_attrs::{MODALITIES, Modalities};
use gateway_plugin_sdk::Usage;
use gateway_plugin_sdk::semconv as sc;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter as PromCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram as PromHistogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModalityLabels {
    gen_ai_operation_name: String,
    gen_ai_provider_name: String,
    gen_ai_request_model: String,
    gen_ai_token_modality: String,
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
    /// Mean time between content chunks after the first, seconds (streams).
    pub per_chunk_s: Option<f64>,
    /// Usage, when reported.
    pub usage: Option<&'a Usage>,
}

type Hist = Family<Labels, PromHistogram>;

/// A family of duration histograms (seconds).
fn hist() -> Hist {
    Family::new_with_constructor(|| PromHistogram::new(DURATION_BUCKETS))
}

/// The five `gen_ai.client.inference.usage.*` counters, in [`USAGE_COUNTERS`] order.
const USAGE_COUNTERS: [&str; 5] = [
    sc::LATEST_METRIC_USAGE_INPUT_TOKENS,
    sc::LATEST_METRIC_USAGE_OUTPUT_TOKENS,
    sc::LATEST_METRIC_USAGE_CACHE_READ_INPUT_TOKENS,
    sc::LATEST_METRIC_USAGE_CACHE_WRITE_INPUT_TOKENS,
    sc::LATEST_METRIC_USAGE_REASONING_OUTPUT_TOKENS,
];

/// `(modality, tokens)` records of each usage counter for one call: the broken-down modalities
/// with their counts, the rest as `unknown`; a call without usage records 0 as `unknown`.
fn usage_records(u: Option<&Usage>) -> [Vec<(&'static str, u64)>; 5] {
    let Some(u) = u else {
        return std::array::from_fn(|_| vec![(sc::MODALITY_UNKNOWN, 0)]);
    };
    let m = Modalities::of(u);
    let split = |parts: [u64; 3], total: u64| {
        let mut v: Vec<(&'static str, u64)> = MODALITIES
            .iter()
            .zip(parts)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (*k, n))
            .collect();
        let known: u64 = parts.iter().sum();
        if total > known || v.is_empty() {
            v.push((sc::MODALITY_UNKNOWN, total - known.min(total)));
        }
        v
    };
    [
        split(m.input, u.input_tokens()),
        split(m.output, u.output_tokens()),
        split(m.cache_read, u.cached_tokens),
        vec![(sc::MODALITY_UNKNOWN, 0)],
        // Thinking is text.
        vec![("text", u.thoughts_tokens)],
    ]
}

struct Otel {
    duration_v141: Histogram<f64>,
    duration_latest: Histogram<f64>,
    ttfc: Vec<Histogram<f64>>,
    tpoc: Vec<Histogram<f64>>,
    tokens: Histogram<u64>,
    usage: Vec<Counter<u64>>,
}

/// Label sets whose handles [`GenAiMetrics`] keeps (beyond them every call looks its
/// families up, as the first call of a label set does).
const MAX_CACHED: usize = 4_096;

/// Modalities whose usage counters a [`Cached`] keeps.
const CACHED_MODALITIES: [&str; 4] = ["text", "image", "audio", sc::MODALITY_UNKNOWN];

/// The Prometheus handles of one label set, looked up once: a call records with a single
/// map lookup instead of one family lookup (four label strings allocated and hashed) per
/// instrument. Each handle is created at its first use, so that an instrument a label set never
/// recorded is not rendered.
struct Cached {
    labels: Labels,
    op_duration: OnceLock<PromHistogram>,
    inference_duration: OnceLock<PromHistogram>,
    ttfc: [OnceLock<PromHistogram>; 2],
    tpoc: [OnceLock<PromHistogram>; 2],
    tokens: [OnceLock<PromHistogram>; 2],
    usage: [[OnceLock<PromCounter>; 4]; 5],
}

impl Cached {
    fn new(labels: Labels) -> Self {
        Self {
            labels,
            op_duration: OnceLock::new(),
            inference_duration: OnceLock::new(),
            ttfc: Default::default(),
            tpoc: Default::default(),
            tokens: Default::default(),
            usage: Default::default(),
        }
    }

    fn hist<'a>(&self, slot: &'a OnceLock<PromHistogram>, family: &Hist) -> &'a PromHistogram {
        slot.get_or_init(|| family.get_or_create(&self.labels).clone())
    }
}

/// Both sets of instruments.
pub struct GenAiMetrics {
    mode: gateway_config::Semconv,
    otel: Option<Otel>,
    op_duration: Hist,
    inference_duration: Hist,
    ttfc: [Hist; 2],
    tpoc: [Hist; 2],
    tokens: Family<TokenLabels, PromHistogram>,
    usage: Vec<Family<ModalityLabels, PromCounter>>,
    registry: Registry,
    models: LabelGuard,
    errors: LabelGuard,
    overflow: std::sync::atomic::AtomicU64,
    cache: RwLock<HashMap<String, Arc<Cached>>>,
}

/// `gen_ai.client.operation.duration` -> `gen_ai_client_operation_duration`.
fn prom_name(name: &str) -> String {
    name.replace('.', "_")
}

impl GenAiMetrics {
    /// Instruments for the generation in force (`crate::telemetry::semconv`); `meter` adds
    /// the OpenTelemetry side (for OTLP).
    pub fn new(meter: Option<Meter>) -> Self {
        let mode = crate::telemetry::semconv();
        let mut registry = Registry::default();
        let secs = prometheus_client::registry::Unit::Seconds;
        let op_duration = hist();
        let inference_duration = hist();
        let ttfc = [hist(), hist()];
        let tpoc = [hist(), hist()];
        let tokens = Family::<TokenLabels, PromHistogram>::new_with_constructor(|| {
            PromHistogram::new(TOKEN_BUCKETS)
        });
        let usage: Vec<Family<ModalityLabels, PromCounter>> =
            USAGE_COUNTERS.iter().map(|_| Family::default()).collect();
        registry.register_with_unit(
            prom_name(sc::METRIC_OPERATION_DURATION),
            "GenAI operation duration",
            secs.clone(),
            op_duration.clone(),
        );
        if mode.v141() {
            registry.register_with_unit(
                prom_name(sc::V141_METRIC_TIME_TO_FIRST_CHUNK),
                "Time to the first content chunk of streamed calls",
                secs.clone(),
                ttfc[0].clone(),
            );
            registry.register_with_unit(
                prom_name(sc::V141_METRIC_TIME_PER_OUTPUT_CHUNK),
                "Mean time between content chunks after the first, streamed calls",
                secs.clone(),
                tpoc[0].clone(),
            );
            registry.register(
                prom_name(sc::V141_METRIC_TOKEN_USAGE),
                "Billable tokens per call, by gen_ai.token.type",
                tokens.clone(),
            );
        }
        if mode.latest() {
            registry.register_with_unit(
                prom_name(sc::LATEST_METRIC_INFERENCE_DURATION),
                "GenAI inference duration",
                secs.clone(),
                inference_duration.clone(),
            );
            registry.register_with_unit(
                prom_name(sc::LATEST_METRIC_TIME_TO_FIRST_CHUNK),
                "Time to the first content chunk of streamed inference calls",
                secs.clone(),
                ttfc[1].clone(),
            );
            registry.register_with_unit(
                prom_name(sc::LATEST_METRIC_TIME_PER_OUTPUT_CHUNK),
                "Mean time between content chunks after the first, streamed inference calls",
                secs,
                tpoc[1].clone(),
            );
            for (name, family) in USAGE_COUNTERS.iter().zip(&usage) {
                registry.register(
                    prom_name(name),
                    "Tokens of inference calls, by gen_ai.token.modality",
                    family.clone(),
                );
            }
        }
        let otel = meter.map(|m| {
            let seconds = |name: &'static str| {
                m.f64_histogram(name)
                    .with_unit("s")
                    .with_boundaries(DURATION_BUCKETS.to_vec())
                    .build()
            };
            Otel {
                duration_v141: seconds(sc::METRIC_OPERATION_DURATION),
                duration_latest: seconds(sc::LATEST_METRIC_INFERENCE_DURATION),
                ttfc: vec![
                    seconds(sc::V141_METRIC_TIME_TO_FIRST_CHUNK),
                    seconds(sc::LATEST_METRIC_TIME_TO_FIRST_CHUNK),
                ],
                tpoc: vec![
                    seconds(sc::V141_METRIC_TIME_PER_OUTPUT_CHUNK),
                    seconds(sc::LATEST_METRIC_TIME_PER_OUTPUT_CHUNK),
                ],
                tokens: m
                    .u64_histogram(sc::V141_METRIC_TOKEN_USAGE)
                    .with_unit("{token}")
                    .with_boundaries(TOKEN_BUCKETS.to_vec())
                    .build(),
                usage: USAGE_COUNTERS
                    .iter()
                    .map(|n| m.u64_counter(*n).with_unit("{token}").build())
                    .collect(),
            }
        });
        Self {
            mode,
            otel,
            op_duration,
            inference_duration,
            ttfc,
            tpoc,
            tokens,
            usage,
            registry,
            models: LabelGuard::default(),
            errors: LabelGuard::default(),
            overflow: std::sync::atomic::AtomicU64::new(0),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Label values replaced by `_OTHER` so far.
    pub fn label_overflow(&self) -> u64 {
        self.overflow.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The handles of one label set: from the cache when this (operation, model, error type)
    /// was seen before, else built (and kept, while the cache has room and no label value was
    /// replaced by `_OTHER`, so that overflow is counted on every call as before).
    fn handles(&self, s: &CallSample<'_>) -> Arc<Cached> {
        let key = format!("{}\0{}\0{}", s.operation, s.model, s.error_type);
        if let Some(c) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return c.clone();
        }
        let model = self.models.admit(s.model, &self.overflow);
        let error_type = if s.error_type.is_empty() {
            String::new()
        } else {
            self.errors.admit(s.error_type, &self.overflow)
        };
        let kept = model != OTHER && error_type != OTHER;
        let c = Arc::new(Cached::new(Labels {
            gen_ai_operation_name: s.operation.to_owned(),
            gen_ai_provider_name: sc::PROVIDER_GCP_GEMINI.to_owned(),
            gen_ai_request_model: model,
            error_type,
        }));
        if kept {
            let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
            if cache.len() < MAX_CACHED {
                cache.insert(key, c.clone());
            }
        }
        c
    }

    /// Records one call.
    pub fn record(&self, s: &CallSample<'_>) {
        let c = self.handles(s);
        let labels = &c.labels;
        let s = &CallSample {
            model: &labels.gen_ai_request_model,
            error_type: &labels.error_type,
            ..*s
        };
        let (v141, latest) = (self.mode.v141(), self.mode.latest());
        let inference = crate::span_attrs::is_inference(Some(s.operation));
        // On `main`, `gen_ai.client.operation.duration` is "not for inference".
        let op_duration = v141 || !inference;
        let latest_inference = latest && inference;
        if op_duration {
            c.hist(&c.op_duration, &self.op_duration)
                .observe(s.duration_s);
        }
        if latest_inference {
            c.hist(&c.inference_duration, &self.inference_duration)
                .observe(s.duration_s);
        }
        let gens = [v141, latest_inference];
        for (i, on) in gens.into_iter().enumerate() {
            if !on {
                continue;
            }
            if let Some(t) = s.ttft_s {
                c.hist(&c.ttfc[i], &self.ttfc[i]).observe(t);
            }
            if let Some(t) = s.per_chunk_s {
                c.hist(&c.tpoc[i], &self.tpoc[i]).observe(t);
            }
        }
        let tokens = s.usage.map(|u| (u.input_tokens(), u.output_tokens()));
        if v141 && let Some((input, output)) = tokens {
            for (i, (kind, n)) in [("input", input), ("output", output)]
                .into_iter()
                .enumerate()
            {
                c.tokens[i]
                    .get_or_init(|| {
                        self.tokens
                            .get_or_create(&TokenLabels {
                                gen_ai_operation_name: s.operation.to_owned(),
                                gen_ai_request_model: s.model.to_owned(),
                                gen_ai_token_type: kind.to_owned(),
                            })
                            .clone()
                    })
                    .observe(n as f64);
            }
        }
        // Counters: every inference call that reported usage, and every failed one (0, unknown).
        let counted = latest_inference && (s.usage.is_some() || !s.error_type.is_empty());
        let records = counted.then(|| usage_records(s.usage));
        if let Some(records) = &records {
            for ((family, slots), recs) in self.usage.iter().zip(&c.usage).zip(records) {
                for (modality, n) in recs {
                    let make = || {
                        family
                            .get_or_create(&ModalityLabels {
                                gen_ai_operation_name: s.operation.to_owned(),
                                gen_ai_provider_name: sc::PROVIDER_GCP_GEMINI.to_owned(),
                                gen_ai_request_model: s.model.to_owned(),
                                gen_ai_token_modality: (*modality).to_owned(),
                            })
                            .clone()
                    };
                    match CACHED_MODALITIES.iter().position(|m| m == modality) {
                        Some(i) => slots[i].get_or_init(make).inc_by(*n),
                        None => make().inc_by(*n),
                    };
                }
            }
        }
        if let Some(o) = &self.otel {
            let mut attrs = vec![
                KeyValue::new(sc::GEN_AI_OPERATION_NAME, s.operation.to_owned()),
                KeyValue::new(sc::GEN_AI_PROVIDER_NAME, sc::PROVIDER_GCP_GEMINI),
                KeyValue::new(sc::GEN_AI_REQUEST_MODEL, s.model.to_owned()),
            ];
            let base = attrs.clone();
            if !s.error_type.is_empty() {
                attrs.push(KeyValue::new(sc::ERROR_TYPE, s.error_type.to_owned()));
            }
            if op_duration {
                o.duration_v141.record(s.duration_s, &attrs);
            }
            if latest_inference {
                o.duration_latest.record(s.duration_s, &attrs);
            }
            for (i, on) in gens.into_iter().enumerate() {
                if !on {
                    continue;
                }
                if let Some(t) = s.ttft_s {
                    o.ttfc[i].record(t, &attrs);
                }
                if let Some(t) = s.per_chunk_s {
                    o.tpoc[i].record(t, &attrs);
                }
            }
            if v141 && let Some((input, output)) = tokens {
                for (kind, n) in [("input", input), ("output", output)] {
                    let mut a = base.clone();
                    a.push(KeyValue::new(sc::GEN_AI_TOKEN_TYPE, kind));
                    o.tokens.record(n, &a);
                }
            }
            if let Some(records) = &records {
                for (counter, recs) in o.usage.iter().zip(records) {
                    for (modality, n) in recs {
                        let mut a = attrs.clone();
                        a.push(KeyValue::new(sc::GEN_AI_TOKEN_MODALITY, *modality));
                        counter.add(*n, &a);
                    }
                }
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

    const USAGE: Usage = gateway_plugin_sdk::testing::USAGE;

    fn sample(model: &str) -> CallSample<'_> {
        CallSample {
            operation: "generate_content",
            model,
            error_type: "",
            duration_s: 0.1,
            ttft_s: None,
            per_chunk_s: None,
            usage: Some(&USAGE),
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
