//! One rule for "unpriced", through the real gateway binary and its in-process API: an
//! Interactions background create is deferred (metered later, on the poll that finds it
//! finished), so neither it nor that poll is unpriced: the dashboard's unpriced count
//! (`GET /api/metrics/cost`) and `gateway_unpriced_calls_total` on `/metrics` stay 0. A call
//! to a model without a price is unpriced, and both count it, as `traces.unpriced` does.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use serde_json::{Value, json};
use util::{Gateway, client, trace_id};

const KEY: &str = "test-key";
const TOKEN: &str = "unpriced-token";

fn api(gw: &Gateway, path: &str) -> reqwest::blocking::Response {
    let r = client()
        .get(gw.api_url(path))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r
}

/// (`unpriced_count`, `requests`) of the last hour, as the dashboard reads them.
fn dashboard(gw: &Gateway) -> (u64, u64) {
    let b: Value = api(gw, "/api/metrics/cost?window=1h").json().unwrap();
    (
        b["unpriced_count"].as_u64().unwrap(),
        b["requests"].as_u64().unwrap(),
    )
}

/// `gateway_unpriced_calls_total` on `/metrics`.
fn counter(gw: &Gateway) -> u64 {
    let text = api(gw, "/metrics").text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("gateway_unpriced_calls_total "))
        .unwrap_or_else(|| panic!("no gateway_unpriced_calls_total:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Rows the database marks unpriced.
fn stored_unpriced(gw: &Gateway) -> i64 {
    gw.open_db()
        .query_row("SELECT COUNT(*) FROM traces WHERE unpriced = 1", [], |r| {
            r.get(0)
        })
        .unwrap()
}

#[test]
fn a_deferred_create_and_its_finished_poll_are_not_unpriced() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!("[api]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n"),
    );
    let r = client()
        .post(gw.url("/v1beta/interactions"))
        .header("x-goog-api-key", KEY)
        .header("content-type", "application/json")
        .body(
            json!({"model": "gemini-3.8-flash", "input": "a long research task",
                "background": true})
            .to_string(),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let create = trace_id(&r);
    let created: Value = r.json().unwrap();
    assert_eq!(created["status"], "in_progress");
    let iid = created["id"].as_str().unwrap();
    let r = client()
        .get(gw.url(&format!("/v1beta/interactions/{iid}")))
        .header("x-goog-api-key", KEY)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let poll = trace_id(&r);
    assert_eq!(r.json::<Value>().unwrap()["status"], "completed");

    let db = gw.wait_traces(2);
    let row = |id: &str| -> (Option<f64>, i64) {
        db.query_row(
            "SELECT cost_usd, unpriced FROM traces WHERE trace_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    // The create has no cost (it is billed on the poll) and is not unpriced; the poll is priced.
    assert_eq!(row(&create), (None, 0));
    let (poll_cost, poll_unpriced) = row(&poll);
    assert!(poll_cost.unwrap() > 0.0);
    assert_eq!(poll_unpriced, 0);
    assert_eq!(dashboard(&gw), (0, 2));
    assert_eq!(counter(&gw), 0);

    // A model without a price: unpriced, in the row, on the dashboard and on /metrics alike.
    let r = client()
        .post(gw.url("/v1beta/models/my-unpriced-model:generateContent"))
        .header("x-goog-api-key", KEY)
        .header("content-type", "application/json")
        .body(json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.wait_traces(3);
    assert_eq!(stored_unpriced(&gw), 1);
    assert_eq!(dashboard(&gw), (1, 3));
    assert_eq!(counter(&gw), 1);
}
