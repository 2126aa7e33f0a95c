//! Cost of persisting one gateway trace (root + three step spans with realistic attributes and
//! three metric events): conversion to rows plus the SQLite transaction, in batches of 256
//! traces (`_client_trace_ids`: trace ids in random order, as clients' `traceparent` bring
//! them). Run: `cargo bench -p gateway-sqlite --bench export`.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gateway_sqlite::SqliteSpanExporter;
use gateway_store::StoreOptions;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use std::time::{Duration, SystemTime};

fn span(
    trace: u128,
    id: u64,
    parent: u64,
    kind: SpanKind,
    name: &str,
    attrs: Vec<KeyValue>,
    events: SpanEvents,
) -> SpanData {
    let start = SystemTime::now();
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(trace),
            SpanId::from(id),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::from(parent),
        parent_span_is_remote: false,
        span_kind: kind,
        name: name.to_owned().into(),
        start_time: start,
        end_time: start + Duration::from_millis(3),
        attributes: attrs,
        dropped_attributes_count: 0,
        events,
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("bench").build(),
    }
}

fn trace(t: u128, id: u128) -> Vec<SpanData> {
    let common = || {
        vec![
            KeyValue::new("gen_ai.operation.name", "generate_content"),
            KeyValue::new("gen_ai.request.model", "gemini-2.5-flash"),
            KeyValue::new("gen_ai.request.stream", true),
        ]
    };
    let mut root = common();
    root.extend([
        KeyValue::new("gateway.status", "ok"),
        KeyValue::new("http.request.method", "POST"),
        KeyValue::new(
            "url.path",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        ),
        KeyValue::new("http.response.status_code", 200),
        KeyValue::new("gen_ai.usage.input_tokens", 812),
        KeyValue::new("gen_ai.usage.output_tokens", 1290),
        KeyValue::new("gateway.ttft_ms", 412.5),
        KeyValue::new("gateway.cost.usd", 0.0034),
        KeyValue::new("user.id", "user-42"),
        KeyValue::new("session.id", "session-7"),
    ]);
    let mut prompt = common();
    prompt.extend([
        KeyValue::new("gateway.step", "prompt_construction"),
        KeyValue::new("gen_ai.request.temperature", 0.7),
        KeyValue::new("gen_ai.request.max_tokens", 2048),
        KeyValue::new("gateway.request.contents", 3),
        KeyValue::new("gateway.request.parts", 5),
        KeyValue::new("gateway.request.bytes", 4096),
    ]);
    let mut llm = common();
    llm.extend([
        KeyValue::new("gateway.step", "llm_call"),
        KeyValue::new("gen_ai.provider.name", "gcp.gemini"),
        KeyValue::new("server.address", "generativelanguage.googleapis.com"),
        KeyValue::new("server.port", 443),
        KeyValue::new("http.response.status_code", 200),
        KeyValue::new("gen_ai.response.time_to_first_chunk", 0.41),
    ]);
    let post = vec![
        KeyValue::new("gateway.step", "post_processing"),
        KeyValue::new("gen_ai.usage.input_tokens", 812),
        KeyValue::new("gen_ai.usage.output_tokens", 1290),
        KeyValue::new("gen_ai.response.id", "FugfaZasF6ra2roP_9i9KQ"),
        KeyValue::new("gateway.cost.usd", 0.0034),
        KeyValue::new("gateway.cost.input_usd", 0.0002),
        KeyValue::new("gateway.cost.output_usd", 0.0032),
    ];
    let mut events = SpanEvents::default();
    for (m, v) in [
        ("latency_ms", 1800.0),
        ("cost_usd", 0.0034),
        ("ttft_ms", 412.5),
    ] {
        events.events.push(opentelemetry::trace::Event::new(
            "gateway.metric",
            SystemTime::now(),
            vec![
                KeyValue::new("metric", m),
                KeyValue::new("value", v),
                KeyValue::new("threshold", 1.0),
                KeyValue::new("model", "gemini-2.5-flash"),
            ],
            0,
        ));
    }
    let base = (t as u64) << 8;
    vec![
        span(
            id,
            base + 2,
            base + 1,
            SpanKind::Internal,
            "prompt_construction",
            prompt,
            SpanEvents::default(),
        ),
        span(
            id,
            base + 3,
            base + 1,
            SpanKind::Client,
            "generate_content gemini-2.5-flash",
            llm,
            SpanEvents::default(),
        ),
        span(
            id,
            base + 4,
            base + 1,
            SpanKind::Internal,
            "post_processing",
            post,
            events,
        ),
        span(
            id,
            base + 1,
            0,
            SpanKind::Server,
            "POST /v1beta/models/{model}:streamGenerateContent",
            root,
            SpanEvents::default(),
        ),
    ]
}

/// 256 fresh traces with increasing ids, as the gateway makes them (time-ordered).
fn batch(next: &mut u128) -> Vec<SpanData> {
    (0..256)
        .flat_map(|_| {
            *next += 1;
            trace(*next, *next)
        })
        .collect()
}

/// 256 fresh traces with ids in random order, as a client's `traceparent` brings them (an odd
/// multiplier is a bijection, so they stay unique): the indexes keyed by trace id are then
/// written at random places instead of appended to.
fn random_batch(next: &mut u128) -> Vec<SpanData> {
    (0..256)
        .flat_map(|_| {
            *next += 1;
            trace(
                *next,
                next.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let exporter =
        SqliteSpanExporter::open(dir.path().join("b.db"), &StoreOptions::default()).unwrap();
    let mut next: u128 = 1 << 100;
    let mut g = c.benchmark_group("export");
    g.throughput(Throughput::Elements(256));
    g.bench_function("256_traces_per_transaction", |b| {
        b.iter_batched(
            || batch(&mut next),
            |batch| exporter.write(&batch).unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    let dir3 = tempfile::tempdir().unwrap();
    let client_ids =
        SqliteSpanExporter::open(dir3.path().join("r.db"), &StoreOptions::default()).unwrap();
    g.bench_function("256_traces_per_transaction_client_trace_ids", |b| {
        b.iter_batched(
            || random_batch(&mut next),
            |batch| client_ids.write(&batch).unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    let dir2 = tempfile::tempdir().unwrap();
    let store =
        gateway_store::Store::open(dir2.path().join("n.db"), &StoreOptions::default()).unwrap();
    store
        .connection()
        .execute_batch(
            "DROP TRIGGER IF EXISTS traces_aggregate_insert; DROP TRIGGER IF EXISTS traces_aggregate_update;
             DROP INDEX IF EXISTS traces_duration_bucket; DROP INDEX IF EXISTS traces_ttft_bucket;",
        )
        .unwrap();
    let bare = SqliteSpanExporter::new(store);
    g.bench_function("256_traces_without_read_side_aggregates", |b| {
        b.iter_batched(
            || batch(&mut next),
            |batch| bare.write(&batch).unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("256_traces_conversion_only", |b| {
        b.iter_batched(
            || batch(&mut next),
            |batch| {
                let mut metrics = Vec::new();
                let rows: Vec<_> = batch.iter().map(gateway_sqlite::span_row).collect();
                let traces: Vec<_> = batch.iter().filter_map(gateway_sqlite::trace_row).collect();
                batch
                    .iter()
                    .for_each(|s| gateway_sqlite::metric_rows(s, &mut metrics));
                (rows, traces, metrics)
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
