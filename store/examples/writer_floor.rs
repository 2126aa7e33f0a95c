//! The storage floor: what the store alone costs per request for the rows a gateway wrote.
//!
//! Reads every trace of a database the gateway filled (its spans, `traces` row and metric
//! rows), then writes them again, under fresh ids and in batches like the exporter's, into new
//! files through [`Store::write_all`]: the same schema, indexes, pragmas and checkpoint thread,
//! without the span conversion, the queue or the proxy. It prints each variant's CPU per
//! request (the writing thread and `sqlite-checkpoint` apart, user and system apart) and the
//! bytes written through system calls. The variants change what is stored, to price each part
//! of the data contract:
//!
//! - `stored`: the rows as the gateway wrote them;
//! - `no-repeats`: the root and `prompt_construction` spans without the attributes the LLM call
//!   span holds with the same value, `post_processing` without `gateway.cost.source`, and the
//!   LLM span without the `gen_ai.usage.cache_creation.input_tokens` alias;
//! - `no-attributes`: every span's attributes `{}`;
//! - `no-metric-rows`: the spans and `traces` rows as stored, no `metric_snapshots` rows;
//! - `spans-only`: the spans as stored, no `traces` or metric rows.
//!
//! ```text
//! cargo run --release -p gateway-store --example writer_floor -- SOURCE.db \
//!     [--requests 100000] [--warm 30000] [--batch 200] [--distinct 20000] \
//!     [--variants stored,no-repeats,...]
//! ```
//!
//! Asserts nothing; `bench/writer_floor.py` makes the source file and runs it.

use gateway_store::{MetricRow, SpanRow, Store, StoreOptions, TraceRow};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// One request as the source file holds it.
#[derive(Clone)]
struct Request {
    spans: Vec<SpanRow>,
    trace: TraceRow,
    metrics: Vec<MetricRow>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let source = args
        .first()
        .expect("usage: writer_floor SOURCE.db [options]");
    let opt = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let requests: usize = opt("--requests", "100000").parse().expect("--requests");
    let warm: usize = opt("--warm", "30000").parse().expect("--warm");
    let batch: usize = opt("--batch", "200").parse().expect("--batch");
    let variants = opt(
        "--variants",
        "stored,no-repeats,no-attributes,no-metric-rows,spans-only",
    );

    let distinct: usize = opt("--distinct", "20000").parse().expect("--distinct");
    let read = read_source(Path::new(source), distinct);
    assert!(!read.is_empty(), "{source} holds no gateway traces");
    println!(
        "source: {} requests from {source}; writing {warm} to warm the file, then measuring \
         {requests}, in batches of {batch}\n",
        read.len()
    );
    println!(
        "| variant | bytes of rows per request | writer user / sys (µs) | checkpoint user / sys (µs) \
         | total CPU (µs) | written by writer / checkpoint (KiB) |"
    );
    println!("|---|---|---|---|---|---|");
    for variant in variants.split(',') {
        let shaped: Vec<Request> = read.iter().map(|r| shape(r, variant)).collect();
        run(variant, &shaped, warm, requests, batch);
    }
}

