//! Retention in the running gateway: rows past `retention_days` disappear while traffic flows.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use gateway_store::{Store, StoreOptions, TraceRow};
use std::time::{Duration, Instant};
use util::{Gateway, client};

#[test]
fn old_traces_are_deleted_while_new_ones_arrive() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start_with_storage(
        &fake.base_url(),
        "",
        "linger_ms = 5\nretention_days = 1\nretention_interval_seconds = 1",
        "",
    );
    let old = (0..50)
        .map(|i| TraceRow {
            trace_id: format!("{i:032x}"),
            start_time_unix_nano: 1_000 + i,
            end_time_unix_nano: 2_000 + i,
            status: "ok".into(),
            ..TraceRow::default()
        })
        .collect::<Vec<_>>();
    Store::open(&gw.db, &StoreOptions::default())
        .unwrap()
        .write_batch(&[], &old)
        .unwrap();
    let resp = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
        .header("x-goog-api-key", "k")
        .body(r#"{"contents":[{"parts":[{"text":"fresh"}]}]}"#)
        .send()
        .unwrap();
    let fresh = resp.headers()["x-gateway-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gw.log_text().contains("Retention pass deleted old rows.") {
        assert!(Instant::now() < deadline, "{}", gw.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let conn = gw.wait_traces(1);
    gw.stop();
    let ids: Vec<String> = conn
        .prepare("SELECT trace_id FROM traces")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids, vec![fresh]);
}
