//! The shipped price table (Gemini API paid tier, standard, USD per 1M tokens; pricing page as
//! of 2026-03-30, 1.5 models from the May 2025 page).

use crate::ModelPrice;
use std::collections::HashMap;

fn p(input: f64, output: f64, cached: Option<f64>) -> ModelPrice {
    ModelPrice {
        input,
        output,
        cached_input: cached,
        ..ModelPrice::default()
    }
}

fn long(
    mut m: ModelPrice,
    threshold: u64,
    input: f64,
    output: f64,
    cached: Option<f64>,
) -> ModelPrice {
    m.long_context_threshold = Some(threshold);
    m.input_long = Some(input);
    m.output_long = Some(output);
    m.cached_input_long = cached;
    m
}

fn audio(mut m: ModelPrice, input_audio: f64, cached_audio: Option<f64>) -> ModelPrice {
    m.input_audio = Some(input_audio);
    m.cached_input_audio = cached_audio;
    m
}

/// The default table, keyed by base model name.
pub fn default_prices() -> HashMap<String, ModelPrice> {
    let table = [
        (
            "gemini-2.5-pro",
            long(p(1.25, 10.0, Some(0.125)), 200_000, 2.5, 15.0, Some(0.25)),
        ),
        (
            "gemini-2.5-flash",
            audio(p(0.30, 2.50, Some(0.03)), 1.00, Some(0.10)),
        ),
        (
            "gemini-2.5-flash-lite",
            audio(p(0.10, 0.40, Some(0.01)), 0.30, Some(0.03)),
        ),
        (
            "gemini-2.0-flash",
            audio(p(0.10, 0.40, Some(0.025)), 0.70, Some(0.175)),
        ),
        ("gemini-2.0-flash-lite", p(0.075, 0.30, None)),
        (
            "gemini-1.5-pro",
            long(p(1.25, 5.0, Some(0.3125)), 128_000, 2.5, 10.0, Some(0.625)),
        ),
        (
            "gemini-1.5-flash",
            long(
                p(0.075, 0.30, Some(0.01875)),
                128_000,
                0.15,
                0.60,
                Some(0.0375),
            ),
        ),
        (
            "gemini-1.5-flash-8b",
            long(
                p(0.0375, 0.15, Some(0.01)),
                128_000,
                0.075,
                0.30,
                Some(0.02),
            ),
        ),
        ("gemini-embedding-001", p(0.15, 0.0, None)),
        (
            "gemini-3.1-pro-preview",
            long(p(2.0, 12.0, Some(0.20)), 200_000, 4.0, 18.0, Some(0.40)),
        ),
        (
            "gemini-3-flash-preview",
            audio(p(0.50, 3.00, None), 1.00, None),
        ),
        (
            "gemini-3.1-flash-lite-preview",
            audio(p(0.25, 1.50, None), 0.50, None),
        ),
    ];
    table.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
