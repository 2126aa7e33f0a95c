//! Golden answers of the read endpoints over a fixed database.
//!
//! The database is built here: the store's migrations create it (`Store::open`), then fixed rows
//! with fixed timestamps go in through the writer's own call (`Store::write_all`, triggers
//! included). The real `api` binary serves it over HTTP, and every answer is compared twice:
//! - with values this file computes from the inserted rows by the documented rules (newest
//!   first, nearest-rank percentiles, money rounded to 12 decimals, unpriced = the row's
//!   `unpriced` flag (a failed call without usage is not), waterfall order), never with the API's or the store's code;
//! - with a checked-in golden file (`api/tests/golden/*.json`), so any change of shape shows in
//!   review. `GOLDEN_REGENERATE=1 cargo test -p gateway-api --test golden` rewrites the files;
//!   the computed checks still run and must pass first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use gateway_store::{SpanRow, Store, StoreOptions, TraceRow};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const MS: i64 = 1_000_000;
const HOUR: i64 = 3_600_000 * MS;
const DAY: i64 = 24 * HOUR;
/// 2026-11-02T00:00:00Z, a UTC midnight.
const T0: i64 = 1_793_577_600 * 1_000_000_000;
/// The window every query asks for: three whole days from `T0`.
const SINCE: i64 = T0;
const UNTIL: i64 = T0 + 3 * DAY;

fn tid(n: u64) -> String {
    format!("{n:032x}")
}

fn sid(n: u64) -> String {
    format!("{n:016x}")
}

/// One fixed trace: (n, model, operation, stream, status, http, start, ms, ttft, in, out,
/// cached, reasoning, cost, unpriced, user, session).
#[allow(clippy::type_complexity)]
fn traces() -> Vec<TraceRow> {
    let rows: [(
        u64,
        &str,
        &str,
        bool,
        &str,
        i64,
        i64,
        i64,
        Option<f64>,
        Option<(i64, i64, i64, i64)>,
        Option<f64>,
        bool,
        Option<&str>,
        Option<&str>,
    ); 8] = [
        (
            1,
            "gemini-2.5-flash",
            "generate_content",
            true,
            "ok",
            200,
            T0 + HOUR,
            1200,
            Some(150.0),
            Some((100, 400, 0, 50)),
            Some(0.00103),
            false,
            Some("u1"),
            Some("s1"),
        ),
        (
            2,
            "gemini-2.5-flash",
            "generate_content",
            false,
            "ok",
            200,
            T0 + 2 * HOUR,
            800,
            None,
            Some((50, 100, 10, 0)),
            Some(0.000265),
            false,
            Some("u1"),
            Some("s1"),
        ),
        (
            3,
            "gemini-2.5-pro",
            "generate_content",
            true,
            "ok",
            200,
            T0 + DAY + 3 * HOUR,
            4000,
            Some(900.0),
            Some((1000, 2000, 0, 700)),
            Some(0.02125),
            false,
            Some("u2"),
            Some("s2"),
        ),
        (
            4,
            "gemini-2.5-pro",
            "generate_content",
            false,
            "error",
            500,
            T0 + DAY + 4 * HOUR,
            300,
            None,
            None,
            None,
            false,
            Some("u2"),
            Some("s2"),
        ),
        (
            5,
            "gemini-9-experimental",
            "generate_content",
            true,
            "ok",
            200,
            T0 + 2 * DAY + HOUR,
            2500,
            Some(400.0),
            Some((20, 30, 0, 0)),
            None,
            true,
            Some("u3"),
            Some("s3"),
        ),
        (
            6,
            "gemini-2.0-flash",
            "count_tokens",
            false,
            "ok",
            200,
            T0 + 2 * DAY + 2 * HOUR,
            40,
            None,
            None,
            None,
            false,
            Some("u3"),
            None,
        ),
        (
            7,
            "gemini-2.5-flash",
            "generate_content",
            false,
            "ok",
            200,
            T0 + 2 * DAY + 5 * HOUR,
            950,
            None,
            Some((200, 100, 0, 0)),
            Some(0.0005),
            false,
            None,
            None,
        ),
        // Before the window: in no answer below except the trace list without bounds.
        (
            8,
            "gemini-2.5-flash",
            "generate_content",
            false,
            "ok",
            200,
            T0 - HOUR,
            99_999,
            None,
            Some((1, 1, 0, 0)),
            Some(1.0),
            false,
            Some("u1"),
            Some("s1"),
        ),
    ];
    rows.iter()
        .map(|r| TraceRow {
            trace_id: tid(r.0),
            start_time_unix_nano: r.6,
            end_time_unix_nano: r.6 + r.7 * MS,
            model: Some(r.1.into()),
            operation: Some(r.2.into()),
            stream: r.3,
            http_status: Some(r.5),
            status: r.4.into(),
            error_type: (r.4 == "error").then(|| r.5.to_string()),
            input_tokens: r.9.map(|t| t.0),
            output_tokens: r.9.map(|t| t.1),
            cached_tokens: r.9.map(|t| t.2),
            reasoning_tokens: r.9.map(|t| t.3),
            ttft_ms: r.8,
            cost_usd: r.10,
            unpriced: r.11,
            user_id: r.12.map(Into::into),
            session_id: r.13.map(Into::into),
        })
        .collect()
}

