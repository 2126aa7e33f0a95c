//! Shutdown as shipped: SIGTERM stops accepting, lets the requests and streams in flight finish
//! (up to `shutdown_grace_seconds`), writes every queued span and exits as soon as that is done.
//! The grace here is 600 s and every wait is bounded at 60 s, so a gateway that sat out its
//! grace period would fail; no test asserts a duration.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::io::Read;
use util::{Gateway, client, generate, read_until};

const GRACE: &str = "shutdown_grace_seconds = 600";
const EARLY: &str = "No request in flight; stopping before the grace period ends.";

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
    let mut resp = client()
        .post(gw.url("/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse"))
        .header("x-goog-api-key", "k")
        .header("x-fake-hold", "drain")
        .header("x-fake-chunks", "4")
        .body(r#"{"contents":[{"parts":[{"text":"a stream that outlives the signal"}]}]}"#)
        .send()
        .unwrap();
    let trace = resp.headers()["x-gateway-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut got = read_until(&mut resp, b"\r\n\r\n");
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
    let (status, output): (String, Option<i64>) = gw
        .open_db()
        .query_row(
            "SELECT status, output_tokens FROM traces WHERE trace_id = ?1",
            [&trace],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "ok");
    assert!(output.unwrap() > 0);
}
