//! The built-in token-cost plugin: prices every finished Gemini call from a dated price table.
//!
//! # The price table
//!
//! `plugins/cost/prices.toml` is compiled into the binary. Each `[[rows]]` entry prices one
//! (model, tier, effective_from); operators use the same format:
//!
//! | field | meaning |
//! |---|---|
//! | `model` | base model name (`gemini-3.8-flash`; a `models/` prefix is dropped) |
//! | `tier` | `standard` (default), `flex`, `priority` or `batch` |
//! | `effective_from` | `"YYYY-MM-DD"` (UTC civil date); absent = in force always |
//! | `input`, `output` | USD per 1M tokens (required; output includes thinking) |
//! | `cached_input` | cache reads (absent: the input rate) |
//! | `input_audio`, `cached_input_audio` | audio prompt tokens (absent: input / cache rate) |
//! | `output_image`, `output_audio` | image / audio output tokens (absent: the output rate) |
//! | `long_context_threshold` | prompt tokens above which the `*_long` rates apply |
//! | `input_long`, `output_long`, `cached_input_long` | the long-context rates |
//! | `cache_storage_per_hour` | USD per 1M token-hours of context cache (written on cache creates and TTL updates, see below) |
//! | `search_per_1k` | 3.x: USD per 1,000 executed non-empty Google Search queries |
//! | `grounded_prompt_per_1k` | 2.5: USD per 1,000 grounded prompts |
//! | `source`, `note` | where the rate comes from (required in the shipped file), free text |
//!
//! Operators add rows without a rebuild in `gateway.toml`: `[pricing] file = "prices.toml"`
//! (a file of `[[rows]]`) and `[[pricing.rows]]` inline, applied in that order on top of the
//! shipped table; a row with the same (model, tier, effective_from) as an earlier one replaces
//! it. `[pricing.models."<name>"]` (rates only) replaces every shipped standard row of that
//! model, in force always; `[pricing.aliases]` prices a name as another model. Operator rows
//! without a `source` get `gateway.toml` (or the file's path). [`PricingConfig::build`] checks
//! everything (finite, non-negative rates, dates, tiers, `*_long` without a threshold, alias
//! targets) and names the offending row.
//!
//! # Rules
//!
//! - **Which model**: the served model (`modelVersion`, the Interaction's `model`); the
//!   requested one only when the answer names none or the same model under another name. A
//!   served model the table lacks leaves the call unpriced. Names resolve as users write them
//!   (`models/`, trailing `-001`, `-latest`, `-preview-05-20`, `-exp-…` dropped one at a time,
//!   aliases).
//! - **Which row**: the one of that model and tier with the latest `effective_from` on or
//!   before the day the request started (UTC), or, for work metered on a later poll, the day
//!   the work was made.
//! - **Which tier**: the served tier, else the requested one, else standard. `flex` and `batch`
//!   without a row of their own are the standard row at 50% (token rates only; grounding fees
//!   and cache storage are not halved). `priority` without a row is unpriced. An unknown tier
//!   string is priced as standard and recorded as given.
//! - **Input**: `(prompt − cached) × input + cached × cached_input`, with the audio parts at
//!   the audio rates; tool-use prompt tokens at the input rate.
//! - **Output**: `(candidates + thoughts) × output` (thinking is output), with image and audio
//!   output tokens (part of the candidates) at their own rates where the row has them.
//! - **Long context**: when `promptTokenCount` (which **includes cached tokens**; tool-use
//!   tokens are not counted) exceeds the threshold, the long rates apply to the **whole**
//!   request: input, cache and output, not just the excess.
//! - **Grounding**: `search_queries × search_per_1k / 1000` (3.x), or one grounded prompt at
//!   `grounded_prompt_per_1k / 1000` (2.5). The free monthly/daily allowances are **not**
//!   deducted: the gateway cannot see the account-wide count, so this is an upper bound.
//! - **Context caches**: a cache create is billed as input tokens (its `totalTokenCount` at the
//!   input rate); a create or TTL update that succeeded also gets the model's
//!   `cache_storage_per_hour` in force that day (standard row, never halved) on its LLM span,
//!   from which the store accounts storage over the cache's life.
//! - countTokens, `Free` calls and failed calls (4xx/5xx) cost 0; `Deferred` calls are priced
//!   later by the gateway. A call with no price, no usage or implausible usage (a count above
//!   2^53, a non-finite cost) is **unpriced**: no cost, `gateway.cost.unpriced = true` and a
//!   reason. Unpriced is never $0. A call cut before any usage (the client left mid-stream,
//!   or the gateway stopped) is neither: no cost and no flag, as `gateway_store::is_unpriced`
//!   decides for the trace.

