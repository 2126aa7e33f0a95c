//! Gemini billing arithmetic.
//!
//! - Input: `(prompt − cached) × input + cached × cached_input`, audio split out through
//!   `promptTokensDetails` / `cacheTokensDetails` where the model prices audio apart;
//!   tool-use prompt tokens are billed as (uncached) input.
//! - Output: `(candidates + thoughts) × output`: thinking is billed as output.
//! - Tier: when `promptTokenCount` exceeds `long_context_threshold`, the `*_long` rates apply to
//!   the whole request.

use crate::ModelPrice;
use gateway_plugin_sdk::Usage;

/// A computed cost in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Input part.
    pub input_usd: f64,
    /// Output part.
    pub output_usd: f64,
    /// The long-context rates applied.
    pub long_context: bool,
}

impl Cost {
    /// Input plus output.
    pub fn total_usd(&self) -> f64 {
        self.input_usd + self.output_usd
    }
}

/// Cost of `usage` at `price`.
pub fn compute(price: &ModelPrice, usage: &Usage) -> Cost {
    let long = price
        .long_context_threshold
        .is_some_and(|t| usage.prompt_tokens > t);
    let pick = |base: f64, long_rate: Option<f64>| {
        if long {
            long_rate.unwrap_or(base)
        } else {
            base
        }
    };
    let input = pick(price.input, price.input_long);
    let output = pick(price.output, price.output_long);
    let cached = price
        .cached_input
        .map(|c| pick(c, price.cached_input_long))
        .unwrap_or(input);
    let input_audio = price.input_audio.unwrap_or(input);
    let cached_audio = price.cached_input_audio.unwrap_or(cached);

    let cached_tokens = usage.cached_tokens.min(usage.prompt_tokens);
    let cached_audio_tokens = usage.cached_audio_tokens.min(cached_tokens);
    let uncached = usage.prompt_tokens - cached_tokens;
    let uncached_audio = usage
        .prompt_audio_tokens
        .saturating_sub(cached_audio_tokens)
        .min(uncached);
    let per_m = |tokens: u64, rate: f64| tokens as f64 * rate / 1e6;
    let input_usd = per_m(uncached - uncached_audio, input)
        + per_m(uncached_audio, input_audio)
        + per_m(cached_tokens - cached_audio_tokens, cached)
        + per_m(cached_audio_tokens, cached_audio)
        + per_m(usage.tool_use_prompt_tokens, input);
    let output_usd = per_m(usage.candidates_tokens + usage.thoughts_tokens, output);
    Cost {
        input_usd,
        output_usd,
        long_context: long,
    }
}