/// Reads the first `limit` requests that have a `traces` row of their own, with their spans and
/// metric rows. The replay cycles through them: a larger source only makes the process larger.
fn read_source(path: &Path, limit: usize) -> Vec<Request> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
    let mut traces: Vec<TraceRow> = conn
        .prepare(
            "SELECT trace_id, start_time_unix_nano, end_time_unix_nano, model, operation, stream,
                http_status, status, error_type, input_tokens, output_tokens, cached_tokens,
                reasoning_tokens, ttft_ms, cost_usd, unpriced, user_id, session_id
             FROM traces WHERE request_count = 1 ORDER BY start_time_unix_nano LIMIT ?1",
        )
        .expect("traces")
        .query_map([limit as i64], |r| {
            Ok(TraceRow {
                trace_id: r.get(0)?,
                start_time_unix_nano: r.get(1)?,
                end_time_unix_nano: r.get(2)?,
                model: r.get(3)?,
                operation: r.get(4)?,
                stream: r.get(5)?,
                http_status: r.get(6)?,
                status: r.get(7)?,
                error_type: r.get(8)?,
                input_tokens: r.get(9)?,
                output_tokens: r.get(10)?,
                cached_tokens: r.get(11)?,
                reasoning_tokens: r.get(12)?,
                ttft_ms: r.get(13)?,
                cost_usd: r.get(14)?,
                unpriced: r.get(15)?,
                user_id: r.get(16)?,
                session_id: r.get(17)?,
            })
        })
        .expect("traces")
        .collect::<Result<_, _>>()
        .expect("traces");
    let wanted: HashSet<&str> = traces.iter().map(|t| t.trace_id.as_str()).collect();
    let mut spans: HashMap<String, Vec<SpanRow>> = HashMap::new();
    let mut stmt = conn
        .prepare(
            "SELECT span_id, trace_id, parent_span_id, name, kind, start_time_unix_nano,
                end_time_unix_nano, status_code, status_message, attributes, events
             FROM spans ORDER BY id",
        )
        .expect("spans");
    let rows = stmt
        .query_map([], |r| {
            Ok(SpanRow {
                span_id: r.get(0)?,
                trace_id: r.get(1)?,
                parent_span_id: r.get(2)?,
                name: r.get(3)?,
                kind: leak(r.get(4)?),
                start_time_unix_nano: r.get(5)?,
                end_time_unix_nano: r.get(6)?,
                status_code: leak(r.get(7)?),
                status_message: r.get(8)?,
                attributes_json: r.get(9)?,
                events_json: r.get(10)?,
            })
        })
        .expect("spans");
    for s in rows {
        let s = s.expect("span");
        if !wanted.contains(s.trace_id.as_str()) {
            continue;
        }
        spans.entry(s.trace_id.clone()).or_default().push(s);
    }
    let mut metrics: HashMap<String, Vec<MetricRow>> = HashMap::new();
    let mut stmt = conn
        .prepare(
            "SELECT trace_id, metric, value, threshold, breached, model, created_at_unix_nano,
                span_id, llm_span_id FROM metric_snapshots ORDER BY id",
        )
        .expect("metrics");
    let rows = stmt
        .query_map([], |r| {
            Ok(MetricRow {
                trace_id: r.get(0)?,
                metric: r.get(1)?,
                value: r.get(2)?,
                threshold: r.get(3)?,
                breached: r.get(4)?,
                model: r.get(5)?,
                created_at_unix_nano: r.get(6)?,
                span_id: r.get(7)?,
                llm_span_id: r.get(8)?,
                request_span_id: None,
            })
        })
        .expect("metrics");
    for m in rows {
        let m = m.expect("metric");
        if !wanted.contains(m.trace_id.as_str()) {
            continue;
        }
        metrics.entry(m.trace_id.clone()).or_default().push(m);
    }
    drop(wanted);
    traces
        .drain(..)
        .filter_map(|trace| {
            let spans = spans.remove(&trace.trace_id)?;
            let metrics = metrics.remove(&trace.trace_id).unwrap_or_default();
            Some(Request {
                spans,
                trace,
                metrics,
            })
        })
        .collect()
}

/// The store takes kinds and status codes as `&'static str`; the source holds a handful.
fn leak(s: String) -> &'static str {
    match s.as_str() {
        "server" => "server",
        "client" => "client",
        "internal" => "internal",
        "producer" => "producer",
        "consumer" => "consumer",
        "unset" => "unset",
        "ok" => "ok",
        "error" => "error",
        _ => Box::leak(s.into_boxed_str()),
    }
}

