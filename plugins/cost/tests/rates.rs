//! Rates outside the golden bugs: audio input split, tool-use tokens, history rows.

#![allow(clippy::unwrap_used)]

mod common;

use common::{close, dec, price};
use gateway_cost::{PriceBook, compute};
use gateway_plugin_sdk::prelude::*;

#[test]
fn audio_is_split_out_and_tools_count_as_input() {
    // gemini-2.5-flash: 1,000 prompt (600 audio), 200 cached (100 audio):
    //   300 text × 0.30 + 500 audio × 1.00 + 100 cached × 0.03 + 100 cached audio × 0.10
    //   = (90 + 500 + 3 + 10) / 1M = $0.000603.
    let u = Usage {
        prompt_tokens: 1_000,
        prompt_audio_tokens: 600,
        cached_tokens: 200,
        cached_audio_tokens: 100,
        ..Usage::default()
    };
    close(
        compute(&price("gemini-2.5-flash"), &u).unwrap().input_usd,
        603.0 / 1e6,
    );
    // Tool-use prompt tokens at the input rate: (100 + 50) × $0.10/M on 2.0 Flash.
    let u = Usage {
        prompt_tokens: 100,
        tool_use_prompt_tokens: 50,
        ..Usage::default()
    };
    close(
        compute(&price("gemini-2.0-flash"), &u).unwrap().input_usd,
        150.0 * 0.10 / 1e6,
    );
}

#[test]
fn retired_rows_stay_for_history() {
    let book = PriceBook::shipped();
    for m in ["gemini-2.0-flash", "gemini-2.5-pro", "gemini-1.5-pro"] {
        assert!(book.is_priced(m, dec()), "{m}");
    }
}
