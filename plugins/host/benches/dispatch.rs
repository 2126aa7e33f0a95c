//! Plugin dispatch overhead per request (both hooks) with 0, 1 and 5 plugins.
//!
//! The plugins are minimal (one attribute per hook), so the figure is the host's cost: the
//! virtual call, `catch_unwind`, timing and counters. When `GATEWAY_BENCH_PLUGIN` names a built
//! plugin library (e.g. target/debug/libpii_tagger.so), the same is measured with that library
//! loaded 1 and 5 times. Run: `cargo bench -p gateway-plugin-host --bench dispatch`.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use gateway_plugin_host::PluginHost;
use gateway_plugin_sdk::prelude::*;
use std::hint::black_box;

struct Noop;

impl SpanPlugin for Noop {
    fn name(&self) -> &str {
        "noop"
    }
    fn on_request(&self, _r: &RequestView<'_>, out: &mut PluginOutput) {
        out.attr(Step::PromptConstruction, "noop.seen", true);
    }
    fn on_complete(&self, _c: &CompletedCall<'_>, out: &mut PluginOutput) {
        out.attr(Step::PostProcessing, "noop.done", true);
    }
}

fn per_request(host: &PluginHost, info: &RequestInfo, body: &[u8]) -> usize {
    let attribution = Attribution::default();
    let request = RequestView {
        trace_id: "0123",
        info,
        attribution: &attribution,
        body,
    };
    let mut out = PluginOutput::default();
    host.run_request(&request, &mut out);
    let usage = Usage {
        prompt_tokens: 10,
        candidates_tokens: 5,
        ..Usage::default()
    };
    let call = CompletedCall {
        request,
        http_status: Some(200),
        status: "ok",
        usage: Some(&usage),
        usage_parts: &[],
        timings: Timings::default(),
        finish_reasons: &[],
        response_model: None,
        service_tier: None,
        metering: gateway_plugin_sdk::Metering::Metered,
        started_at: std::time::SystemTime::now(),
    };
    host.run_complete(&call, &mut out);
    out.attributes.len()
}

fn bench(c: &mut Criterion) {
    let info = RequestInfo {
        model: Some("gemini-2.0-flash".into()),
        operation: Some("generate_content".into()),
        ..RequestInfo::default()
    };
    let body =
        br#"{"contents":[{"parts":[{"text":"mail me at a@b.co or call +1 555 010 9999"}]}]}"#;
    for n in [0usize, 1, 5] {
        let mut host = PluginHost::new();
        for _ in 0..n {
            host.add(Box::new(Noop), "builtin", "bench");
        }
        c.bench_function(&format!("dispatch/builtin_noop/{n}"), |b| {
            b.iter(|| black_box(per_request(&host, &info, body)))
        });
    }
    if let Ok(path) = std::env::var("GATEWAY_BENCH_PLUGIN") {
        for n in [1usize, 5] {
            let mut host = PluginHost::new();
            for _ in 0..n {
                let p = gateway_plugin_host::load(std::path::Path::new(&path), "{}").unwrap();
                host.add(Box::new(p), "library", path.clone());
            }
            c.bench_function(&format!("dispatch/loaded_library/{n}"), |b| {
                b.iter(|| black_box(per_request(&host, &info, body)))
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
