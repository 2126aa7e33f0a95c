//! Golden cost tests: one per cost bug users reported in comparable tools (reported publicly in 2026),
//! each with its dollar figure worked out by hand. Exact to 1e-12 USD.

#![allow(clippy::unwrap_used)]

mod common;

use common::{at, call, close, cost, pp_str, price};
use gateway_cost::{PricingConfig, TokenCostPlugin, compute};
use gateway_plugin_sdk::prelude::*;
use gateway_plugin_sdk::semconv as sc;

fn plugin() -> TokenCostPlugin {
    TokenCostPlugin::new(&PricingConfig::default())
}

#[test]
fn cached_tokens_are_not_billed_twice() {
    // constellation-works/orbit PR #1274: 100k prompt / 90k cached. gemini-3.8-flash (Dec 2026):
    //   10,000 × $0.75/M + 90,000 × $0.075/M = $0.0075 + $0.00675 = $0.01425.
    // Double-billed: 100,000 × $0.75/M + 90,000 × $0.075/M = $0.08175.
    let u = Usage {
        prompt_tokens: 100_000,
        cached_tokens: 90_000,
        ..Usage::default()
    };
    let c = compute(&price("gemini-3.8-flash"), &u).unwrap();
    close(c.total_usd(), 0.01425);
    assert!((c.total_usd() - 0.08175).abs() > 0.05);
    // litellm#14849 on gemini-2.5-flash: 20,000 × 0.30 + 80,000 × 0.03 + 1,000 × 2.50
    //   = $0.006 + $0.0024 + $0.0025 = $0.0109.
    let u = Usage {
        prompt_tokens: 100_000,
        cached_tokens: 80_000,
        candidates_tokens: 1_000,
        ..Usage::default()
    };
    close(
        compute(&price("gemini-2.5-flash"), &u).unwrap().total_usd(),
        0.0109,
    );
}

#[test]
fn long_context_rates_apply_to_the_whole_request() {
    // hermes-agent PR #93678 tiered only the excess. gemini-3.1-pro-preview, 250k prompt
    // (50k cached), 2k answer + 1k thoughts, all at the > 200k rates:
    //   200,000 × $4/M + 50,000 × $0.40/M = $0.80 + $0.02 = $0.82 input;
    //   3,000 × $18/M = $0.054 output; $0.874 total (all-standard would be $0.446).
    let u = Usage {
        prompt_tokens: 250_000,
        cached_tokens: 50_000,
        candidates_tokens: 2_000,
        thoughts_tokens: 1_000,
        ..Usage::default()
    };
    let c = compute(&price("gemini-3.1-pro-preview"), &u).unwrap();
    assert!(c.long_context);
    close(c.input_usd, 0.82);
    close(c.output_usd, 0.054);
    close(c.total_usd(), 0.874);
    // The threshold counts cached tokens: 190k uncached + 20k cached = 210k > 200k:
    //   190,000 × $4/M + 20,000 × $0.40/M = $0.76 + $0.008 = $0.768.
    let u = Usage {
        prompt_tokens: 210_000,
        cached_tokens: 20_000,
        ..Usage::default()
    };
    close(
        compute(&price("gemini-3.1-pro-preview"), &u)
            .unwrap()
            .total_usd(),
        0.768,
    );
    // Exactly 200k is still standard: 200,000 × $1.25/M + 1,000 × $10/M = $0.26 (2.5 Pro).
    let u = Usage {
        prompt_tokens: 200_000,
        candidates_tokens: 1_000,
        ..Usage::default()
    };
    let c = compute(&price("gemini-2.5-pro"), &u).unwrap();
    assert!(!c.long_context);
    close(c.total_usd(), 0.26);
}

#[test]
fn flex_is_billed_at_half_price() {
    // BerriAI/litellm PR #37724 billed flex at full price. gemini-3.8-flash served at flex:
    //   1,000,000 × $0.375/M + 100,000 × $1.875/M = $0.375 + $0.1875 = $0.5625
    //   (standard: $0.75 + $0.375 = $1.125).
    let u = Usage {
        prompt_tokens: 1_000_000,
        candidates_tokens: 100_000,
        ..Usage::default()
    };
    let mut c = call("gemini-3.8-flash", u);
    c.service_tier = Some("flex");
    let out = c.run(&plugin());
    close(cost(&out), 0.5625);
    let source = pp_str(&out, sc::GATEWAY_COST_SOURCE).unwrap();
    assert!(source.ends_with("flex = 50% of standard"), "{source}");
}

#[test]
fn interactions_thoughts_are_billed_as_output() {
    // braintrust-sdk-javascript#2306. total_input 1,000, total_output 200, total_thought 800 on
    // gemini-3.8-flash: 1,000 × $0.75/M + (200 + 800) × $3.75/M = $0.00075 + $0.00375 = $0.0045.
    let u = Usage {
        prompt_tokens: 1_000,
        candidates_tokens: 200,
        thoughts_tokens: 800,
        ..Usage::default()
    };
    let mut c = call("gemini-3.8-flash", u);
    c.info.operation = Some(sc::OP_INVOKE_AGENT.into());
    close(cost(&c.run(&plugin())), 0.0045);
}

