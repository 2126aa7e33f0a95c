//! The span plugin around [`PriceBook`] and [`compute`](crate::compute): which call is priced,
//! by which model and tier, and the attributes it writes.

use crate::{PriceBook, PricingConfig, Resolved, compute, compute_each};
use gateway_plugin_sdk::prelude::*;
use gateway_plugin_sdk::semconv as sc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const BOTH: [Step; 2] = [Step::Root, Step::PostProcessing];

/// Computes the cost of every finished model call.
#[derive(Debug)]
pub struct TokenCostPlugin {
    book: PriceBook,
    unpriced: Arc<AtomicU64>,
    downgraded: Arc<AtomicU64>,
}

impl TokenCostPlugin {
    /// The shipped table with `config` applied on top. Never fails: whatever part of `config`
    /// does not build is left out (validate with [`PricingConfig::build`] or use
    /// [`try_new`](Self::try_new) to be told).
    pub fn new(config: &PricingConfig) -> Self {
        Self::from_book(config.build_lenient())
    }

    /// The shipped table with `config` applied on top, or the error naming the bad entry.
    pub fn try_new(config: &PricingConfig) -> Result<Self, String> {
        config.build().map(Self::from_book)
    }

    /// A plugin over an already built book.
    pub fn from_book(book: PriceBook) -> Self {
        Self {
            book,
            unpriced: Arc::new(AtomicU64::new(0)),
            downgraded: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The price book in use.
    pub fn book(&self) -> &PriceBook {
        &self.book
    }

    /// Continues counting on `counter` (used when the configuration is reloaded).
    pub fn with_unpriced_counter(mut self, counter: Arc<AtomicU64>) -> Self {
        self.unpriced = counter;
        self
    }

    /// Counter of calls left unpriced (no price, no usage, implausible usage).
    pub fn unpriced_counter(&self) -> Arc<AtomicU64> {
        self.unpriced.clone()
    }

    /// Continues counting downgrades on `counter` (used when the configuration is reloaded).
    pub fn with_downgrade_counter(mut self, counter: Arc<AtomicU64>) -> Self {
        self.downgraded = counter;
        self
    }

    /// Counter of calls that asked for `priority` and were served at `standard`.
    pub fn downgrade_counter(&self) -> Arc<AtomicU64> {
        self.downgraded.clone()
    }

    fn mark_unpriced(&self, out: &mut PluginOutput, reason: &str) {
        self.unpriced.fetch_add(1, Ordering::Relaxed);
        for step in BOTH {
            out.attr(step, sc::GATEWAY_COST_UNPRICED, true);
        }
        let pp = Step::PostProcessing;
        out.attr(pp, sc::GATEWAY_COST_UNPRICED_REASON, reason);
    }

    fn zero(out: &mut PluginOutput) {
        for step in BOTH {
            out.attr(step, sc::GATEWAY_COST_USD, 0.0);
        }
        out.attr(Step::PostProcessing, sc::GATEWAY_COST_INPUT_USD, 0.0);
        out.attr(Step::PostProcessing, sc::GATEWAY_COST_OUTPUT_USD, 0.0);
    }

    fn price(&self, call: &CompletedCall<'_>, out: &mut PluginOutput) {
        let info = call.request.info;
        let requested = info.model.as_deref().filter(|m| !m.is_empty());
        let served = call.response_model.filter(|m| !m.is_empty());
        if call.metering == Metering::Unknown
            && call.usage.is_none()
            && requested.is_none()
            && served.is_none()
        {
            return; // An unknown path with nothing to price: not a model call.
        }
        if let (Some(r), Some(s)) = (requested, served)
            && !self.book.same_model(r, s)
        {
            for step in BOTH {
                out.attr(step, sc::GATEWAY_MODEL_ROUTED, true);
            }
        }
        let served_tier = call.service_tier.filter(|t| !t.is_empty());
        let requested_tier = info.service_tier.as_deref().filter(|t| !t.is_empty());
        let tier = served_tier.or(requested_tier).unwrap_or("standard");
        for step in BOTH {
            out.attr(step, sc::GATEWAY_SERVICE_TIER, tier);
        }
        if requested_tier == Some("priority") && served_tier == Some("standard") {
            self.downgraded.fetch_add(1, Ordering::Relaxed);
            for step in BOTH {
                out.attr(step, sc::GATEWAY_SERVICE_TIER_DOWNGRADED, true);
            }
        }
        if call.usage.is_none() && call.status != "ok" {
            // Failed, or cut before any usage: nothing was metered, so nothing is unpriced
            // (the rule the writer applies, `gateway_store::is_unpriced`).
            return;
        }
        // The served model prices the call. One the table lacks is not priced at the requested
        // model's rates: that would be a guess (gemini-3.1-flash-image is answered by
        // gemini-nano-banana-2.1, whose price is not published).
        let model = match (served, requested) {
            (Some(s), _) if self.book.key(s).is_some() => Some(s),
            (Some(s), Some(r)) if !self.book.same_model(r, s) => {
                let reason = format!("served by {s}, which has no price (requested {r})");
                return self.mark_unpriced(out, &reason);
            }
            (s, r) => r.or(s),
        };
        let Some(model) = model else {
            return self.mark_unpriced(out, "no model in the request or the response");
        };
        let resolved = match self.book.try_lookup(model, tier, call.started_at) {
            Ok(r) => r,
            Err(reason) => return self.mark_unpriced(out, &reason),
        };
        let Some(usage) = call.usage else {
            return self.mark_unpriced(out, "usage not reported by the response");
        };
        let cost = if call.usage_parts.is_empty() {
            compute(&resolved.price, usage)
        } else {
            compute_each(&resolved.price, call.usage_parts)
        };
        let Some(cost) = cost else {
            return self.mark_unpriced(out, "implausible usage");
        };
        write_cost(out, &resolved, &cost);
    }
}

fn write_cost(out: &mut PluginOutput, r: &Resolved<'_>, cost: &crate::Cost) {
    let pp = Step::PostProcessing;
    for step in BOTH {
        out.attr(step, sc::GATEWAY_COST_USD, money(cost.total_usd()));
    }
    out.attr(pp, sc::GATEWAY_COST_INPUT_USD, money(cost.input_usd));
    out.attr(pp, sc::GATEWAY_COST_OUTPUT_USD, money(cost.output_usd));
    if cost.grounding_usd > 0.0 {
        out.attr(
            pp,
            sc::GATEWAY_COST_GROUNDING_USD,
            money(cost.grounding_usd),
        );
    }
    out.attr(pp, sc::GATEWAY_COST_MODEL, r.model);
    let context = if cost.long_context {
        "long_context"
    } else {
        "standard"
    };
    out.attr(pp, sc::GATEWAY_COST_TIER, context);
    if let Some(from) = r.effective_from {
        out.attr(pp, sc::GATEWAY_COST_EFFECTIVE_FROM, from);
    }
    if r.derived {
        let rule = format!("{}; {} = 50% of standard", r.source, r.tier.as_str());
        out.attr(pp, sc::GATEWAY_COST_SOURCE, rule);
    } else {
        out.attr(pp, sc::GATEWAY_COST_SOURCE, r.source);
    }
}

impl SpanPlugin for TokenCostPlugin {
    fn name(&self) -> &str {
        "token_cost"
    }

    fn on_complete(&self, call: &CompletedCall<'_>, out: &mut PluginOutput) {
        if crate::storage::opens_interval(call) {
            crate::storage::write_rate(&self.book, call, out);
        }
        match call.metering {
            Metering::Deferred => return, // Metered later, when its result is fetched.
            Metering::Free => return Self::zero(out),
            Metering::Metered | Metering::Unknown => {}
        }
        if call.request.info.operation.as_deref() == Some(sc::OP_COUNT_TOKENS) {
            return Self::zero(out); // countTokens is free.
        }
        let Some(status) = call.http_status else {
            // The client left before the answer: nothing is known, nothing is flagged.
            let pp = Step::PostProcessing;
            return out.attr(pp, sc::GATEWAY_COST_UNPRICED_REASON, "no response");
        };
        if status >= 400 || call.status == "error" {
            return Self::zero(out); // Gemini does not bill failed requests.
        }
        self.price(call, out);
    }
}

/// A cost as stored: rounded to 12 decimal places (a picodollar), the precision the API serves,
/// so the stored attributes carry no binary-fraction tail.
fn money(usd: f64) -> f64 {
    let scaled = usd * 1e12;
    if !scaled.is_finite() || scaled.abs() >= 9.0e15 {
        return usd;
    }
    scaled.round() / 1e12
}
