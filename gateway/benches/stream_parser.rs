//! Criterion bench of the response observer: SSE and JSON-array streams and a plain JSON body,
//! fed in network-sized chunks, then summarised; and the same SSE stream gzip-compressed event by
//! event (as Google's front ends send it), decoded on the observer's copy. Run: `cargo bench -p gemini-gateway --bench stream_parser`.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gemini_gateway::observe::Observer;
use gemini_gateway::payload::summarize;
use gemini_gateway::route::Framing;
use std::hint::black_box;

fn event(i: usize) -> String {
    format!(
        r#"{{"candidates": [{{"content": {{"parts": [{{"text": "{}"}}],"role": "model"}},"index": 0}}],"usageMetadata": {{"promptTokenCount": 812,"candidatesTokenCount": {},"totalTokenCount": {},"thoughtsTokenCount": 2042}},"modelVersion": "gemini-2.5-flash","responseId": "FugfaZasF6ra2roP_9i9KQ"}}"#,
        "lorem ipsum dolor sit amet ".repeat(12),
        i * 49,
        812 + i * 49 + 2042
    )
}

fn bench(c: &mut Criterion) {
    let n = 120;
    let sse: Vec<u8> = (0..n)
        .map(|i| format!("data: {}\r\n\r\n", event(i)))
        .collect::<String>()
        .into_bytes();
    let array: Vec<u8> =
        format!("[{}]", (0..n).map(event).collect::<Vec<_>>().join(",\r\n")).into_bytes();
    let json = event(1).into_bytes();
    // gzip with a sync flush after each event, as a streaming server compresses.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..n {
        use std::io::Write;
        enc.write_all(format!("data: {}\r\n\r\n", event(i)).as_bytes())
            .unwrap();
        enc.flush().unwrap();
    }
    let sse_gzip = enc.finish().unwrap();
    let route = gemini_gateway::surfaces::classify(
        "POST",
        "/v1beta/models/gemini-3.8-flash:streamGenerateContent",
        Some("alt=sse"),
    );

    let mut g = c.benchmark_group("observer");
    for (name, framing, body, encoding) in [
        ("sse_120_events", Framing::Sse, &sse, None),
        ("sse_120_events_gzip", Framing::Sse, &sse_gzip, Some("gzip")),
        ("json_array_120_elements", Framing::JsonArray, &array, None),
        ("json_single", Framing::Json, &json, None),
    ] {
        // Throughput is counted in decoded bytes, so plain and gzip compare per byte of JSON.
        let decoded = if encoding.is_some() {
            sse.len()
        } else {
            body.len()
        };
        g.throughput(Throughput::Bytes(decoded as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut obs = Observer::for_surface(framing, 8 << 20, 0, route.surface(), encoding);
                for chunk in body.chunks(1400) {
                    obs.feed(black_box(chunk));
                }
                black_box(summarize(&obs.finish()))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
