//! Criterion bench of cost computation and of the plugin's `on_complete`.
//! Run: `cargo bench -p gateway-cost --bench cost`.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use gateway_cost::{PriceBook, PricingConfig, TokenCostPlugin, compute};
use gateway_plugin_sdk::prelude::*;
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn bench(c: &mut Criterion) {
    // 2026-12-15: inside the 3.8 Flash price period that ends on 2027-01-01.
    let started_at: SystemTime = UNIX_EPOCH + Duration::from_secs(1_797_336_000);
    let book = PriceBook::shipped();
    let price = book
        .lookup("gemini-3.1-pro-preview", "standard", started_at)
        .unwrap()
        .price;
    let usage = Usage {
        prompt_tokens: 250_000,
        cached_tokens: 50_000,
        candidates_tokens: 2_000,
        thoughts_tokens: 900,
        prompt_audio_tokens: 100,
        ..Usage::default()
    };
    c.bench_function("cost/compute", |b| {
        b.iter(|| black_box(compute(black_box(&price), black_box(&usage))))
    });

    let plugin = TokenCostPlugin::new(&PricingConfig::default());
    let info = RequestInfo {
        model: Some("models/gemini-2.5-flash-preview-05-20".into()),
        service_tier: Some("flex".into()),
        operation: Some("generate_content".into()),
        ..RequestInfo::default()
    };
    let attribution = Attribution::default();
    c.bench_function("cost/on_complete_routed_flex_with_name_resolution", |b| {
        b.iter(|| {
            let call = CompletedCall {
                request: RequestView {
                    trace_id: "t",
                    info: &info,
                    attribution: &attribution,
                    body: b"",
                },
                http_status: Some(200),
                status: "ok",
                usage: Some(&usage),
                usage_parts: &[],
                timings: Timings::default(),
                finish_reasons: &[],
                response_model: Some("gemini-3.5-flash-lite"),
                service_tier: Some("flex"),
                metering: Metering::Metered,
                started_at,
            };
            let mut out = PluginOutput::default();
            plugin.on_complete(&call, &mut out);
            black_box(out)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
