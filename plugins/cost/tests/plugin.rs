//! The plugin's decisions: which calls are priced, by which model and tier, and what it writes.

#![allow(clippy::unwrap_used)]

mod common;

use common::{call, close, cost, pp_str, unpriced_reason};
use gateway_cost::{PricingConfig, TokenCostPlugin};
use gateway_plugin_sdk::prelude::*;
use gateway_plugin_sdk::semconv as sc;
use std::sync::atomic::Ordering;

fn plugin() -> TokenCostPlugin {
    TokenCostPlugin::new(&PricingConfig::default())
}

fn million() -> Usage {
    Usage {
        prompt_tokens: 1_000_000,
        candidates_tokens: 1_000_000,
        ..Usage::default()
    }
}

fn unpriced(p: &TokenCostPlugin) -> u64 {
    p.unpriced_counter().load(Ordering::Relaxed)
}

#[test]
fn priority_rates_and_missing_priority_rows() {
    let p = plugin();
    // 3.5 Flash-Lite at priority: 1M × $0.54 + 1M × $4.50 = $5.04.
    let mut c = call("gemini-3.5-flash-lite", million());
    c.service_tier = Some("priority");
    c.info.service_tier = Some("priority".into());
    let out = c.run(&p);
    close(cost(&out), 5.04);
    assert_eq!(
        out.get(Step::Root, sc::GATEWAY_SERVICE_TIER),
        Some(&AttrValue::Str("priority".into()))
    );
    // 3.8 Flash has no priority row: unpriced, never $0 or the standard price.
    c.info.model = Some("gemini-3.8-flash".into());
    let out = c.run(&p);
    assert_eq!(out.get(Step::Root, sc::GATEWAY_COST_USD), None);
    assert_eq!(
        out.get(Step::Root, sc::GATEWAY_COST_UNPRICED),
        Some(&AttrValue::Bool(true))
    );
    assert_eq!(
        unpriced_reason(&out).as_deref(),
        Some("no priority rate for gemini-3.8-flash")
    );
    assert_eq!(unpriced(&p), 1);
}

#[test]
fn a_priority_request_served_at_standard_is_a_counted_downgrade() {
    // Priced at standard: 1M × $0.30 + 1M × $2.50 = $2.80.
    let p = plugin();
    let mut c = call("gemini-3.5-flash-lite", million());
    c.info.service_tier = Some("priority".into());
    c.service_tier = Some("standard");
    let out = c.run(&p);
    close(cost(&out), 2.8);
    for step in [Step::Root, Step::PostProcessing] {
        assert_eq!(
            out.get(step, sc::GATEWAY_SERVICE_TIER_DOWNGRADED),
            Some(&AttrValue::Bool(true))
        );
    }
    assert_eq!(p.downgrade_counter().load(Ordering::Relaxed), 1);
    // Without a served tier, the requested one is priced and nothing is a downgrade.
    c.service_tier = None;
    let out = c.run(&p);
    close(cost(&out), 5.04);
    assert_eq!(
        out.get(Step::Root, sc::GATEWAY_SERVICE_TIER_DOWNGRADED),
        None
    );
    assert_eq!(p.downgrade_counter().load(Ordering::Relaxed), 1);
}

#[test]
fn the_served_model_is_priced_and_routing_is_flagged() {
    // Asked for retired 2.5 Pro, served by 3.8 Flash: $0.75 + $3.75 = $4.50, not $11.25.
    let p = plugin();
    let mut c = call("gemini-2.5-pro", million());
    c.response_model = Some("gemini-3.8-flash");
    let out = c.run(&p);
    close(cost(&out), 4.5);
    assert_eq!(
        pp_str(&out, sc::GATEWAY_COST_MODEL).as_deref(),
        Some("gemini-3.8-flash")
    );
    for step in [Step::Root, Step::PostProcessing] {
        assert_eq!(
            out.get(step, sc::GATEWAY_MODEL_ROUTED),
            Some(&AttrValue::Bool(true))
        );
    }
    // The same model under another spelling is not routing.
    c.info.model = Some("models/gemini-3.8-flash-001".into());
    assert_eq!(c.run(&p).get(Step::Root, sc::GATEWAY_MODEL_ROUTED), None);
    // A served model the table lacks is unpriced, never priced at the requested model's rates
    // (3.1 Flash Image's would have said $3.50): the routing is still recorded.
    c.info.model = Some("gemini-3.1-flash-image".into());
    c.response_model = Some("gemini-nano-banana-2.1");
    let before = unpriced(&p);
    let out = c.run(&p);
    assert_eq!(out.get(Step::Root, sc::GATEWAY_COST_USD), None);
    assert_eq!(
        unpriced_reason(&out).as_deref(),
        Some(
            "served by gemini-nano-banana-2.1, which has no price (requested gemini-3.1-flash-image)"
        )
    );
    assert_eq!(unpriced(&p), before + 1);
    assert_eq!(
        out.get(Step::Root, sc::GATEWAY_MODEL_ROUTED),
        Some(&AttrValue::Bool(true))
    );
    // Only a served model: priced by it.
    c.info.model = None;
    c.response_model = Some("gemini-3.5-flash-lite");
    close(cost(&c.run(&p)), 2.8);
}

