//! Shutdown: SIGTERM stops accepting, lets the requests and streams in flight finish (up to
//! `shutdown_grace_seconds`), writes every queued span and exits as soon as that is done;
//! SIGINT stops at once, and the requests it cuts are still stored, as cancelled.
//!
//! The tests marked "shipped" run with the grace period of the shipped `gateway.toml`. The
//! others use 600 s, so a gateway that sat out its grace period would fail (every wait here is
//! bounded at 60 s), or 1 s where the grace must run out. Each step waits for an event (a log
//! line, the fake upstream's hold token, a row); no test asserts a duration.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::io::Read;
use util::{Gateway, client, generate, read_until};

const GRACE: &str = "shutdown_grace_seconds = 600";
const EARLY: &str = "No request in flight; stopping before the grace period ends.";
const FLUSHED: &str = "Spans flushed; bye.";
const INTERRUPTED: &str = "Requests cut by the shutdown were stored as cancelled";
const STREAM: &str = "/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse";

/// One trace row: (status, error_type, http_status, input, output, cost, unpriced).
type Row = (
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<f64>,
    bool,
);

/// The row of `trace` (read after the gateway exited: it is there or it is lost).
fn row(gw: &Gateway, trace: &str) -> Row {
    gw.open_db()
        .query_row(
            "SELECT status, error_type, http_status, input_tokens, output_tokens, cost_usd,
                    unpriced FROM traces WHERE trace_id = ?1",
            [trace],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get::<_, i64>(6)? != 0,
                ))
            },
        )
        .unwrap_or_else(|e| panic!("no trace row for {trace} ({e}); log:\n{}", gw.log_text()))
}

/// Starts a stream the fake upstream holds after its first event (until `hold` is released);
/// returns the response, its trace id and the bytes read so far (that first event).
fn held_stream(gw: &Gateway, hold: &str) -> (reqwest::blocking::Response, String, Vec<u8>) {
    let mut resp = client()
        .post(gw.url(STREAM))
        .header("x-goog-api-key", "k")
        .header("x-fake-hold", hold)
        .header("x-fake-chunks", "4")
        .body(r#"{"contents":[{"parts":[{"text":"a stream that outlives the signal"}]}]}"#)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let trace = util::trace_id(&resp);
    let got = read_until(&mut resp, b"\r\n\r\n");
    (resp, trace, got)
}

/// The count of the `Spans flushed; bye.` line: `dropped=0` (nothing lost on the way out).
fn assert_nothing_dropped(gw: &Gateway) {
    let log = gw.log_text();
    let bye = log
        .lines()
        .find(|l| l.contains(FLUSHED))
        .unwrap_or_else(|| panic!("no {FLUSHED:?} in the log:\n{log}"));
    assert!(bye.contains("dropped=0"), "{bye}");
}

#[test]
fn an_idle_gateway_exits_once_its_spans_are_written() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), GRACE, "");
    let trace = generate(
        &gw,
        r#"{"contents":[{"parts":[{"text":"before the signal"}]}]}"#,
    );
    gw.signal("-TERM");
    let status = gw.wait_exit();
    assert!(status.success(), "{status:?}\n{}", gw.log_text());
    assert!(gw.log_text().contains(EARLY), "{}", gw.log_text());
    let n: i64 = gw
        .open_db()
        .query_row(
            "SELECT COUNT(*) FROM traces WHERE trace_id = ?1",
            [&trace],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1, "the span of the last request was written before exit");
}

#[test]
fn sigterm_lets_a_stream_in_flight_finish_then_exits() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), GRACE, "");
    let (mut resp, trace, mut got) = held_stream(&gw, "drain");
    gw.signal("-TERM");
    gw.wait_for_log("SIGTERM received");
    assert!(
        !gw.log_text().contains(EARLY),
        "a stream is in flight: the gateway must wait for it"
    );
    fake.release("drain");
    resp.read_to_end(&mut got).unwrap();
    let text = String::from_utf8(got).unwrap();
    assert_eq!(
        text.matches("data: ").count(),
        4,
        "the whole stream: {text}"
    );
    assert!(text.contains("\"finishReason\""), "{text}");
    let status = gw.wait_exit();
    assert!(status.success(), "{status:?}");
    assert!(gw.log_text().contains(EARLY), "{}", gw.log_text());
    let (status, _, _, _, output, _, _) = row(&gw, &trace);
    assert_eq!(status, "ok");
    assert!(output.unwrap() > 0);
}