fn attrs(s: &SpanRow) -> Map<String, Value> {
    match serde_json::from_str(&s.attributes_json) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The request's rows as `variant` stores them.
fn shape(r: &Request, variant: &str) -> Request {
    let mut r = r.clone();
    match variant {
        "stored" => {}
        "spans-only" | "no-metric-rows" => r.metrics.clear(),
        "no-attributes" => r
            .spans
            .iter_mut()
            .for_each(|s| s.attributes_json = "{}".into()),
        "no-repeats" => {
            // Each span's attributes parsed once; the LLM span's are the ones repeated.
            let parsed: Vec<Map<String, Value>> = r.spans.iter().map(attrs).collect();
            let step = |a: &Map<String, Value>| {
                a.get("gateway.step")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let llm = parsed
                .iter()
                .find(|a| step(a).as_deref() == Some("llm_call"))
                .cloned()
                .unwrap_or_default();
            for (s, mut a) in r.spans.iter_mut().zip(parsed) {
                match step(&a).as_deref() {
                    Some("llm_call") => {
                        a.remove("gen_ai.usage.cache_creation.input_tokens");
                    }
                    Some("post_processing") => {
                        a.remove("gateway.cost.source");
                    }
                    // The request's root and its prompt construction step; other spans
                    // (an application's, a plugin's) keep everything.
                    own if own == Some("prompt_construction") || s.parent_span_id.is_none() => {
                        a.retain(|k, v| llm.get(k) != Some(v));
                    }
                    _ => {}
                }
                s.attributes_json = Value::Object(a).to_string();
            }
        }
        other => panic!("unknown variant {other}"),
    }
    r
}

/// The request's rows under the `n`th fresh trace id, with fresh span ids (parents kept).
fn renumber(r: &Request, n: usize) -> Request {
    let mut r = r.clone();
    let trace_id = format!("{:012x}{:020x}", 0x0190_0000_0000u64 + n as u64, n);
    let mut ids = HashMap::new();
    for (i, s) in r.spans.iter().enumerate() {
        ids.insert(s.span_id.clone(), format!("{:08x}{:08x}", n, i));
    }
    let start = 1_700_000_000_000_000_000i64 + n as i64 * 100_000;
    let shift = start - r.trace.start_time_unix_nano;
    for s in &mut r.spans {
        s.trace_id.clone_from(&trace_id);
        s.span_id = ids[&s.span_id].clone();
        s.parent_span_id = s
            .parent_span_id
            .as_ref()
            .map(|p| ids.get(p).cloned().unwrap_or_else(|| p.clone()));
        s.start_time_unix_nano += shift;
        s.end_time_unix_nano += shift;
    }
    for m in &mut r.metrics {
        m.trace_id.clone_from(&trace_id);
        m.span_id = m.span_id.as_ref().and_then(|s| ids.get(s).cloned());
        m.llm_span_id = m.llm_span_id.as_ref().and_then(|s| ids.get(s).cloned());
        m.created_at_unix_nano += shift;
        // As the exporter derives it: the parent of the span that carried the values.
        m.request_span_id = r
            .spans
            .iter()
            .find(|s| Some(&s.span_id) == m.span_id.as_ref())
            .and_then(|s| s.parent_span_id.clone());
    }
    r.trace.trace_id = trace_id;
    r.trace.start_time_unix_nano += shift;
    r.trace.end_time_unix_nano += shift;
    r
}

/// Bytes of a request's rows as `variant` writes them: text columns and eight per number
/// (an estimate of the rows' content, not of the pages they take).
fn row_bytes(r: &Request, variant: &str) -> usize {
    let spans: usize = r
        .spans
        .iter()
        .map(|s| {
            s.span_id.len()
                + s.trace_id.len()
                + s.parent_span_id.as_ref().map_or(0, String::len)
                + s.name.len()
                + s.kind.len()
                + s.status_code.len()
                + s.attributes_json.len()
                + s.events_json.len()
                + 16
        })
        .sum();
    let metrics: usize = r
        .metrics
        .iter()
        .map(|m| m.trace_id.len() + m.metric.len() + 32 + 32)
        .sum();
    let trace = if variant == "spans-only" { 0 } else { 160 };
    spans + metrics + trace
}

/// (user µs, system µs, bytes written) of each thread of this process, by name.
fn thread_counters() -> HashMap<String, (f64, f64, f64)> {
    let tick = 1e6 / 100.0; // USER_HZ
    let mut out = HashMap::new();
    for e in std::fs::read_dir("/proc/self/task")
        .expect("task")
        .flatten()
    {
        let (Ok(stat), Ok(io)) = (
            std::fs::read_to_string(e.path().join("stat")),
            std::fs::read_to_string(e.path().join("io")),
        ) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let name = stat[stat.find('(').unwrap_or(0) + 1..close].to_string();
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        let (u, s): (f64, f64) = (f[11].parse().unwrap_or(0.0), f[12].parse().unwrap_or(0.0));
        let w = io
            .lines()
            .find_map(|l| l.strip_prefix("wchar: "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        let v = out.entry(name).or_insert((0.0, 0.0, 0.0));
        v.0 += u * tick;
        v.1 += s * tick;
        v.2 += w;
    }
    out
}

/// The checkpoint thread's name as `/proc` shows it (cut to 15 bytes).
const CHECKPOINT: &str = "sqlite-checkpoi";

type Batch = (Vec<SpanRow>, Vec<TraceRow>, Vec<MetricRow>);

/// The requests' rows in batches of `batch` requests, as the exporter hands them to the store.
fn batches(rs: &[Request], batch: usize, variant: &str) -> Vec<Batch> {
    rs.chunks(batch)
        .map(|chunk| {
            (
                chunk.iter().flat_map(|r| r.spans.iter().cloned()).collect(),
                if variant == "spans-only" {
                    Vec::new()
                } else {
                    chunk.iter().map(|r| r.trace.clone()).collect()
                },
                chunk
                    .iter()
                    .flat_map(|r| r.metrics.iter().cloned())
                    .collect(),
            )
        })
        .collect()
}

fn run(variant: &str, source: &[Request], warm: usize, requests: usize, batch: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store =
        Store::open(dir.path().join("floor.db"), &StoreOptions::default()).expect("open");
    store.checkpoint_in_background().expect("checkpoint thread");
    let all: Vec<Request> = (0..warm + requests)
        .map(|n| renumber(&source[n % source.len()], n))
        .collect();
    let bytes = all[warm..]
        .iter()
        .map(|r| row_bytes(r, variant))
        .sum::<usize>() as f64
        / requests as f64;
    for (spans, traces, metrics) in batches(&all[..warm], batch, variant) {
        store.write_all(&spans, &traces, &metrics).expect("write");
    }
    // The rows are cloned into batches outside the measured span, and the file system is
    // given what earlier writes left dirty: writeback running meanwhile would be counted as
    // this variant's system time.
    let measured = batches(&all[warm..], batch, variant);
    let _ = std::process::Command::new("sync").status();
    let me = std::fs::read_to_string("/proc/thread-self/comm")
        .expect("comm")
        .trim()
        .to_string();
    let before = thread_counters();
    for (spans, traces, metrics) in &measured {
        store.write_all(spans, traces, metrics).expect("write");
    }
    // Let the checkpoint thread finish what these batches left.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let after = thread_counters();
    // Per request: user µs, system µs, KiB written.
    let per = |name: &str| {
        let (a, b) = (
            before.get(name).copied().unwrap_or_default(),
            after.get(name).copied().unwrap_or_default(),
        );
        let n = requests as f64;
        ((b.0 - a.0) / n, (b.1 - a.1) / n, (b.2 - a.2) / n / 1024.0)
    };
    let (wu, ws, wk) = per(&me);
    // Thread names are cut to 15 bytes: `sqlite-checkpoint` reads as `sqlite-checkpoi`.
    let (cu, cs, ck) = per(CHECKPOINT);
    println!(
        "| {variant} | {bytes:.0} | {wu:.1} / {ws:.1} | {cu:.1} / {cs:.1} | {:.1} | {wk:.1} / {ck:.1} |",
        wu + ws + cu + cs
    );
}
