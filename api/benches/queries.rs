//! Timings of the API's heaviest queries on a large database (a plain harness, no asserts).
//!
//! ```text
//! cargo run --release -p gateway-api --example fill_db -- --db bench-out/api-bench.db
//! GATEWAY_API_BENCH_DB=bench-out/api-bench.db cargo bench -p gateway-api --bench queries
//! ```
//!
//! Without `GATEWAY_API_BENCH_DB` (or if the file is missing) a 100,000-trace database is
//! generated first in `bench-out/`. Prints min / median / max milliseconds of each query:
//! percentiles over all traces, one waterfall, a filtered first page, and the cost series.

#[path = "../examples/fill_db/generate.rs"]
mod generate;

use gateway_api::waterfall::waterfall;
use gateway_store::query::{CostGroupBy, CostQuery, LatencyQuery, Reader, TraceFilter};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const RUNS: usize = 30;

fn time<T>(name: &str, goal_ms: f64, mut f: impl FnMut() -> T) -> T {
    let mut out = f(); // warm-up
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        out = f();
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "{name:<58} min {:>8.2} ms  median {:>8.2} ms  max {:>8.2} ms  (goal <= {goal_ms} ms)",
        samples[0],
        samples[RUNS / 2],
        samples[RUNS - 1]
    );
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var_os("GATEWAY_API_BENCH_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("bench-out/api-bench-100k.db"));
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        println!("generating 100,000 traces in {} ...", path.display());
        let opts = generate::FillOptions {
            traces: 100_000,
            days: 30,
            seed: 42,
            batch: 5000,
        };
        generate::fill(&path, &opts)?;
    }
    let r = Reader::open(&path, Duration::from_secs(5))?;
    let now = gateway_api::time::now_unix_nano();
    let all = r.list_traces(&TraceFilter {
        limit: 1,
        ..Default::default()
    })?;
    let newest = all
        .traces
        .first()
        .ok_or("empty database")?
        .start_time_unix_nano;
    let everything = LatencyQuery {
        since: 0,
        until: now + 1,
        model: None,
        group_by_model: false,
    };
    let lat = time("latency p50/p95/p99 + ttft, all traces", 50.0, || {
        r.latency(&everything)
    });
    let lat = lat?;
    println!(
        "  -> {} traces, p50 {:?} p95 {:?} p99 {:?} ms, ttft p50 {:?} ms",
        lat.count, lat.p50_ms, lat.p95_ms, lat.p99_ms, lat.ttft_p50_ms
    );
    let grouped = LatencyQuery {
        group_by_model: true,
        ..everything.clone()
    };
    time("latency, all traces, group_by=model", 50.0, || {
        r.latency(&grouped)
    })?;
    let day = LatencyQuery {
        since: now - 86_400_000_000_000,
        ..everything.clone()
    };
    time("latency, last 24h", 50.0, || r.latency(&day))?;

    // A trace from the middle of the data set.
    let middle = r.list_traces(&TraceFilter {
        limit: 1,
        until: Some(newest - 15 * 86_400_000_000_000),
        ..Default::default()
    })?;
    let id = middle
        .traces
        .first()
        .map(|t| t.trace_id.clone())
        .ok_or("no middle trace")?;
    let (found, spans, snapshots) = time(
        "one trace: summary + waterfall + snapshots",
        5.0,
        || -> Result<_, gateway_store::query::QueryError> {
            let t = r.trace(&id)?;
            let w = waterfall(r.spans(&id)?);
            let s = r.trace_snapshots(&id)?;
            Ok((t.is_some(), w.len(), s.len()))
        },
    )?;
    println!("  -> {id}: found {found}, {spans} spans, {snapshots} snapshots");

    let first = TraceFilter {
        limit: 50,
        ..Default::default()
    };
    time(
        "trace list page 1, no filter (the live snapshot)",
        20.0,
        || r.list_traces(&first),
    )?;
    let filter = TraceFilter {
        model: Some("gemini-2.5-flash".into()),
        status: Some("ok".into()),
        min_duration_ms: Some(2000.0),
        limit: 50,
        ..Default::default()
    };
    let page = time(
        "trace list page 1: model + status + min_duration_ms",
        20.0,
        || r.list_traces(&filter),
    )?;
    let next = page
        .next
        .clone()
        .and_then(|c| gateway_store::query::Cursor::decode(&c));
    let filter2 = TraceFilter {
        before: next,
        ..filter.clone()
    };
    time("trace list page 2 (keyset)", 20.0, || {
        r.list_traces(&filter2)
    })?;
    let breached = TraceFilter {
        breached: Some(true),
        limit: 50,
        ..Default::default()
    };
    time("trace list page 1: breached=true", 20.0, || {
        r.list_traces(&breached)
    })?;

    let cost = CostQuery {
        since: now - 31 * 86_400_000_000_000,
        until: now + 1,
        bucket_ns: 3_600_000_000_000,
        group_by: Some(CostGroupBy::Model),
        model: None,
    };
    let report = time(
        "cost series, 31 days in 1h buckets, group_by=model",
        50.0,
        || r.cost(&cost),
    )?;
    println!(
        "  -> {} points, total ${:.2}, {} unpriced",
        report.series.len(),
        report.total_usd,
        report.unpriced_count
    );
    let day_cost = CostQuery {
        since: now - 86_400_000_000_000,
        group_by: None,
        ..cost.clone()
    };
    time("cost series, 24h in 1h buckets", 50.0, || r.cost(&day_cost))?;
    let stats = time("live stats (today, last hour)", 50.0, || r.live_stats(now))?;
    println!(
        "  -> {} requests in the last hour",
        stats.requests_last_hour
    );
    Ok(())
}