#[test]
fn shipped_sigterm_idle_exits_before_the_grace_period_with_everything_written() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start_shipped_grace(&fake.base_url(), "", "");
    let traces: Vec<String> = (0..3)
        .map(|i| {
            generate(
                &gw,
                &format!(r#"{{"contents":[{{"parts":[{{"text":"idle {i}"}}]}}]}}"#),
            )
        })
        .collect();
    gw.signal("-TERM");
    let status = gw.wait_exit();
    assert!(status.success(), "{status:?}\n{}", gw.log_text());
    // Promptly: the gateway says it stopped before its grace period ended (no clock read here).
    assert!(gw.log_text().contains(EARLY), "{}", gw.log_text());
    assert_nothing_dropped(&gw);
    for t in &traces {
        let (status, error, http, input, output, cost, unpriced) = row(&gw, t);
        assert_eq!((status.as_str(), error, http), ("ok", None, Some(200)));
        assert!(input.unwrap() > 0 && output.unwrap() > 0);
        assert!(cost.unwrap() > 0.0 && !unpriced, "priced: {cost:?}");
    }
}

#[test]
fn shipped_sigterm_lets_a_stream_finish_for_the_client_and_stores_its_usage() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start_shipped_grace(&fake.base_url(), "", "");
    let (mut resp, trace, mut got) = held_stream(&gw, "term");
    gw.signal("-TERM");
    gw.wait_for_log("SIGTERM received");
    assert!(
        !gw.log_text().contains(EARLY),
        "a stream is in flight: the gateway must wait for it"
    );
    // The stream goes on only now; the shipped grace bounds how long it may take.
    fake.release("term");
    resp.read_to_end(&mut got).unwrap();
    let text = String::from_utf8(got).unwrap();
    assert_eq!(
        text.matches("data: ").count(),
        4,
        "the whole stream: {text}"
    );
    assert!(text.contains("\"finishReason\""), "{text}");
    let last: serde_json::Value =
        serde_json::from_str(text.rsplit("data: ").next().unwrap().trim()).unwrap();
    let usage = &last["usageMetadata"];
    let status = gw.wait_exit();
    assert!(status.success(), "{status:?}");
    assert!(gw.log_text().contains(EARLY), "{}", gw.log_text());
    assert_nothing_dropped(&gw);
    let (status, error, http, input, output, cost, unpriced) = row(&gw, &trace);
    assert_eq!((status.as_str(), error, http), ("ok", None, Some(200)));
    assert_eq!(input, usage["promptTokenCount"].as_i64(), "{usage}");
    let out = usage["candidatesTokenCount"].as_i64().unwrap()
        + usage["thoughtsTokenCount"].as_i64().unwrap_or(0);
    assert_eq!(output, Some(out), "{usage}");
    assert!(cost.unwrap() > 0.0 && !unpriced, "priced: {cost:?}");
}

#[test]
fn shipped_sigint_cuts_a_stream_and_stores_it_as_cancelled() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start_shipped_grace(&fake.base_url(), "", "");
    let (mut resp, trace, mut got) = held_stream(&gw, "never");
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&got)
            .trim()
            .strip_prefix("data: ")
            .unwrap(),
    )
    .unwrap();
    // The hold is never released: only the signal can end this stream.
    let status = gw.stop_with("-INT");
    assert!(status.success(), "{status:?}\n{}", gw.log_text());
    // The client is cut: the connection ends (or fails) without the rest of the stream.
    let _ = resp.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert_eq!(
        text.matches("data: ").count(),
        1,
        "cut after the first event: {text}"
    );
    assert!(!text.contains("\"finishReason\""), "{text}");
    assert!(
        gw.log_text().contains("SIGINT received"),
        "{}",
        gw.log_text()
    );
    assert!(gw.log_text().contains(INTERRUPTED), "{}", gw.log_text());
    assert_nothing_dropped(&gw);
    // The interrupted request is stored: cancelled by the shutdown, with the usage of the one
    // event it got (the stream's usage so far), priced at that.
    let (status, error, http, input, output, cost, unpriced) = row(&gw, &trace);
    assert_eq!(
        (status.as_str(), error.as_deref(), http),
        ("cancelled", Some("shutdown"), Some(200))
    );
    let usage = &first["usageMetadata"];
    assert_eq!(input, usage["promptTokenCount"].as_i64(), "{usage}");
    assert_eq!(output.is_some(), usage["candidatesTokenCount"].is_number());
    match cost {
        Some(c) => assert!(c > 0.0 && !unpriced, "partial cost {c}"),
        None => assert!(unpriced, "no cost must be flagged unpriced"),
    }
    let conn = gw.open_db();
    let spans = util::spans_of(&conn, &trace);
    let root = spans.iter().find(|s| s.4.is_none()).expect("root span");
    assert_eq!(root.2["gateway.status"], "cancelled", "{:?}", root.2);
    assert_eq!(root.2["error.type"], "shutdown");
    assert_eq!(
        util::step(&spans, "llm_call")["error.type"],
        serde_json::Value::Null,
        "the upstream did not fail"
    );
}

