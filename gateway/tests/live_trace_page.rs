//! The dashboard's trace page of a Live API session while it runs: the real gateway binary
//! (serving its API in-process) in front of the fake upstream's Live endpoint.
//!
//! A session's trace row is written when it ends, each turn's span as the turn completes.
//! `GET /api/traces/{id}` answers meanwhile with the stored spans and the provisional summary
//! the live feed sends (status `running`, the sums of the turns so far), then with the final
//! row. The test learns that a turn is stored from the live feed (it waits on messages only);
//! the socket read timeout merely bounds a hang.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use serde_json::{Value, json};
use tungstenite::Message;
use util::ws::{Ws, next, next_of, open};
use util::{Gateway, client};

const MODEL: &str = "gemini-3-live-page-test";
const TOKEN: &str = "page-token";
const V1BETA: &str =
    "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";

/// Sends a user turn and returns its (input, output) tokens.
fn turn(live: &mut Ws, text: &str) -> (i64, i64) {
    let msg = json!({"clientContent": {
        "turns": [{"role": "user", "parts": [{"text": text}]}], "turnComplete": true}});
    live.send(Message::text(msg.to_string())).unwrap();
    loop {
        let m = next(live);
        if let Some(u) = m.get("usageMetadata") {
            let n = |k: &str| u[k].as_i64().unwrap_or(0);
            return (
                n("promptTokenCount"),
                n("responseTokenCount") + n("thoughtsTokenCount"),
            );
        }
    }
}

/// The test's price: input $1, output $10 per 1M tokens.
fn cost((input, output): (i64, i64)) -> f64 {
    (input as f64 + 10.0 * output as f64) / 1e6
}

/// `GET /api/traces/{id}`: (HTTP status, body).
fn page(gw: &Gateway, id: &str) -> (u16, Value) {
    let r = client()
        .get(gw.api_url(&format!("/api/traces/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

/// The ids of the spans stored for `id`, sorted.
fn stored_spans(gw: &Gateway, id: &str) -> Vec<String> {
    let db = gw.open_db();
    let mut stmt = db
        .prepare("SELECT span_id FROM spans WHERE trace_id = ?1 ORDER BY span_id")
        .unwrap();
    stmt.query_map([id], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The ids of the page's spans, sorted.
fn page_spans(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["span_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The page's summary is the feed's provisional message, field for field.
fn assert_same_summary(summary: &Value, feed: &Value) {
    for (k, v) in summary.as_object().unwrap() {
        assert_eq!(&feed[k], v, "{k}: page {summary} feed {feed}");
    }
}

#[test]
fn a_running_live_session_has_a_trace_page() {
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
    assert_eq!(next(&mut feed)["type"], "snapshot");
    next_of(&mut feed, "stats");

    let mut live = open(
        &gw.url(V1BETA),
        &[
            ("x-goog-api-key", "test-key"),
            ("x-gateway-session-id", "page-session"),
        ],
    );
    let setup = json!({"setup": {"model": format!("models/{MODEL}")}});
    live.send(Message::text(setup.to_string())).unwrap();
    assert!(next(&mut live).get("setupComplete").is_some());

    // One turn stored: the page shows it, with the feed's provisional summary.
    let first = turn(&mut live, "what is the weather like");
    let one = next_of(&mut feed, "trace");
    let id = one["trace_id"].as_str().unwrap().to_owned();
    let (status, body) = page(&gw, &id);
    assert_eq!(status, 200, "{body}");
    let t = &body["trace"];
    assert_eq!(t["status"], "running", "{t}");
    assert_eq!(
        (t["input_tokens"].as_i64(), t["output_tokens"].as_i64()),
        (Some(first.0), Some(first.1)),
        "{t}"
    );
    assert!((t["cost_usd"].as_f64().unwrap() - cost(first)).abs() <= 1e-12);
    assert_eq!(t["unpriced"], false);
    assert_same_summary(t, &one);
    let spans = stored_spans(&gw, &id);
    assert!(!spans.is_empty());
    assert_eq!(
        page_spans(&body),
        spans,
        "the waterfall is the stored spans"
    );
    let turns = |b: &Value| {
        b["spans"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["attributes"]["gateway.live.turn.index"].is_number())
            .count()
    };
    assert_eq!(turns(&body), 1);

    // Two turns: the sums of both.
    let second = turn(&mut live, "and tomorrow in the mountains");
    let two = next_of(&mut feed, "trace");
    assert_eq!(two["trace_id"], id.as_str());
    let (status, body) = page(&gw, &id);
    assert_eq!(status, 200, "{body}");
    let t = &body["trace"];
    assert_eq!(t["status"], "running", "{t}");
    let sum = (first.0 + second.0, first.1 + second.1);
    assert_eq!(
        (t["input_tokens"].as_i64(), t["output_tokens"].as_i64()),
        (Some(sum.0), Some(sum.1)),
        "{t}"
    );
    assert!((t["cost_usd"].as_f64().unwrap() - cost(first) - cost(second)).abs() <= 1e-12);
    assert_same_summary(t, &two);
    assert_eq!(page_spans(&body), stored_spans(&gw, &id));
    assert_eq!(turns(&body), 2);

    // Ended: the final row, and the session's root span in the waterfall.
    live.close(None).unwrap();
    while live.read().is_ok() {}
    let last = next_of(&mut feed, "trace");
    assert_eq!(last["status"], "ok", "{last}");
    let (status, body) = page(&gw, &id);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trace"]["status"], "ok");
    assert_eq!(body["trace"]["session_id"], "page-session");
    assert_eq!(body["trace"]["input_tokens"], sum.0);
    assert_eq!(page_spans(&body), stored_spans(&gw, &id));
    assert!(
        body["spans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == "server" && s["parent_span_id"].is_null()),
        "{body}"
    );

    // A trace nobody stored is still unknown.
    let (status, _) = page(&gw, &"0123456789abcdef".repeat(2));
    assert_eq!(status, 404);
}
