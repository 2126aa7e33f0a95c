//! The dashboard's live feed follows a Live API session turn by turn: the real gateway binary
//! (serving its API in-process) in front of the fake upstream's Live endpoint, a real WebSocket
//! client for the session and another on `GET /api/live`.
//!
//! After each completed turn the feed carries the session as a provisional `trace` message
//! (status `running`, the sum of the turns so far); when the session closes, its final row
//! under the same trace id. The test waits on messages only; the socket read timeout merely
//! bounds a hang.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use serde_json::{Value, json};
use tungstenite::Message;
use util::Gateway;
use util::ws::{Ws, next, next_of, open};

const MODEL: &str = "gemini-3-live-feed-test";
const TOKEN: &str = "feed-token";
const V1BETA: &str =
    "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";

/// Sends a user turn and returns its `usageMetadata`.
fn turn(live: &mut Ws, text: &str) -> Value {
    let msg = json!({"clientContent": {
        "turns": [{"role": "user", "parts": [{"text": text}]}], "turnComplete": true}});
    live.send(Message::text(msg.to_string())).unwrap();
    loop {
        let m = next(live);
        if let Some(u) = m.get("usageMetadata") {
            return u.clone();
        }
    }
}

fn tokens(u: &Value) -> (i64, i64) {
    let n = |k: &str| u[k].as_i64().unwrap_or(0);
    (
        n("promptTokenCount"),
        n("responseTokenCount") + n("thoughtsTokenCount"),
    )
}

/// The test's price: input $1, output $10 per 1M tokens.
fn cost((input, output): (i64, i64)) -> f64 {
    (input as f64 + 10.0 * output as f64) / 1e6
}

fn assert_close(got: &Value, want: f64) {
    let g = got.as_f64().unwrap_or_else(|| panic!("no cost: {got}"));
    assert!((g - want).abs() <= 1e-12, "{g} != {want}");
}

#[test]
fn a_live_session_is_on_the_feed_after_each_turn_then_final() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!(
            "[pricing.models.\"{MODEL}\"]\ninput = 1.0\noutput = 10.0\n\
             [api]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n"
        ),
    );
    let mut feed = open(&gw.api_url(&format!("/api/live?token={TOKEN}")), &[]);
    let snapshot = next(&mut feed);
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["traces"], json!([]));
    // A tailer pass reads its cursors before it refreshes the statistics: once a `stats`
    // message arrived, whatever is stored from now on is new to it.
    next_of(&mut feed, "stats");

    let mut live = open(
        &gw.url(V1BETA),
        &[
            ("x-goog-api-key", "test-key"),
            ("x-gateway-session-id", "feed-session"),
        ],
    );
    let setup = json!({"setup": {"model": format!("models/{MODEL}")}});
    live.send(Message::text(setup.to_string())).unwrap();
    assert!(next(&mut live).get("setupComplete").is_some());

    let first = tokens(&turn(&mut live, "what is the weather like"));
    let one = next_of(&mut feed, "trace");
    let id = one["trace_id"].as_str().unwrap().to_owned();
    assert_eq!(one["status"], "running", "{one}");
    assert_eq!(one["model"], MODEL);
    assert_eq!(one["session_id"], "feed-session");
    assert_eq!(one["http_status"], 101);
    assert_eq!(
        (one["input_tokens"].as_i64(), one["output_tokens"].as_i64()),
        (Some(first.0), Some(first.1)),
        "{one}"
    );
    assert_close(&one["cost_usd"], cost(first));
    assert!(one["ttft_ms"].as_f64().unwrap() >= 0.0);

    let second = tokens(&turn(&mut live, "and tomorrow in the mountains"));
    assert!(second.0 > first.0, "the context is re-billed");
    let two = next_of(&mut feed, "trace");
    assert_eq!(two["trace_id"], id.as_str());
    assert_eq!(two["status"], "running", "{two}");
    let sum = (first.0 + second.0, first.1 + second.1);
    assert_eq!(
        (two["input_tokens"].as_i64(), two["output_tokens"].as_i64()),
        (Some(sum.0), Some(sum.1)),
        "{two}"
    );
    assert_close(&two["cost_usd"], cost(first) + cost(second));

    // A client connecting now sees the running session in its snapshot.
    let mut late = open(&gw.api_url(&format!("/api/live?token={TOKEN}")), &[]);
    let snap = next(&mut late);
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["traces"][0]["trace_id"], id.as_str(), "{snap}");
    assert_eq!(snap["traces"][0]["status"], "running");
    assert_eq!(snap["traces"][0]["input_tokens"], sum.0);

    live.close(None).unwrap();
    while live.read().is_ok() {}

    let last = next_of(&mut feed, "trace");
    assert_eq!(last["trace_id"], id.as_str());
    assert_eq!(last["status"], "ok", "{last}");
    assert_eq!(
        (
            last["input_tokens"].as_i64(),
            last["output_tokens"].as_i64()
        ),
        (Some(sum.0), Some(sum.1))
    );
    assert_close(&last["cost_usd"], cost(first) + cost(second));
    assert_eq!(last["session_id"], "feed-session");
    // The late client gets the final row too.
    let late_last = next_of(&mut late, "trace");
    assert_eq!(late_last["trace_id"], id.as_str());
    assert_eq!(late_last["status"], "ok");

    // The final row is what is stored.
    let db = gw.open_db();
    let (status, input): (String, i64) = db
        .query_row(
            "SELECT status, input_tokens FROM traces WHERE trace_id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), input), ("ok", sum.0));
}
