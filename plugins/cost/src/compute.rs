//! Gemini billing arithmetic for one call at one row's rates (see the crate docs for the rules).
//!
//! - Input: `(prompt − cached) × input + cached × cached_input`, audio split out through
//!   `promptTokensDetails` / `cacheTokensDetails` where the row prices audio apart; tool-use
//!   prompt tokens at the (uncached) input rate.
//! - Output: `(candidates + thoughts) × output`; the image and audio parts of the candidates at
//!   `output_image` / `output_audio` where the row has them.
//! - Long context: when `promptTokenCount` (cached included) exceeds `long_context_threshold`,
//!   the `*_long` rates apply to the whole request.
//! - Grounding: `search_queries × search_per_1k / 1000`, plus `grounded_prompt_per_1k / 1000`
//!   when the answer was grounded; free allowances are not deducted.
//! - Any count above [`MAX_TOKENS`] or a non-finite result: `None` (implausible usage).
//! - Several calls summed in one usage (a batch job's responses): each priced on its own
//!   ([`compute_each`]), so that the rules above apply per call.

use crate::ModelPrice;
use gateway_plugin_sdk::Usage;

/// The largest token count priced (2^53, the largest integer an `f64` holds exactly).
pub const MAX_TOKENS: u64 = 1 << 53;

/// A computed cost in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Input part.
    pub input_usd: f64,
    /// Output part.
    pub output_usd: f64,
    /// Grounding (Google Search) fees.
    pub grounding_usd: f64,
    /// The long-context rates applied.
    pub long_context: bool,
}

impl Cost {
    /// Input plus output plus grounding.
    pub fn total_usd(&self) -> f64 {
        self.input_usd + self.output_usd + self.grounding_usd
    }
}

fn per_m(tokens: u64, rate: f64) -> f64 {
    tokens as f64 * rate / 1e6
}

/// Cost of `usage` at `price`; `None` when the usage is implausible (a count above
/// [`MAX_TOKENS`]) or the result is not finite.
pub fn compute(price: &ModelPrice, usage: &Usage) -> Option<Cost> {
    let counts = [
        usage.prompt_tokens,
        usage.cached_tokens,
        usage.candidates_tokens,
        usage.thoughts_tokens,
        usage.tool_use_prompt_tokens,
        usage.prompt_audio_tokens,
        usage.cached_audio_tokens,
        usage.output_image_tokens,
        usage.output_audio_tokens,
        usage.search_queries,
    ];
    if counts.iter().any(|&n| n > MAX_TOKENS) {
        return None;
    }
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

    // Every count is <= 2^53, so the subtractions below never underflow (min) and sums of a
    // few counts cannot overflow a u64.
    let cached_tokens = usage.cached_tokens.min(usage.prompt_tokens);
    let cached_audio_tokens = usage.cached_audio_tokens.min(cached_tokens);
    let uncached = usage.prompt_tokens - cached_tokens;
    let uncached_audio = usage
        .prompt_audio_tokens
        .saturating_sub(cached_audio_tokens)
        .min(uncached);
    let input_usd = per_m(uncached - uncached_audio, input)
        + per_m(uncached_audio, input_audio)
        + per_m(cached_tokens - cached_audio_tokens, cached)
        + per_m(cached_audio_tokens, cached_audio)
        + per_m(usage.tool_use_prompt_tokens, input);

    let image = match price.output_image {
        Some(_) => usage.output_image_tokens.min(usage.candidates_tokens),
        None => 0,
    };
    let audio = match price.output_audio {
        Some(_) => usage
            .output_audio_tokens
            .min(usage.candidates_tokens - image),
        None => 0,
    };
    let text = usage.candidates_tokens - image - audio + usage.thoughts_tokens;
    let output_usd = per_m(text, output)
        + per_m(image, price.output_image.unwrap_or(output))
        + per_m(audio, price.output_audio.unwrap_or(output));

    let searches = price
        .search_per_1k
        .map_or(0.0, |r| usage.search_queries as f64 * r / 1000.0);
    let grounded = match price.grounded_prompt_per_1k {
        Some(r) if usage.grounded => r / 1000.0,
        _ => 0.0,
    };
    let cost = Cost {
        input_usd,
        output_usd,
        grounding_usd: searches + grounded,
        long_context: long,
    };
    let parts = [cost.input_usd, cost.output_usd, cost.grounding_usd];
    (parts.iter().all(|v| v.is_finite()) && cost.total_usd().is_finite()).then_some(cost)
}

/// Cost of several separately billed calls at `price` (a batch job's responses), each priced
/// on its own and summed: the long-context rates and a per-prompt grounding fee apply per
/// call, not to the sum. `long_context` when any call took the long-context rates; `None` when
/// any call's cost is `None`.
pub fn compute_each(price: &ModelPrice, calls: &[Usage]) -> Option<Cost> {
    let mut sum = Cost {
        input_usd: 0.0,
        output_usd: 0.0,
        grounding_usd: 0.0,
        long_context: false,
    };
    for usage in calls {
        let c = compute(price, usage)?;
        sum.input_usd += c.input_usd;
        sum.output_usd += c.output_usd;
        sum.grounding_usd += c.grounding_usd;
        sum.long_context |= c.long_context;
    }
    (sum.total_usd().is_finite()).then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implausible_usage_is_refused() {
        let price = ModelPrice {
            input: 1.0,
            output: 1.0,
            ..ModelPrice::default()
        };
        let max = Usage {
            prompt_tokens: u64::MAX,
            cached_tokens: u64::MAX,
            ..Usage::default()
        };
        assert_eq!(compute(&price, &max), None);
        let edge = Usage {
            candidates_tokens: MAX_TOKENS,
            thoughts_tokens: MAX_TOKENS,
            output_image_tokens: MAX_TOKENS,
            ..Usage::default()
        };
        let c = compute(&price, &edge).expect("2^53 is still priced");
        assert_eq!(c.output_usd, 2.0 * MAX_TOKENS as f64 / 1e6);
        let huge = ModelPrice {
            input: f64::MAX,
            ..price
        };
        let one = Usage {
            prompt_tokens: 10,
            ..Usage::default()
        };
        assert_eq!(compute(&huge, &one), None, "an infinite cost is refused");
    }

    #[test]
    fn image_and_audio_output_never_exceed_the_candidates() {
        let price = ModelPrice {
            output: 1.0,
            output_image: Some(100.0),
            output_audio: Some(10.0),
            ..ModelPrice::default()
        };
        let u = Usage {
            candidates_tokens: 10,
            output_image_tokens: 8,
            output_audio_tokens: 8,
            ..Usage::default()
        };
        // 8 image at 100, the remaining 2 as audio at 10, no text.
        let out = compute(&price, &u).expect("priced").output_usd;
        assert!((out - 820.0 / 1e6).abs() < 1e-15, "{out}");
    }
}
