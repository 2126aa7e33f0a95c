//! The built-in token-cost plugin.
//!
//! Prices are USD per 1M tokens ([`ModelPrice`]), from a shipped default table
//! ([`default_prices`]) that `[pricing.models."<name>"]` entries override or extend.
//! [`compute`] applies Gemini's billing rules; [`resolve`] maps model names as users write them
//! to table keys. A model with no price gets no cost at all (`cost_usd` NULL,
//! `gateway.cost.unpriced = true`), never $0.

mod compute;
mod defaults;
mod plugin;
mod resolve;

pub use compute::{Cost, compute};
pub use defaults::default_prices;
pub use plugin::{PricingConfig, TokenCostPlugin};
pub use resolve::resolve;

use serde::Deserialize;

/// Prices of one model, USD per 1M tokens.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
}