mod book;
mod compute;
mod config;
mod date;
mod plugin;
mod render;
mod resolve;
mod row;
mod storage;

pub use book::{PriceBook, Resolved};
pub use compute::{Cost, MAX_TOKENS, compute, compute_each};
pub use config::PricingConfig;
pub use date::{parse_timestamp, start_of_day};
pub use plugin::TokenCostPlugin;
pub use render::render_table;
pub use resolve::resolve;
pub use row::{PriceRow, Tier};

use serde::Deserialize;

/// Rates of one model and tier, USD per 1M tokens unless said otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Input (prompt) tokens that were not cached.
    pub input: f64,
    /// Output tokens, thinking included.
    pub output: f64,
    /// Cached input tokens. Absent: cached tokens are billed at the input rate.
    pub cached_input: Option<f64>,
    /// Audio input tokens, where the model prices audio apart. Absent: the input rate.
    pub input_audio: Option<f64>,
    /// Cached audio input tokens. Absent: `cached_input`.
    pub cached_input_audio: Option<f64>,
    /// Prompt size (tokens, cached included) above which the `*_long` rates apply to the whole request.
    pub long_context_threshold: Option<u64>,
    /// Input rate above the threshold.
    pub input_long: Option<f64>,
    /// Output rate above the threshold.
    pub output_long: Option<f64>,
    /// Cached input rate above the threshold.
    pub cached_input_long: Option<f64>,
    /// Image output tokens. Absent: the output rate.
    pub output_image: Option<f64>,
    /// Audio output tokens. Absent: the output rate.
    pub output_audio: Option<f64>,
    /// Context-cache storage, USD per 1M token-hours (for a cache-storage meter).
    pub cache_storage_per_hour: Option<f64>,
    /// USD per 1,000 executed, non-empty Google Search queries (3.x models).
    pub search_per_1k: Option<f64>,
    /// USD per 1,000 grounded prompts (2.5 models).
    pub grounded_prompt_per_1k: Option<f64>,
}

impl ModelPrice {
    fn rates(&self) -> [(&'static str, Option<f64>); 13] {
        [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cached_input", self.cached_input),
            ("input_audio", self.input_audio),
            ("cached_input_audio", self.cached_input_audio),
            ("input_long", self.input_long),
            ("output_long", self.output_long),
            ("cached_input_long", self.cached_input_long),
            ("output_image", self.output_image),
            ("output_audio", self.output_audio),
            ("cache_storage_per_hour", self.cache_storage_per_hour),
            ("search_per_1k", self.search_per_1k),
            ("grounded_prompt_per_1k", self.grounded_prompt_per_1k),
        ]
    }

    /// Checks that every rate is finite and non-negative, and that long-context rates come
    /// with a threshold.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in self.rates() {
            if let Some(r) = rate
                && (!r.is_finite() || r < 0.0)
            {
                return Err(format!("{name} = {r} is negative or not finite"));
            }
        }
        let long = [self.input_long, self.output_long, self.cached_input_long];
        if self.long_context_threshold.is_none() && long.iter().any(Option::is_some) {
            return Err(
                "input_long/output_long/cached_input_long need long_context_threshold".into(),
            );
        }
        Ok(())
    }

    /// These rates with every token rate multiplied by `factor` (grounding fees and cache
    /// storage unchanged): the flex and batch rule.
    pub fn scaled(&self, factor: f64) -> Self {
        let s = |r: f64| r * factor;
        let o = |r: Option<f64>| r.map(s);
        Self {
            input: s(self.input),
            output: s(self.output),
            cached_input: o(self.cached_input),
            input_audio: o(self.input_audio),
            cached_input_audio: o(self.cached_input_audio),
            input_long: o(self.input_long),
            output_long: o(self.output_long),
            cached_input_long: o(self.cached_input_long),
            output_image: o(self.output_image),
            output_audio: o(self.output_audio),
            ..*self
        }
    }
}