/// The spans of trace 1 (a root, three steps, a tool call under the LLM step), written out of
/// order; every other trace has its root span only.
fn spans(traces: &[TraceRow]) -> Vec<SpanRow> {
    let t1 = &traces[0];
    let s = t1.start_time_unix_nano;
    let span = |n: u64,
                parent: Option<u64>,
                name: &str,
                kind: &'static str,
                from: i64,
                to: i64,
                attrs: Value,
                events: Value| SpanRow {
        span_id: sid(n),
        trace_id: t1.trace_id.clone(),
        parent_span_id: parent.map(sid),
        name: name.into(),
        kind,
        start_time_unix_nano: s + from * MS,
        end_time_unix_nano: s + to * MS,
        status_code: "unset",
        status_message: None,
        attributes_json: attrs.to_string(),
        events_json: events.to_string(),
    };
    let mut out = vec![
        span(
            14,
            Some(11),
            "post_processing",
            "internal",
            1190,
            1199,
            json!({"gateway.step": "post_processing", "gateway.cost.usd": 0.00103, "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 400}),
            json!([{"name": "gateway.metric", "time_unix_nano": s + 1195 * MS, "attributes": {"metric": "latency_ms", "value": 1200.0, "threshold": 1000.0}}]),
        ),
        span(
            13,
            Some(11),
            "generate_content gemini-2.5-flash",
            "client",
            3,
            1190,
            json!({"gateway.step": "llm_call", "gen_ai.request.model": "gemini-2.5-flash", "gen_ai.request.temperature": 0.5}),
            json!([]),
        ),
        span(
            15,
            Some(13),
            "execute_tool lookup",
            "internal",
            500,
            600,
            json!({"gen_ai.tool.name": "lookup"}),
            json!([]),
        ),
        span(
            11,
            None,
            "POST /v1beta/models/{model}:streamGenerateContent",
            "server",
            0,
            1200,
            json!({"gateway.status": "ok", "http.response.status_code": 200}),
            json!([]),
        ),
        span(
            12,
            Some(11),
            "prompt_construction",
            "internal",
            1,
            3,
            json!({"gateway.step": "prompt_construction", "gateway.request.bytes": 321}),
            json!([]),
        ),
    ];
    for (i, t) in traces.iter().enumerate().skip(1) {
        out.push(SpanRow {
            span_id: sid(100 + i as u64),
            trace_id: t.trace_id.clone(),
            parent_span_id: None,
            name: "POST /v1beta/models/{model}:generateContent".into(),
            kind: "server",
            start_time_unix_nano: t.start_time_unix_nano,
            end_time_unix_nano: t.end_time_unix_nano,
            status_code: if t.status == "error" {
                "error"
            } else {
                "unset"
            },
            status_message: (t.status == "error").then(|| "upstream 500".into()),
            attributes_json: json!({"gateway.status": t.status}).to_string(),
            events_json: "[]".into(),
        });
    }
    out
}

/// One `metric_snapshots` row as the writer inserts it.
struct Snap {
    trace_id: String,
    metric: String,
    value: f64,
    threshold: Option<f64>,
    breached: bool,
    model: Option<String>,
    created_at_unix_nano: i64,
    span_id: Option<String>,
}

/// Metric snapshots, in insertion (id) order: (trace index, metric, value, threshold).
fn snapshots(traces: &[TraceRow]) -> Vec<Snap> {
    [
        (0, "latency_ms", 1200.0, Some(1000.0)),
        (0, "cost_usd", 0.00103, Some(0.01)),
        (2, "latency_ms", 4000.0, Some(1000.0)),
        (4, "latency_ms", 2500.0, Some(3000.0)),
        (6, "ttft_ms", 12.5, None),
    ]
    .into_iter()
    .map(
        |(i, metric, value, threshold): (usize, &str, f64, Option<f64>)| {
            let t = &traces[i];
            Snap {
                trace_id: t.trace_id.clone(),
                metric: metric.into(),
                value,
                threshold,
                breached: threshold.is_some_and(|th| value > th),
                model: t.model.clone(),
                created_at_unix_nano: t.end_time_unix_nano,
                span_id: Some(if i == 0 { sid(14) } else { sid(100 + i as u64) }),
            }
        },
    )
    .collect()
}

/// Money as the API documents it: rounded to 12 decimal places.
fn usd(x: f64) -> f64 {
    (x * 1e12).round() / 1e12
}

/// Nearest rank: the value of rank ceil(p·n/100) among the sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64 / 100.0).ceil() as usize;
    Some(sorted[rank.max(1) - 1])
}

fn is_unpriced(t: &TraceRow) -> bool {
    t.unpriced
}

fn summary(t: &TraceRow, snaps: &[Snap]) -> Value {
    json!({
        "trace_id": t.trace_id,
        "start_time_unix_nano": t.start_time_unix_nano,
        "end_time_unix_nano": t.end_time_unix_nano,
        "duration_ms": (t.end_time_unix_nano - t.start_time_unix_nano) as f64 / 1e6,
        "model": t.model,
        "operation": t.operation,
        "stream": t.stream,
        "status": t.status,
        "http_status": t.http_status,
        "error_type": t.error_type,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "cached_tokens": t.cached_tokens,
        "reasoning_tokens": t.reasoning_tokens,
        "ttft_ms": t.ttft_ms,
        "cost_usd": t.cost_usd.map(usd),
        "unpriced": t.unpriced,
        "user_id": t.user_id,
        "session_id": t.session_id,
        "request_count": 1,
        "breached": snaps.iter().any(|m| m.trace_id == t.trace_id && m.breached),
    })
}

/// The real `api` binary over the fixed database.
struct Api {
    child: Child,
    addr: String,
}

impl Api {
    fn start(db: &Path, dir: &Path) -> Self {
        let config = dir.join("gateway.toml");
        std::fs::write(&config, format!("[storage]\npath = \"{}\"\n", db.display())).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_api"))
            .args([
                "--config",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("api listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, addr }
    }

    /// GET over a fresh HTTP/1.1 connection; the status and the JSON body.
    fn get(&self, path: &str) -> (u16, Value) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
        (status, json)
    }

    fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The answer equals its golden file (or rewrites it with `GOLDEN_REGENERATE=1`).
fn golden(name: &str, got: &Value) {
    let path = golden_dir().join(format!("{name}.json"));
    if std::env::var_os("GOLDEN_REGENERATE").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(got).unwrap() + "\n").unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with GOLDEN_REGENERATE=1 to write it",
            path.display()
        )
    });
    let want: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        got,
        &want,
        "{name}: the answer differs from {}",
        path.display()
    );
}

