//! Criterion bench of cost computation and of the plugin's `on_complete`.
//! Run: `cargo bench -p gateway-cost --bench cost`.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use gateway_cost::{PricingConfig, TokenCostPlugin, compute, default_prices};
use gateway_plugin_sdk::prelude::*;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let price = default_prices().remove("gemini-2.5-pro").unwrap();
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
        operation: Some("generate_content".into()),
        ..RequestInfo::default()
    };
    let attribution = Attribution::default();
    c.bench_function("cost/on_complete_with_name_resolution", |b| {
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
                timings: Timings::default(),
                finish_reasons: &[],
                response_model: None,
            };
            let mut out = PluginOutput::default();
            plugin.on_complete(&call, &mut out);
            black_box(out)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
