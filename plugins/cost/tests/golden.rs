//! Golden cost tests, one per cost bug users reported in comparable tools. Exact to 1e-12 USD.

#![allow(clippy::unwrap_used)]

use gateway_cost::{PricingConfig, TokenCostPlugin, compute, default_prices};
use gateway_plugin_sdk::prelude::*;
use gateway_plugin_sdk::semconv as sc;
use std::sync::atomic::Ordering;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

fn price(model: &str) -> gateway_cost::ModelPrice {
    default_prices().remove(model).unwrap()
}

#[test]
fn cached_tokens_are_not_counted_twice() {
    // litellm#14849: cached tokens billed at full input rate and again at the cache rate.
    let u = Usage {
        prompt_tokens: 100_000,
        cached_tokens: 80_000,
        candidates_tokens: 1_000,
        ..Usage::default()
    };
    let c = compute(&price("gemini-2.5-flash"), &u);
    close(c.input_usd, 20_000.0 * 0.30 / 1e6 + 80_000.0 * 0.03 / 1e6);
    close(c.total_usd(), 0.0109);
}

#[test]
fn implicit_cache_hits_are_discounted() {
    // litellm#16341: implicit cachedContentTokenCount without an explicit cachedContent.
    let u = Usage {
        prompt_tokens: 10_000,
        cached_tokens: 4_000,
        candidates_tokens: 0,
        ..Usage::default()
    };
    close(compute(&price("gemini-2.5-pro"), &u).input_usd, 0.008);
}

#[test]
fn thinking_tokens_are_billed_as_output() {
    // langfuse#16321: thoughts in the total but not in the cost. Real capture 8 + 7 + 23 = 38.
    let u = Usage {
        prompt_tokens: 8,
        candidates_tokens: 7,
        thoughts_tokens: 23,
        total_tokens: 38,
        ..Usage::default()
    };
    let c = compute(&price("gemini-2.5-flash"), &u);
    close(c.output_usd, 30.0 * 2.50 / 1e6);
    close(c.total_usd(), 0.0000774);
}

#[test]
fn long_context_tier_applies_to_the_whole_request() {
    let u = Usage {
        prompt_tokens: 250_000,
        cached_tokens: 50_000,
        candidates_tokens: 2_000,
        thoughts_tokens: 1_000,
        ..Usage::default()
    };
    let c = compute(&price("gemini-2.5-pro"), &u);
    assert!(c.long_context);
    close(c.input_usd, 0.5125);
    close(c.output_usd, 0.045);
    let at = Usage {
        prompt_tokens: 200_000,
        candidates_tokens: 1_000,
        ..Usage::default()
    };
    let c = compute(&price("gemini-2.5-pro"), &at);
    assert!(!c.long_context, "200k is still the standard tier (<= 200k)");
    close(c.total_usd(), 0.25 + 0.01);
}

#[test]
fn audio_is_split_out_where_priced_apart() {
    let u = Usage {
        prompt_tokens: 1_000,
        prompt_audio_tokens: 600,
        cached_tokens: 200,
        cached_audio_tokens: 100,
        ..Usage::default()
    };
    close(
        compute(&price("gemini-2.5-flash"), &u).input_usd,
        603.0 / 1e6,
    );
}

#[test]
fn tool_use_prompt_tokens_count_as_input() {
    let u = Usage {
        prompt_tokens: 100,
        tool_use_prompt_tokens: 50,
        candidates_tokens: 10,
        ..Usage::default()
    };
    let c = compute(&price("gemini-2.0-flash"), &u);
    close(c.input_usd, 150.0 * 0.10 / 1e6);
    close(c.output_usd, 10.0 * 0.40 / 1e6);
}

fn run(
    plugin: &TokenCostPlugin,
    info: &RequestInfo,
    status: u16,
    usage: Option<&Usage>,
) -> PluginOutput {
    let attribution = Attribution::default();
    let call = CompletedCall {
        request: RequestView {
            trace_id: "t",
            info,
            attribution: &attribution,
            body: b"",
        },
        http_status: Some(status),
        status: if status < 400 { "ok" } else { "error" },
        usage,
        timings: Timings::default(),
        finish_reasons: &[],
        response_model: None,
    };
    let mut out = PluginOutput::default();
    plugin.on_complete(&call, &mut out);
    out
}