#[test]
fn an_unknown_tier_is_priced_standard_and_recorded() {
    let mut c = call("gemini-3.5-flash-lite", million());
    c.service_tier = Some("deferred");
    let out = c.run(&plugin());
    close(cost(&out), 2.8);
    assert_eq!(
        out.get(Step::PostProcessing, sc::GATEWAY_SERVICE_TIER),
        Some(&AttrValue::Str("deferred".into()))
    );
}

#[test]
fn metering_decides_what_is_priced() {
    let p = plugin();
    let mut c = call("gemini-3.8-flash", million());
    c.metering = Metering::Free;
    assert_eq!(cost(&c.run(&p)), 0.0);
    c.metering = Metering::Deferred;
    assert!(c.run(&p).attributes.is_empty(), "deferred: priced later");
    c.metering = Metering::Unknown;
    close(cost(&c.run(&p)), 4.5);
    c.usage = None;
    let out = c.run(&p);
    assert_eq!(
        unpriced_reason(&out).as_deref(),
        Some("usage not reported by the response")
    );
    c.info.model = None;
    assert!(
        c.run(&p).attributes.is_empty(),
        "unknown, no usage, no model"
    );
    c.metering = Metering::Metered;
    assert_eq!(
        unpriced_reason(&c.run(&p)).as_deref(),
        Some("no model in the request or the response")
    );
    assert_eq!(unpriced(&p), 2);
}

#[test]
fn no_response_failures_and_count_tokens() {
    let p = plugin();
    let mut c = call("gemini-3.8-flash", million());
    c.http_status = None;
    c.usage = None;
    let out = c.run(&p);
    assert_eq!(out.get(Step::Root, sc::GATEWAY_COST_USD), None);
    assert_eq!(out.get(Step::Root, sc::GATEWAY_COST_UNPRICED), None);
    assert_eq!(unpriced_reason(&out).as_deref(), Some("no response"));
    c.http_status = Some(429);
    assert_eq!(cost(&c.run(&p)), 0.0);
    c.http_status = Some(200);
    c.usage = Some(million());
    c.info.operation = Some(sc::OP_COUNT_TOKENS.into());
    assert_eq!(cost(&c.run(&p)), 0.0);
    assert_eq!(unpriced(&p), 0);
}

#[test]
fn unknown_models_and_implausible_usage_are_unpriced() {
    let p = plugin();
    let out = call("gemini-9-ultra", million()).run(&p);
    assert_eq!(out.get(Step::Root, sc::GATEWAY_COST_USD), None);
    assert_eq!(
        unpriced_reason(&out).as_deref(),
        Some("no price for this model")
    );
    let huge = Usage {
        prompt_tokens: u64::MAX,
        candidates_tokens: u64::MAX,
        thoughts_tokens: u64::MAX,
        ..Usage::default()
    };
    let out = call("gemini-3.8-flash", huge).run(&p);
    assert_eq!(out.get(Step::Root, sc::GATEWAY_COST_USD), None);
    assert_eq!(unpriced_reason(&out).as_deref(), Some("implausible usage"));
    assert_eq!(unpriced(&p), 2);
}

#[test]
fn streamed_calls_cost_the_same_as_unary_and_carry_their_source() {
    // langfuse#8625. gemini-2.5-flash, 8 in, 7 + 23 out: 8 × 0.30 + 30 × 2.50 = $0.0000774.
    let p = plugin();
    let u = Usage {
        prompt_tokens: 8,
        candidates_tokens: 7,
        thoughts_tokens: 23,
        ..Usage::default()
    };
    let mut c = call("models/gemini-2.5-flash", u);
    c.info.stream = true;
    let streamed = c.run(&p);
    c.info.stream = false;
    close(cost(&streamed), 0.0000774);
    assert_eq!(cost(&streamed), cost(&c.run(&p)));
    let source = pp_str(&streamed, sc::GATEWAY_COST_SOURCE).unwrap();
    assert!(
        source.contains("ai.google.dev/gemini-api/docs/pricing"),
        "{source}"
    );
    assert_eq!(
        pp_str(&streamed, sc::GATEWAY_COST_TIER).as_deref(),
        Some("standard")
    );
}

