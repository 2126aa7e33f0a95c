//! `GET /api/sessions/{id}` over a fixed database: two sessions interleaved in time, a
//! conversation across sessions, an Interactions chain with a cycle, traces with NULL cost
//! (unpriced, and one deferred: not unpriced),
//! application spans. Every expected value is computed here from the inserted rows.

use crate::util::{MS, TestDb, get, message, now, tid};
use axum::http::StatusCode;
use gateway_store::query::{Reader, SessionKind};
use gateway_store::{SpanRow, TraceRow};
use serde_json::Value;
use std::time::Duration;

/// One trace of the fixture: its row and the attributes of its LLM span.
struct Fixture {
    rows: Vec<TraceRow>,
    spans: Vec<SpanRow>,
}

/// Trace `n`'s row. A trace with no cost is unpriced, except trace 3: a deferred call (no
/// cost yet, not unpriced), so that a count of NULL costs and the count of `unpriced` differ.
fn row(n: u64, start: i64, ms: i64, session: Option<&str>, cost: Option<f64>) -> TraceRow {
    TraceRow {
        trace_id: tid(n),
        start_time_unix_nano: start,
        end_time_unix_nano: start + ms * MS,
        model: Some(
            if n.is_multiple_of(2) {
                "gemini-2.5-flash"
            } else {
                "gemini-2.5-pro"
            }
            .into(),
        ),
        operation: Some("generate_content".into()),
        status: "ok".into(),
        http_status: Some(200),
        input_tokens: Some(100 + n as i64 * 7),
        output_tokens: Some(20 + n as i64 * 3),
        cached_tokens: Some(n as i64 % 3 * 10),
        reasoning_tokens: (n % 2 == 1).then_some(n as i64),
        cost_usd: cost,
        unpriced: cost.is_none() && n != 3,
        session_id: session.map(Into::into),
        ..Default::default()
    }
}

fn span_row(trace: &TraceRow, id: u64, parent: Option<u64>, attrs: Value) -> SpanRow {
    SpanRow {
        span_id: format!("{id:016x}"),
        trace_id: trace.trace_id.clone(),
        parent_span_id: parent.map(|p| format!("{p:016x}")),
        name: format!("span {id}"),
        kind: "client",
        start_time_unix_nano: trace.start_time_unix_nano,
        end_time_unix_nano: trace.end_time_unix_nano,
        status_code: "unset",
        status_message: None,
        attributes_json: attrs.to_string(),
        events_json: "[]".into(),
    }
}

fn llm(trace: &TraceRow, id: u64, extra: &[(&str, &str)]) -> SpanRow {
    let mut a = serde_json::json!({
        "gateway.step": "llm_call",
        "gen_ai.request.model": trace.model,
        "gen_ai.response.model": format!("{}-001", trace.model.as_deref().unwrap_or("")),
    });
    for (k, v) in extra {
        a[*k] = Value::from(*v);
    }
    span_row(trace, id, None, a)
}

/// Session "alpha": 1, 3, 5, 7 (5 unpriced); session "beta": 2, 4, 6, interleaved in time.
/// Conversation "conv-x": the gateway's session "conv-x" (14, 15; it sets
/// `gen_ai.conversation.id` from the session header) and the traces where an application span
/// names it (3 of session alpha, 8 without a session). Interactions: 10 → 11 → 12 → 10 (a
/// cycle: 10 names 12 as its previous), 13 unrelated; 11 has a NULL cost. Trace 1 carries an
/// application span around the gateway's.
fn fixture(t0: i64) -> Fixture {
    let at = |k: i64| t0 + k * 1000 * MS;
    let sess = |n: u64| match n {
        1 | 3 | 5 | 7 => Some("alpha"),
        2 | 4 | 6 => Some("beta"),
        14 | 15 => Some("conv-x"),
        _ => None,
    };
    let cost = |n: u64| (![3, 5, 11].contains(&n)).then_some(0.000_123_4 * n as f64 + 1e-7);
    let rows: Vec<TraceRow> = (1..=15u64)
        .filter(|n| *n != 9)
        .map(|n| row(n, at(n as i64), 300 + n as i64 * 50, sess(n), cost(n)))
        .collect();
    let by = |n: u64| rows.iter().find(|r| r.trace_id == tid(n)).expect("row");
    let mut spans = Vec::new();
    for r in &rows {
        let n = u64::from_str_radix(&r.trace_id, 16).expect("hex");
        let mut extra: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = &r.session_id {
            extra.push(("gen_ai.conversation.id", s));
        }
        if (10..=13).contains(&n) {
            extra.push(("gateway.interaction.status", "completed"));
        }
        match n {
            10 => extra.extend([
                ("gen_ai.response.id", "int-10"),
                ("gen_ai.request.previous_response.id", "int-12"),
            ]),
            11 => extra.extend([
                ("gen_ai.response.id", "int-11"),
                ("gen_ai.request.previous_response.id", "int-10"),
            ]),
            12 => extra.extend([
                ("gen_ai.response.id", "int-12"),
                ("gen_ai.request.previous_response.id", "int-11"),
            ]),
            13 => extra.push(("gen_ai.response.id", "int-13")),
            _ => {}
        }
        spans.push(llm(r, n * 100, &extra));
    }
    // An application span (received over OTLP) as the parent of trace 1's gateway span,
    // starting earlier and ending later.
    let t1 = by(1);
    let mut app = span_row(
        t1,
        999,
        None,
        serde_json::json!({"gateway.span.source": "otlp", "service.name": "agent"}),
    );
    app.kind = "internal";
    app.start_time_unix_nano -= 40 * MS;
    app.end_time_unix_nano += 60 * MS;
    spans
        .iter_mut()
        .find(|s| s.trace_id == t1.trace_id)
        .expect("llm of 1")
        .parent_span_id = Some(app.span_id.clone());
    spans.push(app);
    // Application spans name the conversation in trace 3 (of session alpha) and 8.
    for (n, id) in [(3, 333), (8, 888)] {
        spans.push(span_row(
            by(n),
            id,
            None,
            serde_json::json!({"gateway.span.source": "otlp", "gen_ai.conversation.id": "conv-x"}),
        ));
    }
    Fixture { rows, spans }
}

