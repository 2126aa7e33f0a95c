//! The built-in metric-snapshot plugin.
//!
//! For every finished model call it emits `latency_ms`, `cost_usd` (when priced) and `ttft_ms`
//! (streams), then resolves the threshold of every metric of the call (its own and those other
//! plugins emitted): a per-model threshold from config, else the global one, else the threshold
//! the emitting plugin proposed. A `None` threshold never breaches. The gateway writes each
//! metric as a `gateway.metric` event on the post-processing span, and the SQLite exporter turns
//! those events into `metric_snapshots` rows. It must run after every other plugin.

use gateway_plugin_sdk::prelude::*;
use gateway_plugin_sdk::semconv as sc;
use serde::Deserialize;
use std::collections::HashMap;

/// `[thresholds]`: metric name → threshold, plus per-model overrides under `models`.
///
/// ```toml
/// [thresholds]
/// latency_ms = 10000
/// cost_usd = 0.05
/// ttft_ms = 2000
/// [thresholds.models."gemini-2.5-pro"]
/// latency_ms = 30000
/// ```
///
/// Omitting `[thresholds]` gives the documented defaults ([`ThresholdsConfig::default`]);
/// a `[thresholds]` section replaces them with exactly what it lists.
#[derive(Debug, Clone, Deserialize)]
pub struct ThresholdsConfig {
    /// Per-model overrides, keyed by the model name as requested (without `models/`).
    #[serde(default)]
    pub models: HashMap<String, HashMap<String, f64>>,
    /// Global thresholds by metric name.
    #[serde(flatten)]
    pub metrics: HashMap<String, f64>,
}

impl Default for ThresholdsConfig {
    /// The defaults `gateway.toml` documents: latency 10 s, cost $0.05, TTFT 2 s.
    fn default() -> Self {
        Self {
            models: HashMap::new(),
            metrics: HashMap::from([
                (LATENCY_MS.to_owned(), 10_000.0),
                (COST_USD.to_owned(), 0.05),
                (TTFT_MS.to_owned(), 2_000.0),
            ]),
        }
    }
}

/// Metric names emitted by this plugin.
pub const LATENCY_MS: &str = "latency_ms";
/// Cost metric.
pub const COST_USD: &str = "cost_usd";
/// Time to first chunk metric.
pub const TTFT_MS: &str = "ttft_ms";
/// Every metric this plugin emits (the names `[thresholds]` accepts without plugin libraries).
pub const BUILTIN_METRICS: [&str; 3] = [LATENCY_MS, COST_USD, TTFT_MS];

/// See the crate documentation.
#[derive(Debug, Clone)]
pub struct MetricSnapshotsPlugin {
    thresholds: ThresholdsConfig,
}

impl MetricSnapshotsPlugin {
    /// A plugin with these thresholds.
    pub fn new(thresholds: ThresholdsConfig) -> Self {
        Self { thresholds }
    }

    /// The threshold of `metric` for `model`, or `proposed` when config has none.
    pub fn threshold(
        &self,
        model: Option<&str>,
        metric: &str,
        proposed: Option<f64>,
    ) -> Option<f64> {
        let model = model.map(|m| m.strip_prefix("models/").unwrap_or(m));
        model
            .and_then(|m| self.thresholds.models.get(m))
            .and_then(|t| t.get(metric))
            .or_else(|| self.thresholds.metrics.get(metric))
            .copied()
            .or(proposed)
    }
}

impl SpanPlugin for MetricSnapshotsPlugin {
    fn name(&self) -> &str {
        "metric_snapshots"
    }