#[test]
fn a_stream_held_past_the_grace_period_is_cut_and_stored_as_cancelled() {
    let fake = spawn_in_thread(FakeConfig::default());
    // The tests' 1 s grace, and a stream that never ends by itself: the grace must run out.
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let (mut resp, trace, mut got) = held_stream(&gw, "forever");
    let status = gw.stop();
    assert!(status.success(), "{status:?}\n{}", gw.log_text());
    let _ = resp.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains("\"finishReason\""));
    assert!(
        !gw.log_text().contains(EARLY),
        "the stream never ended: {}",
        gw.log_text()
    );
    assert!(gw.log_text().contains(INTERRUPTED), "{}", gw.log_text());
    assert_nothing_dropped(&gw);
    let (status, error, ..) = row(&gw, &trace);
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("cancelled", Some("shutdown"))
    );
}

#[test]
fn sigterm_with_slow_completion_hooks_skips_them_past_the_grace_period_and_stores_every_trace() {
    // Each request's completion hook sleeps 1 s and they run one at a time: 48 queued requests
    // would hold the process 48 s. The grace period is 1 s; past it the queued completions skip
    // the library hook (counted on their spans) and keep their spans and cost. The only time
    // here is the bound of the wait for exit (30 s in `stop`).
    const REQUESTS: usize = 48;
    let fake = spawn_in_thread(FakeConfig::default());
    let so = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/debug/libpii_tagger.so"
    ));
    assert!(so.exists(), "build the workspace first (pii-tagger)");
    let mut gw = Gateway::start(
        &fake.base_url(),
        "shutdown_grace_seconds = 1",
        &format!(
            "[[plugins]]\npath = \"{}\"\n[plugins.config]\ncomplete_sleep_ms = 1000\n",
            so.display()
        ),
    );
    let ids: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let gw = &gw;
                s.spawn(move || {
                    (0..REQUESTS / 4)
                        .map(|i| {
                            generate(
                                gw,
                                &format!(
                                    r#"{{"contents":[{{"parts":[{{"text":"w{w} n{i}"}}]}}]}}"#
                                ),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(ids.len(), REQUESTS);
    let status = gw.stop();
    assert!(status.success(), "{status:?}\n{}", gw.log_text());
    assert_nothing_dropped(&gw);
    for id in &ids {
        let (status, _, http, input, _, cost, unpriced) = row(&gw, id);
        assert_eq!(
            (status.as_str(), http, unpriced),
            ("ok", Some(200), false),
            "{id}"
        );
        assert!(input.is_some() && cost.is_some(), "{id}: usage and cost");
    }
    let conn = gw.open_db();
    let skipped: i64 = conn
        .query_row(
            "SELECT COUNT(DISTINCT trace_id) FROM spans WHERE name = 'post_processing'
             AND json_extract(attributes, '$.\"gateway.plugin.skipped\"') = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        skipped > 0 && skipped <= REQUESTS as i64,
        "the hooks left at the deadline are skipped and counted ({skipped}); log:\n{}",
        gw.log_text()
    );
    let with_post: i64 = conn
        .query_row(
            "SELECT COUNT(DISTINCT trace_id) FROM spans WHERE name = 'post_processing'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        with_post, REQUESTS as i64,
        "every request has all its spans"
    );
}