fn setup() -> (TestDb, Fixture) {
    let mut db = TestDb::new();
    let f = fixture(now() - 3_600_000 * MS);
    db.write(&f.rows);
    db.write_spans(&f.spans);
    (db, f)
}

/// The expected running totals of `members` (trace numbers), computed from the rows.
fn expected(f: &Fixture, members: &[u64]) -> Vec<(String, Value)> {
    let mut rows: Vec<&TraceRow> = f
        .rows
        .iter()
        .filter(|r| members.iter().any(|n| tid(*n) == r.trace_id))
        .collect();
    rows.sort_by_key(|r| (r.start_time_unix_nano, r.trace_id.clone()));
    let first = rows.first().map_or(0, |r| r.start_time_unix_nano);
    let (mut i, mut o, mut c, mut rs, mut unp, mut dur) = (0i64, 0i64, 0i64, 0i64, 0u64, 0.0f64);
    let mut usd: Option<f64> = None;
    let mut end = 0i64;
    rows.iter()
        .map(|r| {
            i += r.input_tokens.unwrap_or(0);
            o += r.output_tokens.unwrap_or(0);
            c += r.cached_tokens.unwrap_or(0);
            rs += r.reasoning_tokens.unwrap_or(0);
            if let Some(v) = r.cost_usd {
                usd = Some(usd.unwrap_or(0.0) + v);
            }
            unp += u64::from(r.unpriced);
            dur += r.duration_ms();
            end = end.max(r.end_time_unix_nano);
            let v = serde_json::json!({
                "input_tokens": i, "output_tokens": o, "cached_tokens": c,
                "reasoning_tokens": rs, "cost_usd": usd, "unpriced": unp,
                "duration_ms": dur, "elapsed_ms": (end - first) as f64 / 1e6,
            });
            (r.trace_id.clone(), v)
        })
        .collect()
}

fn close(a: &Value, b: &Value, what: &str) {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => assert!(
            (x - y).abs() <= 1e-9 * y.abs().max(1.0),
            "{what}: {a} != {b}"
        ),
        _ => assert_eq!(a, b, "{what}"),
    }
}

fn check_totals(got: &Value, want: &Value, what: &str) {
    for k in [
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "reasoning_tokens",
        "cost_usd",
        "unpriced",
        "duration_ms",
        "elapsed_ms",
    ] {
        close(&got[k], &want[k], &format!("{what}.{k}"));
    }
}

/// Reads every page of `uri` (`limit` per page), checking totals and running sums.
async fn all_pages(db: &TestDb, uri: &str, limit: u32) -> (Vec<Value>, Value) {
    let app = db.app();
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    let mut totals = Value::Null;
    for _ in 0..100 {
        let sep = if uri.contains('?') { '&' } else { '?' };
        let mut u = format!("{uri}{sep}limit={limit}");
        if let Some(a) = &after {
            u.push_str(&format!("&after={a}"));
        }
        let (status, body) = get(&app, &u).await;
        assert_eq!(status, StatusCode::OK, "{u}: {body}");
        let page = body["traces"].as_array().expect("traces").clone();
        assert!(page.len() <= limit as usize);
        if totals.is_null() {
            totals = body["totals"].clone();
        }
        assert_eq!(body["totals"], totals, "totals are the same on every page");
        out.extend(page);
        match body["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => return (out, totals),
        }
    }
    panic!("{uri}: more than 100 pages");
}

async fn check_session(db: &TestDb, f: &Fixture, uri: &str, members: &[u64]) -> Vec<Value> {
    let want = expected(f, members);
    for limit in [1, 2, 500] {
        let (got, totals) = all_pages(db, uri, limit).await;
        let ids: Vec<&str> = got
            .iter()
            .map(|t| t["trace_id"].as_str().unwrap_or(""))
            .collect();
        let want_ids: Vec<&str> = want.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids, want_ids,
            "{uri} limit {limit}: the traces, oldest first"
        );
        for (t, (id, w)) in got.iter().zip(&want) {
            check_totals(&t["cumulative"], w, &format!("{uri} {id} cumulative"));
        }
        let last = &want.last().expect("members").1;
        check_totals(&totals, last, &format!("{uri} totals"));
        assert_eq!(totals["traces"], members.len());
    }
    all_pages(db, uri, 500).await.0
}