fn info(model: &str, op: &str, stream: bool) -> RequestInfo {
    RequestInfo {
        model: Some(model.into()),
        operation: Some(op.into()),
        stream,
        ..RequestInfo::default()
    }
}

#[test]
fn streamed_calls_cost_the_same_as_unary() {
    // langfuse#8625: zero cost when streaming.
    let plugin = TokenCostPlugin::new(&PricingConfig::default());
    let u = Usage {
        prompt_tokens: 8,
        candidates_tokens: 7,
        thoughts_tokens: 23,
        ..Usage::default()
    };
    let streamed = run(
        &plugin,
        &info("models/gemini-2.5-flash", "generate_content", true),
        200,
        Some(&u),
    );
    let unary = run(
        &plugin,
        &info("gemini-2.5-flash", "generate_content", false),
        200,
        Some(&u),
    );
    let cost = |o: &PluginOutput| match o.get(Step::Root, sc::GATEWAY_COST_USD) {
        Some(AttrValue::F64(v)) => *v,
        other => panic!("no cost: {other:?}"),
    };
    close(cost(&streamed), 0.0000774);
    close(cost(&streamed), cost(&unary));
}

#[test]
fn unknown_models_are_unpriced_never_zero() {
    // litellm#10242 and others: new models shown as $0.
    let plugin = TokenCostPlugin::new(&PricingConfig::default());
    let u = Usage {
        prompt_tokens: 10,
        candidates_tokens: 10,
        ..Usage::default()
    };
    let out = run(
        &plugin,
        &info("gemini-9-ultra", "generate_content", false),
        200,
        Some(&u),
    );
    assert_eq!(out.get(Step::Root, sc::GATEWAY_COST_USD), None);
    assert_eq!(
        out.get(Step::Root, sc::GATEWAY_COST_UNPRICED),
        Some(&AttrValue::Bool(true))
    );
    assert_eq!(plugin.unpriced_counter().load(Ordering::Relaxed), 1);
}

#[test]
fn config_overrides_and_extends_the_table() {
    let cfg: PricingConfig = toml::from_str(
        r#"
        [models."gemini-9-ultra"]
        input = 1.0
        output = 2.0
        [models."gemini-2.0-flash"]
        input = 0.2
        output = 0.4
        "#,
    )
    .unwrap();
    let plugin = TokenCostPlugin::new(&cfg);
    let u = Usage {
        prompt_tokens: 1_000_000,
        candidates_tokens: 1_000_000,
        ..Usage::default()
    };
    let a = run(
        &plugin,
        &info("gemini-9-ultra", "generate_content", false),
        200,
        Some(&u),
    );
    assert_eq!(
        a.get(Step::Root, sc::GATEWAY_COST_USD),
        Some(&AttrValue::F64(3.0))
    );
    let b = run(
        &plugin,
        &info("gemini-2.0-flash-001", "generate_content", false),
        200,
        Some(&u),
    );
    assert_eq!(
        b.get(Step::Root, sc::GATEWAY_COST_USD),
        Some(&AttrValue::F64(0.6000000000000001))
    );
}

#[test]
fn count_tokens_and_failures_cost_zero() {
    let plugin = TokenCostPlugin::new(&PricingConfig::default());
    let u = Usage {
        prompt_tokens: 10,
        ..Usage::default()
    };
    let a = run(
        &plugin,
        &info("gemini-2.5-pro", "count_tokens", false),
        200,
        Some(&u),
    );
    assert_eq!(
        a.get(Step::Root, sc::GATEWAY_COST_USD),
        Some(&AttrValue::F64(0.0))
    );
    let b = run(
        &plugin,
        &info("gemini-2.5-pro", "generate_content", false),
        429,
        None,
    );
    assert_eq!(
        b.get(Step::Root, sc::GATEWAY_COST_USD),
        Some(&AttrValue::F64(0.0))
    );
    assert_eq!(plugin.unpriced_counter().load(Ordering::Relaxed), 0);
}