    fn on_complete(&self, call: &CompletedCall<'_>, out: &mut PluginOutput) {
        let info = call.request.info;
        if info.operation.is_some() {
            out.metric(LATENCY_MS, call.timings.total_ms, None);
            if let Some(AttrValue::F64(cost)) = out.get(Step::Root, sc::GATEWAY_COST_USD) {
                let cost = *cost;
                out.metric(COST_USD, cost, None);
            }
            if let (true, Some(ttft)) = (info.stream, call.timings.ttft_ms) {
                out.metric(TTFT_MS, ttft, None);
            }
        }
        let model = info.model.as_deref();
        for m in &mut out.metrics {
            m.threshold = self.threshold(model, &m.name, m.threshold);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cfg() -> ThresholdsConfig {
        toml::from_str(
            "latency_ms = 10000\ncost_usd = 0.05\nttft_ms = 2000\npii_matches = 3\n\
             [models.\"gemini-2.5-pro\"]\nlatency_ms = 30000\n",
        )
        .unwrap()
    }

    #[test]
    fn an_omitted_section_gives_the_documented_defaults() {
        #[derive(Deserialize)]
        struct Root {
            #[serde(default)]
            thresholds: ThresholdsConfig,
        }
        let root: Root = toml::from_str("").unwrap();
        let p = MetricSnapshotsPlugin::new(root.thresholds);
        assert_eq!(p.threshold(None, LATENCY_MS, None), Some(10_000.0));
        assert_eq!(p.threshold(None, COST_USD, None), Some(0.05));
        assert_eq!(p.threshold(None, TTFT_MS, None), Some(2_000.0));
        // A section that lists one metric keeps only that one.
        let root: Root = toml::from_str("[thresholds]\nlatency_ms = 5\n").unwrap();
        let p = MetricSnapshotsPlugin::new(root.thresholds);
        assert_eq!(p.threshold(None, COST_USD, None), None);
    }

    #[test]
    fn model_overrides_then_global_then_proposed() {
        let p = MetricSnapshotsPlugin::new(cfg());
        assert_eq!(
            p.threshold(Some("models/gemini-2.5-pro"), LATENCY_MS, None),
            Some(30000.0)
        );
        assert_eq!(
            p.threshold(Some("gemini-2.0-flash"), LATENCY_MS, None),
            Some(10000.0)
        );
        assert_eq!(
            p.threshold(Some("gemini-2.5-pro"), COST_USD, None),
            Some(0.05)
        );
        assert_eq!(p.threshold(None, "pii_matches", Some(0.0)), Some(3.0));
        assert_eq!(p.threshold(None, "other", Some(7.0)), Some(7.0));
        assert_eq!(p.threshold(None, "other", None), None);
    }

    #[test]
    fn emits_latency_cost_and_ttft_for_streams() {
        let p = MetricSnapshotsPlugin::new(cfg());
        let info = RequestInfo {
            model: Some("gemini-2.5-pro".into()),
            operation: Some("generate_content".into()),
            stream: true,
            ..RequestInfo::default()
        };
        let attribution = Attribution::default();
        let call = CompletedCall {
            request: RequestView {
                trace_id: "t",
                info: &info,
                attribution: &attribution,
                body: b"",
            },
            http_status: Some(200),
            status: "ok",
            usage: None,
            usage_parts: &[],
            timings: Timings {
                total_ms: 31000.0,
                ttft_ms: Some(150.0),
                upstream_ms: None,
            },
            finish_reasons: &[],
            response_model: None,
            service_tier: None,
            metering: gateway_plugin_sdk::Metering::Metered,
            started_at: std::time::SystemTime::now(),
        };
        let mut out = PluginOutput::default();
        out.attr(Step::Root, sc::GATEWAY_COST_USD, 0.5);
        out.metric("pii_matches", 1.0, Some(0.0));
        p.on_complete(&call, &mut out);
        let by_name: HashMap<_, _> = out
            .metrics
            .iter()
            .map(|m| (m.name.as_str(), (m.value, m.threshold)))
            .collect();
        assert_eq!(by_name["latency_ms"], (31000.0, Some(30000.0)));
        assert_eq!(by_name["cost_usd"], (0.5, Some(0.05)));
        assert_eq!(by_name["ttft_ms"], (150.0, Some(2000.0)));
        assert_eq!(by_name["pii_matches"], (1.0, Some(3.0)));
    }
}