#[tokio::test]
async fn sessions_by_header_interleaved_with_running_totals() {
    let (db, f) = setup();
    let alpha = check_session(&db, &f, "/api/sessions/alpha", &[1, 3, 5, 7]).await;
    check_session(&db, &f, "/api/sessions/beta?kind=session", &[2, 4, 6]).await;
    // The NULL cost stays null (unpriced), never 0; the running cost goes on without it.
    let t5 = alpha.iter().find(|t| t["trace_id"] == tid(5)).expect("5");
    assert!(t5["cost_usd"].is_null());
    assert_eq!(t5["unpriced"], true);
    assert_eq!(t5["cumulative"]["unpriced"], 1);
    // Trace 1: the application span is counted, and widens the trace's span extent.
    let t1 = &alpha[0];
    let r1 = &f.rows[0];
    assert_eq!(t1["span_count"], 2);
    assert_eq!(t1["app_span_count"], 1);
    assert_eq!(
        t1["spans_start_unix_nano"],
        r1.start_time_unix_nano - 40 * MS
    );
    assert_eq!(t1["spans_end_unix_nano"], r1.end_time_unix_nano + 60 * MS);
    assert_eq!(t1["models"], serde_json::json!(["gemini-2.5-pro-001"]));
    assert_eq!(alpha[2]["app_span_count"], 0);
}

#[tokio::test]
async fn a_conversation_spans_sessions_and_application_spans() {
    let (db, f) = setup();
    check_session(
        &db,
        &f,
        "/api/sessions/conv-x?kind=conversation",
        &[3, 8, 14, 15],
    )
    .await;
    // As a session id, only the gateway's session.
    check_session(&db, &f, "/api/sessions/conv-x", &[14, 15]).await;
}

#[tokio::test]
async fn an_interaction_chain_is_followed_both_ways_through_a_cycle() {
    let (db, f) = setup();
    let chain = [10, 11, 12];
    // From any interaction of the chain, and from a trace id: the same three traces.
    for start in ["int-10", "int-11", "int-12", &tid(11)] {
        let uri = format!("/api/sessions/{start}?kind=interaction");
        let got = check_session(&db, &f, &uri, &chain).await;
        let t11 = got.iter().find(|t| t["trace_id"] == tid(11)).expect("11");
        assert!(t11["cost_usd"].is_null(), "NULL cost stays null");
    }
    check_session(&db, &f, "/api/sessions/int-13?kind=interaction", &[13]).await;
    let (_, body) = get(&db.app(), "/api/sessions/int-10?kind=interaction").await;
    assert_eq!(body["truncated"], false);
}

#[tokio::test]
async fn unknown_sessions_and_bad_parameters_are_clear_errors() {
    let (db, _f) = setup();
    let app = db.app();
    let (s, body) = get(&app, "/api/sessions/nobody").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(message(&body).contains("nobody"), "{body}");
    let (s, _) = get(&app, "/api/sessions/int-99?kind=interaction").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = get(&app, "/api/sessions/alpha?kind=user").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("kind"), "{body}");
    let (s, body) = get(&app, "/api/sessions/alpha?after=nope").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("after"), "{body}");
    let (s, body) = get(&app, "/api/sessions/alpha?limit=0").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("limit"), "{body}");
    let long = "x".repeat(1025);
    let (s, body) = get(&app, &format!("/api/sessions/{long}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("id"), "{body}");
}

#[test]
fn every_session_kind_searches_an_index_instead_of_scanning() {
    let (db, _f) = setup();
    let reader = Reader::open(&db.path, Duration::from_secs(5)).expect("reader");
    for (kind, index) in [
        (SessionKind::Session, vec!["traces_session"]),
        (
            SessionKind::Conversation,
            vec!["traces_session", "span_lookup_conversation"],
        ),
        (
            SessionKind::Interaction,
            vec![
                "span_lookup_interaction_id",
                "span_lookup_previous_interaction_id",
            ],
        ),
    ] {
        let plan = reader.session_query_plan(kind).expect("plan");
        for i in index {
            assert!(
                plan.iter()
                    .any(|l| l.contains(&format!("USING INDEX {i} "))),
                "{kind:?}: {i} not used:\n{}",
                plan.join("\n")
            );
        }
        // Scanning the bounded member set (m, c, json_each) is fine; a table never is.
        for l in &plan {
            let scans_table = l.starts_with("SCAN ")
                && ["t", "s", "traces", "spans"]
                    .iter()
                    .any(|t| l == &format!("SCAN {t}") || l.starts_with(&format!("SCAN {t} ")));
            assert!(
                !scans_table,
                "{kind:?} scans a table: {l}\n{}",
                plan.join("\n")
            );
        }
    }
}
