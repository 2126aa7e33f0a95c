//! Helpers shared by the cost plugin's integration tests.

#![allow(dead_code, clippy::unwrap_used)]

use gateway_cost::{ModelPrice, PriceBook, TokenCostPlugin};
use gateway_plugin_sdk::prelude::*;
use gateway_plugin_sdk::semconv as sc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Asserts two dollar figures agree to 1e-12 USD.
pub fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

/// `YYYY-MM-DDTHH:MM:SSZ` as a `SystemTime` (a few fixed instants only).
pub fn at(s: &str) -> SystemTime {
    let secs = match s {
        "2026-11-01T00:00:00Z" => 1_793_491_200,
        "2026-12-15T12:00:00Z" => 1_797_336_000,
        "2026-12-31T23:59:59Z" => 1_798_761_599,
        "2027-01-01T00:00:00Z" => 1_798_761_600,
        "2027-03-01T00:00:00Z" => 1_803_859_200,
        other => panic!("add {other} to common::at"),
    };
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// December 2026, before the 2027-01-01 switch.
pub fn dec() -> SystemTime {
    at("2026-12-15T12:00:00Z")
}

/// The standard rates of a shipped model in December 2026.
pub fn price(model: &str) -> ModelPrice {
    PriceBook::shipped()
        .lookup(model, "standard", dec())
        .unwrap()
        .price
}

/// A finished call to feed the plugin; tweak the fields, then [`Call::run`].
pub struct Call {
    pub info: RequestInfo,
    pub http_status: Option<u16>,
    /// The client went away (or the gateway stopped) before the call ended.
    pub cancelled: bool,
    pub usage: Option<Usage>,
    /// The calls `usage` sums, when it sums several (a batch job's responses).
    pub usage_parts: Vec<Usage>,
    pub response_model: Option<&'static str>,
    pub service_tier: Option<&'static str>,
    pub metering: Metering,
    pub started_at: SystemTime,
}

/// A successful, metered `generate_content` call to `model` in December 2026.
pub fn call(model: &str, usage: Usage) -> Call {
    Call {
        info: RequestInfo {
            model: Some(model.into()),
            operation: Some("generate_content".into()),
            ..RequestInfo::default()
        },
        http_status: Some(200),
        cancelled: false,
        usage: Some(usage),
        usage_parts: Vec::new(),
        response_model: None,
        service_tier: None,
        metering: Metering::Metered,
        started_at: dec(),
    }
}

impl Call {
    pub fn run(&self, plugin: &TokenCostPlugin) -> PluginOutput {
        let attribution = Attribution::default();
        let status = match self.http_status {
            _ if self.cancelled => "cancelled",
            Some(s) if s >= 400 => "error",
            _ => "ok",
        };
        let call = CompletedCall {
            request: RequestView {
                trace_id: "t",
                info: &self.info,
                attribution: &attribution,
                body: b"",
            },
            http_status: self.http_status,
            status,
            usage: self.usage.as_ref(),
            usage_parts: &self.usage_parts,
            timings: Timings::default(),
            finish_reasons: &[],
            response_model: self.response_model,
            service_tier: self.service_tier,
            metering: self.metering,
            started_at: self.started_at,
        };
        let mut out = PluginOutput::default();
        plugin.on_complete(&call, &mut out);
        out
    }
}

/// The total cost written on the root span; panics when there is none.
pub fn cost(out: &PluginOutput) -> f64 {
    match out.get(Step::Root, sc::GATEWAY_COST_USD) {
        Some(AttrValue::F64(v)) => *v,
        other => panic!("no cost: {other:?} in {out:?}"),
    }
}

/// A string attribute of the post-processing step.
pub fn pp_str(out: &PluginOutput, key: &str) -> Option<String> {
    match out.get(Step::PostProcessing, key) {
        Some(AttrValue::Str(s)) => Some(s.clone()),
        None => None,
        other => panic!("{key} is not a string: {other:?}"),
    }
}

/// The unpriced reason, when the call was flagged.
pub fn unpriced_reason(out: &PluginOutput) -> Option<String> {
    pp_str(out, sc::GATEWAY_COST_UNPRICED_REASON)
}