#[test]
fn a_call_that_failed_or_was_cut_before_any_usage_is_not_unpriced() {
    let p = plugin();
    let mut c = call("gemini-3.8-flash", million());
    c.usage = None;
    c.http_status = Some(429);
    let out = c.run(&p);
    assert_eq!(
        out.get(Step::Root, sc::GATEWAY_COST_UNPRICED),
        None,
        "an error answer"
    );
    assert_eq!(cost(&out), 0.0, "Gemini does not bill failed requests");
    c.http_status = Some(200);
    c.cancelled = true;
    let out = c.run(&p);
    assert_eq!(
        out.get(Step::Root, sc::GATEWAY_COST_UNPRICED),
        None,
        "a stream cut before usage"
    );
    assert_eq!(
        out.get(Step::Root, sc::GATEWAY_COST_USD),
        None,
        "no cost, not $0"
    );
    c.info.model = Some("gemini-no-such-model".into());
    let out = c.run(&p);
    assert_eq!(
        unpriced_reason(&out),
        None,
        "nothing metered, whatever the model"
    );
    assert_eq!(unpriced(&p), 0);
    // Cut after its usage arrived: priced as usual.
    c.info.model = Some("gemini-3.8-flash".into());
    c.usage = Some(million());
    close(cost(&c.run(&p)), 4.5);
    // The same call completed without usage is unpriced.
    c.cancelled = false;
    c.usage = None;
    assert_eq!(
        unpriced_reason(&c.run(&p)).as_deref(),
        Some("usage not reported by the response")
    );
    assert_eq!(unpriced(&p), 1);
}

/// The summed usage of several calls (a batch job's responses).
fn summed(parts: &[Usage]) -> Usage {
    parts.iter().fold(Usage::default(), |mut s, u| {
        s.prompt_tokens += u.prompt_tokens;
        s.candidates_tokens += u.candidates_tokens;
        s.search_queries += u.search_queries;
        s.grounded |= u.grounded;
        s
    })
}

#[test]
fn a_batch_prices_each_response_on_its_own() {
    let p = plugin();
    // Two responses of 150k prompt and 1k output on gemini-3.1-pro-preview (long-context rates
    // past 200k): each is under the threshold, so both take the standard rates,
    // 2 × (150k × $2 + 1k × $12) / 1M = $0.624. Their sum (300k) would have taken the
    // long-context ones for everything: 300k × $4 + 2k × $18 = $1.236.
    let one = Usage {
        prompt_tokens: 150_000,
        candidates_tokens: 1_000,
        ..Usage::default()
    };
    let parts = vec![one, one];
    let mut c = call("gemini-3.1-pro-preview", summed(&parts));
    let as_one_call = c.run(&p);
    close(cost(&as_one_call), 1.236);
    c.usage_parts = parts;
    let out = c.run(&p);
    close(cost(&out), 0.624);
    assert_eq!(
        pp_str(&out, sc::GATEWAY_COST_TIER).as_deref(),
        Some("standard")
    );

    // One response past the threshold takes the long-context rates, alone: 250k × $4 + 1k ×
    // $18 = $1.018, plus $0.312 for the other: $1.330, and the tier says long_context.
    let long = Usage {
        prompt_tokens: 250_000,
        ..one
    };
    c.usage_parts = vec![long, one];
    c.usage = Some(summed(&c.usage_parts));
    let out = c.run(&p);
    close(cost(&out), 1.330);
    assert_eq!(
        pp_str(&out, sc::GATEWAY_COST_TIER).as_deref(),
        Some("long_context")
    );

    // gemini-2.5-flash-lite bills $35 per 1,000 grounded prompts: 100 grounded responses are
    // $3.50 of grounding (the sum, one grounded "prompt", was $0.035), plus 100 × (10 × $0.10
    // + 5 × $0.40) / 1M of tokens.
    let grounded = Usage {
        prompt_tokens: 10,
        candidates_tokens: 5,
        grounded: true,
        ..Usage::default()
    };
    let mut g = call("gemini-2.5-flash-lite", Usage::default());
    g.usage_parts = vec![grounded; 100];
    g.usage = Some(summed(&g.usage_parts));
    close(
        cost(&g.run(&p)),
        3.5 + 100.0 * (10.0 * 0.10 + 5.0 * 0.40) / 1e6,
    );
}
