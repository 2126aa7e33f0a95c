//! The span plugin around [`compute`](crate::compute).

use crate::{ModelPrice, compute, default_prices, resolve};
use gateway_plugin_sdk::prelude::*;
use gateway_plugin_sdk::semconv as sc;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// `[pricing]` in `gateway.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    /// Per-model prices; they override or extend the shipped table.
    #[serde(default)]
    pub models: HashMap<String, ModelPrice>,
    /// Names priced as another model, e.g. `"tunedModels/my-tune" = "gemini-2.0-flash"`.
    #[serde(default)]
    pub aliases: HashMap<String, String>,
}

/// Computes the cost of every finished model call.
#[derive(Debug)]
pub struct TokenCostPlugin {
    prices: HashMap<String, ModelPrice>,
    aliases: HashMap<String, String>,
    unpriced: Arc<AtomicU64>,
}

impl TokenCostPlugin {
    /// The shipped table with `config` applied on top.
    pub fn new(config: &PricingConfig) -> Self {
        let mut prices = default_prices();
        prices.extend(config.models.clone());
        Self {
            prices,
            aliases: config.aliases.clone(),
            unpriced: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Continues counting on `counter` (used when the configuration is reloaded).
    pub fn with_unpriced_counter(mut self, counter: Arc<AtomicU64>) -> Self {
        self.unpriced = counter;
        self
    }

    /// Counter of calls whose model had no price.
    pub fn unpriced_counter(&self) -> Arc<AtomicU64> {
        self.unpriced.clone()
    }

    fn mark_unpriced(&self, out: &mut PluginOutput, reason: &str) {
        self.unpriced.fetch_add(1, Ordering::Relaxed);
        for step in [Step::Root, Step::PostProcessing] {
            out.attr(step, sc::GATEWAY_COST_UNPRICED, true);
        }
        out.attr(
            Step::PostProcessing,
            sc::GATEWAY_COST_UNPRICED_REASON,
            reason,
        );
    }

    fn zero(out: &mut PluginOutput) {
        for step in [Step::Root, Step::PostProcessing] {
            out.attr(step, sc::GATEWAY_COST_USD, 0.0);
        }
        out.attr(Step::PostProcessing, sc::GATEWAY_COST_INPUT_USD, 0.0);
        out.attr(Step::PostProcessing, sc::GATEWAY_COST_OUTPUT_USD, 0.0);
    }
}

impl SpanPlugin for TokenCostPlugin {
    fn name(&self) -> &str {
        "token_cost"
    }

    fn on_complete(&self, call: &CompletedCall<'_>, out: &mut PluginOutput) {
        let info = call.request.info;
        let Some(op) = info.operation.as_deref() else {
            return; // Files, uploads, listings: not billed per token.
        };
        let failed = call.http_status.is_none_or(|s| s >= 400) || call.status == "error";
        if op == sc::OP_COUNT_TOKENS || failed {
            // countTokens is free and Gemini does not bill failed requests.
            Self::zero(out);
            return;
        }
        let model = info.model.as_deref().unwrap_or("");
        let price = resolve(model, &self.prices, &self.aliases)
            .or_else(|| resolve(call.response_model?, &self.prices, &self.aliases));
        let Some((key, price)) = price else {
            self.mark_unpriced(out, "no price for this model");
            return;
        };
        let Some(usage) = call.usage else {
            self.mark_unpriced(out, "usage not reported by the response");
            return;
        };
        let cost = compute(price, usage);
        for step in [Step::Root, Step::PostProcessing] {
            out.attr(step, sc::GATEWAY_COST_USD, cost.total_usd());
        }
        out.attr(
            Step::PostProcessing,
            sc::GATEWAY_COST_INPUT_USD,
            cost.input_usd,
        );
        out.attr(
            Step::PostProcessing,
            sc::GATEWAY_COST_OUTPUT_USD,
            cost.output_usd,
        );
        out.attr(Step::PostProcessing, sc::GATEWAY_COST_MODEL, key);
        out.attr(
            Step::PostProcessing,
            sc::GATEWAY_COST_TIER,
            if cost.long_context {
                "long_context"
            } else {
                "standard"
            },
        );
    }
}