fn q(path: &str) -> String {
    format!("{path}since={SINCE}&until={UNTIL}")
}

#[test]
fn read_endpoints_answer_the_golden_values_of_a_fixed_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    let traces = traces();
    let spans = spans(&traces);
    let snaps = snapshots(&traces);
    {
        // The migrations create the file; the writer's own call writes spans and traces (the
        // aggregate triggers fire as in production); snapshots go in with the writer's columns.
        let mut store = Store::open(&db, &StoreOptions::default()).unwrap();
        store.write_batch(&spans, &traces).unwrap();
        for m in &snaps {
            store
                .connection()
                .execute(
                    "INSERT INTO metric_snapshots (trace_id, metric, value, threshold, breached,
                         model, created_at_unix_nano, span_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    (
                        &m.trace_id,
                        &m.metric,
                        m.value,
                        m.threshold,
                        m.breached,
                        &m.model,
                        m.created_at_unix_nano,
                        &m.span_id,
                    ),
                )
                .unwrap();
        }
    }
    let api = Api::start(&db, dir.path());
    let in_window: Vec<&TraceRow> = traces
        .iter()
        .filter(|t| t.start_time_unix_nano >= SINCE && t.start_time_unix_nano < UNTIL)
        .collect();

    // Health.
    let health = api.ok("/healthz");
    assert_eq!(health, json!({"status": "ok"}));
    golden("healthz", &health);

    // The list: newest first, two pages of 4 through the cursor, then nothing.
    let mut newest_first: Vec<&TraceRow> = traces.iter().collect();
    newest_first.sort_by_key(|t| std::cmp::Reverse((t.start_time_unix_nano, t.trace_id.clone())));
    let page1 = api.ok("/api/traces?limit=4");
    let want1: Vec<Value> = newest_first[..4]
        .iter()
        .map(|t| summary(t, &snaps))
        .collect();
    assert_eq!(page1["traces"], json!(want1));
    let next = page1["next"].as_str().expect("a cursor after a full page");
    let page2 = api.ok(&format!("/api/traces?limit=4&before={next}"));
    let want2: Vec<Value> = newest_first[4..]
        .iter()
        .map(|t| summary(t, &snaps))
        .collect();
    assert_eq!(page2["traces"], json!(want2));
    // A full last page may still carry a cursor; the page after it is empty and final.
    if let Some(next) = page2["next"].as_str() {
        let page3 = api.ok(&format!("/api/traces?limit=4&before={next}"));
        assert_eq!(page3["traces"], json!([]), "{page3}");
        assert!(page3["next"].is_null(), "{page3}");
    }
    golden("traces_page1", &page1);
    golden("traces_page2", &page2);
    let filtered = api.ok(&q("/api/traces?model=gemini-2.5-flash&breached=true&"));
    let want: Vec<Value> = newest_first
        .iter()
        .filter(|t| {
            in_window.contains(t)
                && t.model.as_deref() == Some("gemini-2.5-flash")
                && summary(t, &snaps)["breached"] == true
        })
        .map(|t| summary(t, &snaps))
        .collect();
    assert_eq!(filtered["traces"], json!(want));
    golden("traces_filtered", &filtered);

    // Detail and waterfall of trace 1: parents before children, siblings by start; offsets
    // from the earliest span; depth from the root.
    let t1 = &traces[0];
    let detail = api.ok(&format!("/api/traces/{}", t1.trace_id));
    assert_eq!(detail["trace"], summary(t1, &snaps));
    let mine: Vec<&SpanRow> = spans.iter().filter(|s| s.trace_id == t1.trace_id).collect();
    let earliest = mine.iter().map(|s| s.start_time_unix_nano).min().unwrap();
    fn walk<'a>(
        all: &[&'a SpanRow],
        parent: Option<&str>,
        depth: u32,
        out: &mut Vec<(&'a SpanRow, u32)>,
    ) {
        let mut kids: Vec<&&SpanRow> = all
            .iter()
            .filter(|s| s.parent_span_id.as_deref() == parent)
            .collect();
        kids.sort_by_key(|s| s.start_time_unix_nano);
        for k in kids {
            out.push((k, depth));
            walk(all, Some(&k.span_id), depth + 1, out);
        }
    }
    let mut order = Vec::new();
    walk(&mine, None, 0, &mut order);
    assert_eq!(order.len(), mine.len());
    let want_spans: Vec<Value> = order
        .iter()
        .map(|(s, depth)| {
            json!({
                "span_id": s.span_id,
                "parent_span_id": s.parent_span_id,
                "name": s.name,
                "kind": s.kind,
                "start_time_unix_nano": s.start_time_unix_nano,
                "end_time_unix_nano": s.end_time_unix_nano,
                "duration_ms": (s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e6,
                "offset_ms": (s.start_time_unix_nano - earliest) as f64 / 1e6,
                "depth": depth,
                "status_code": s.status_code,
                "status_message": s.status_message,
                "attributes": serde_json::from_str::<Value>(&s.attributes_json).unwrap(),
                "events": serde_json::from_str::<Value>(&s.events_json).unwrap(),
            })
        })
        .collect();
    assert_eq!(detail["spans"], json!(want_spans));
    let got_snaps: Vec<(String, f64, bool)> = detail["metric_snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["metric"].as_str().unwrap().to_owned(),
                m["value"].as_f64().unwrap(),
                m["breached"].as_bool().unwrap(),
            )
        })
        .collect();
    let mut want_snaps: Vec<(String, f64, bool)> = snaps
        .iter()
        .filter(|m| m.trace_id == t1.trace_id)
        .map(|m| (m.metric.clone(), m.value, m.breached))
        .collect();
    let mut sorted_got = got_snaps.clone();
    sorted_got.sort_by(|a, b| a.0.cmp(&b.0));
    want_snaps.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(sorted_got, want_snaps);
    golden("trace_detail", &detail);
    let (status, missing) = api.get(&format!("/api/traces/{}", tid(999)));
    assert_eq!(status, 404, "{missing}");

    // Percentiles over the window, overall and by model.
    let latency = api.ok(&q("/api/metrics/latency?group_by=model&"));
    let pct = |rows: &[&TraceRow]| -> Value {
        let mut d: Vec<f64> = rows
            .iter()
            .map(|t| (t.end_time_unix_nano - t.start_time_unix_nano) as f64 / 1e6)
            .collect();
        d.sort_by(f64::total_cmp);
        let mut f: Vec<f64> = rows.iter().filter_map(|t| t.ttft_ms).collect();
        f.sort_by(f64::total_cmp);
        json!({
            "count": d.len(), "p50_ms": percentile(&d, 50.0), "p95_ms": percentile(&d, 95.0),
            "p99_ms": percentile(&d, 99.0), "ttft_count": f.len(),
            "ttft_p50_ms": percentile(&f, 50.0), "ttft_p95_ms": percentile(&f, 95.0),
            "ttft_p99_ms": percentile(&f, 99.0),
        })
    };
    let all: Vec<&TraceRow> = in_window.clone();
    let overall = pct(&all);
    for (k, v) in overall.as_object().unwrap() {
        assert_eq!(&latency[k], v, "latency {k}: {latency}");
    }
    let mut models: Vec<&str> = in_window
        .iter()
        .filter_map(|t| t.model.as_deref())
        .collect();
    models.sort();
    models.dedup();
    let groups = latency["groups"].as_array().unwrap();
    assert_eq!(groups.len(), models.len(), "{latency}");
    for m in &models {
        let rows: Vec<&TraceRow> = in_window
            .iter()
            .copied()
            .filter(|t| t.model.as_deref() == Some(*m))
            .collect();
        let g = groups
            .iter()
            .find(|g| g["key"] == *m)
            .unwrap_or_else(|| panic!("no group {m}"));
        for (k, v) in pct(&rows).as_object().unwrap() {
            assert_eq!(&g[k], v, "latency of {m}, {k}");
        }
    }
    golden("latency_by_model", &latency);

    // Cost by model, by session and by user over daily buckets.
    // Priced traces add their cost (a free call, such as countTokens, adds $0); a set of
    // only unpriced traces has no cost at all (null, never 0).
    let priced = |rows: &[&TraceRow]| -> Option<f64> {
        let c: Vec<f64> = rows
            .iter()
            .filter(|t| !is_unpriced(t))
            .map(|t| t.cost_usd.unwrap_or(0.0))
            .collect();
        (!c.is_empty()).then(|| usd(c.iter().sum()))
    };
    let tokens = |rows: &[&TraceRow], f: fn(&TraceRow) -> Option<i64>| -> i64 {
        rows.iter().filter_map(|t| f(t)).sum()
    };
    for (group_by, key) in [
        (
            "model",
            (|t: &TraceRow| t.model.clone()) as fn(&TraceRow) -> Option<String>,
        ),
        ("session_id", |t: &TraceRow| t.session_id.clone()),
        ("user_id", |t: &TraceRow| t.user_id.clone()),
    ] {
        let cost = api.ok(&q(&format!(
            "/api/metrics/cost?bucket=1d&group_by={group_by}&"
        )));
        assert_eq!(
            cost["total_usd"],
            json!(priced(&all).unwrap_or(0.0)),
            "{cost}"
        );
        assert_eq!(cost["requests"], json!(all.len()));
        assert_eq!(
            cost["unpriced_count"],
            json!(all.iter().filter(|t| is_unpriced(t)).count())
        );
        assert_eq!(
            cost["input_tokens"],
            json!(tokens(&all, |t| t.input_tokens))
        );
        assert_eq!(
            cost["output_tokens"],
            json!(tokens(&all, |t| t.output_tokens))
        );
        // Series: one point per UTC day of the window, oldest first.
        let series: Vec<Value> = (0..3)
            .map(|d| {
                let day: Vec<&TraceRow> = all
                    .iter()
                    .copied()
                    .filter(|t| (t.start_time_unix_nano - T0) / DAY == d)
                    .collect();
                json!({"t": T0 + d * DAY, "usd": priced(&day).unwrap_or(0.0), "requests": day.len(),
                       "unpriced": day.iter().filter(|t| is_unpriced(t)).count()})
            })
            .collect();
        assert_eq!(cost["series"], json!(series), "series by {group_by}");
        // Groups: costliest first; a group of only unpriced traces has usd null.
        let mut keys: Vec<Option<String>> = all.iter().map(|t| key(t)).collect();
        keys.sort();
        keys.dedup();
        let mut want: Vec<Value> = keys
            .iter()
            .map(|k| {
                let rows: Vec<&TraceRow> = all.iter().copied().filter(|t| key(t) == *k).collect();
                json!({"key": k, "usd": priced(&rows), "requests": rows.len(),
                       "unpriced": rows.iter().filter(|t| is_unpriced(t)).count(),
                       "input_tokens": tokens(&rows, |t| t.input_tokens),
                       "output_tokens": tokens(&rows, |t| t.output_tokens)})
            })
            .collect();
        want.sort_by(|a, b| {
            b["usd"]
                .as_f64()
                .unwrap_or(-1.0)
                .total_cmp(&a["usd"].as_f64().unwrap_or(-1.0))
        });
        assert_eq!(cost["groups"], json!(want), "groups by {group_by}");
        golden(&format!("cost_by_{group_by}_per_day"), &cost);
    }

    // Metric snapshots through the after_id cursor, two at a time, ascending ids.
    let mut after = 0;
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page = api.ok(&format!("/api/metric-snapshots?after_id={after}&limit=2"));
        let rows = page["snapshots"].as_array().unwrap().clone();
        let remaining = snaps.len() - seen.len();
        assert_eq!(rows.len(), remaining.min(2), "{page}");
        assert_eq!(page["has_more"], json!(remaining > 2), "{page}");
        assert_eq!(page["limit"], json!(2));
        for r in &rows {
            let i = seen.len();
            let m = &snaps[i];
            assert_eq!(r["id"], json!(i + 1), "ids ascend from 1: {page}");
            assert_eq!(r["trace_id"], json!(m.trace_id));
            assert_eq!(r["metric"], json!(m.metric));
            assert_eq!(r["value"], json!(m.value));
            assert_eq!(r["threshold"], json!(m.threshold));
            assert_eq!(
                r["breached"],
                json!(m.threshold.is_some_and(|t| m.value > t))
            );
            assert_eq!(r["model"], json!(m.model));
            assert_eq!(r["created_at_unix_nano"], json!(m.created_at_unix_nano));
            assert_eq!(r["span_id"], json!(m.span_id));
            seen.push(r["id"].as_i64().unwrap());
        }
        let next = page["next_after_id"].as_i64().unwrap();
        assert_eq!(next, seen.last().copied().unwrap_or(after), "{page}");
        pages.push(page.clone());
        if page["has_more"] == false {
            break;
        }
        after = next;
    }
    assert_eq!(seen.len(), snaps.len());
    golden("metric_snapshots_cursor", &json!(pages));
    let breached = api.ok("/api/metric-snapshots?breached=true");
    let ids: Vec<i64> = breached["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    let mut want: Vec<i64> = (1..=snaps.len() as i64)
        .filter(|i| snaps[*i as usize - 1].breached)
        .collect();
    want.reverse(); // without after_id: newest first
    assert_eq!(ids, want);
    golden("metric_snapshots_breached", &breached);
}