#[test]
fn new_models_are_priced_not_zero() {
    // Helicone/helicone#5700. 100k in + 100k out (Dec 2026, under the 200k threshold):
    //   3.8 Flash $0.075 + $0.375 = $0.45; 3.5 Flash-Lite $0.03 + $0.25 = $0.28;
    //   3.1 Pro Preview $0.20 + $1.20 = $1.40.
    let u = Usage {
        prompt_tokens: 100_000,
        candidates_tokens: 100_000,
        ..Usage::default()
    };
    let p = plugin();
    for (model, usd) in [
        ("gemini-3.8-flash", 0.45),
        ("models/gemini-3.5-flash-lite", 0.28),
        ("gemini-3.1-pro-preview", 1.4),
    ] {
        let out = call(model, u).run(&p);
        close(cost(&out), usd);
    }
}

#[test]
fn the_2027_price_change_switches_at_midnight_utc() {
    // gemini-3.8-flash, 100k prompt (20k cached), 10k answer:
    //   until 2026-12-31: 80,000 × 0.75 + 20,000 × 0.075 + 10,000 × 3.75 (per M)
    //     = $0.06 + $0.0015 + $0.0375 = $0.099;
    //   from 2027-01-01: 80,000 × 1.50 + 20,000 × 0.15 + 10,000 × 7.50 = $0.198.
    let u = Usage {
        prompt_tokens: 100_000,
        cached_tokens: 20_000,
        candidates_tokens: 10_000,
        ..Usage::default()
    };
    let p = plugin();
    let mut c = call("gemini-3.8-flash", u);
    c.started_at = at("2026-12-31T23:59:59Z");
    let before = c.run(&p);
    close(cost(&before), 0.099);
    assert_eq!(pp_str(&before, sc::GATEWAY_COST_EFFECTIVE_FROM), None);
    c.started_at = at("2027-01-01T00:00:00Z");
    let after = c.run(&p);
    close(cost(&after), 0.198);
    assert_eq!(
        pp_str(&after, sc::GATEWAY_COST_EFFECTIVE_FROM).as_deref(),
        Some("2027-01-01")
    );
}

#[test]
fn grounding_fees_by_generation() {
    // 3.x: per query. gemini-3.8-flash, 1,000 in, 100 out, 3 queries:
    //   $0.00075 + $0.000375 + 3 × $14/1000 = $0.001125 + $0.042 = $0.043125.
    let u = Usage {
        prompt_tokens: 1_000,
        candidates_tokens: 100,
        search_queries: 3,
        grounded: true,
        ..Usage::default()
    };
    let out = call("gemini-3.8-flash", u).run(&plugin());
    close(cost(&out), 0.043125);
    assert_eq!(
        out.get(Step::PostProcessing, sc::GATEWAY_COST_GROUNDING_USD),
        Some(&AttrValue::F64(0.042))
    );
    // 2.5: one grounded prompt, whatever the queries. gemini-2.5-flash-lite:
    //   1,000 × $0.10/M + 100 × $0.40/M + $35/1000 = $0.0001 + $0.00004 + $0.035 = $0.03514.
    let out = call("gemini-2.5-flash-lite", u).run(&plugin());
    close(cost(&out), 0.03514);
    // Not grounded: no fee, no attribute.
    let plain = Usage {
        grounded: false,
        search_queries: 0,
        ..u
    };
    let out = call("gemini-2.5-flash-lite", plain).run(&plugin());
    close(cost(&out), 0.00014);
    assert_eq!(
        out.get(Step::PostProcessing, sc::GATEWAY_COST_GROUNDING_USD),
        None
    );
}

#[test]
fn image_and_tts_output_at_their_own_rates() {
    // gemini-3.1-flash-image: 100 in × $0.50/M = $0.00005; 1,390 candidates of which 1,290
    // image: 100 × $3/M + 1,290 × $60/M = $0.0003 + $0.0774; total $0.07775.
    let u = Usage {
        prompt_tokens: 100,
        candidates_tokens: 1_390,
        output_image_tokens: 1_290,
        ..Usage::default()
    };
    close(
        compute(&price("gemini-3.1-flash-image"), &u)
            .unwrap()
            .total_usd(),
        0.07775,
    );
    // gemini-3.1-flash-tts-preview: 50 in × $1/M + 2,500 audio out × $20/M = $0.05005.
    let u = Usage {
        prompt_tokens: 50,
        candidates_tokens: 2_500,
        output_audio_tokens: 2_500,
        ..Usage::default()
    };
    close(
        compute(&price("gemini-3.1-flash-tts-preview"), &u)
            .unwrap()
            .total_usd(),
        0.05005,
    );
}

#[test]
fn embeddings_are_priced_by_their_prompt() {
    // 10,000 tokens: embedding-001 $0.15/M = $0.0015 (batch row $0.075/M = $0.00075);
    // embedding-2 $0.20/M = $0.002.
    let u = Usage {
        prompt_tokens: 10_000,
        ..Usage::default()
    };
    let p = plugin();
    let mut c = call("models/gemini-embedding-001", u);
    c.info.operation = Some(sc::OP_EMBEDDINGS.into());
    close(cost(&c.run(&p)), 0.0015);
    c.service_tier = Some("batch");
    close(cost(&c.run(&p)), 0.00075);
    c.info.model = Some("gemini-embedding-2".into());
    c.service_tier = None;
    close(cost(&c.run(&p)), 0.002);
}
