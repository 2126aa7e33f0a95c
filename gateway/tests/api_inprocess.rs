//! The API served by the gateway process: traces appear, `/metrics` carries the gateway's own
//! counters (spans, queue, plugins, GenAI histograms), the token is enforced, and a slow
//! completion plugin neither breaks responses nor hides its time.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::time::{Duration, Instant};
use util::{Gateway, client};

#[test]
fn the_gateway_serves_its_api_and_metrics() {
    let fake = spawn_in_thread(FakeConfig::default());
    let so = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/debug/libpii_tagger.so"
    ));
    assert!(so.exists(), "build the workspace first");
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!(
            "[api]\nlisten = \"127.0.0.1:0\"\ntoken = \"s3cret\"\n\
             [[plugins]]\npath = \"{}\"\n[plugins.config]\ncomplete_sleep_ms = 50\n",
            so.display()
        ),
    );
    let api = gw.api_url("");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = client()
            .post(gw.url("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"))
            .header("x-goog-api-key", "k")
            .body(r#"{"contents":[{"parts":[{"text":"api check"}]}]}"#)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        ids.push(
            r.headers()["x-gateway-trace-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        assert!(
            r.text().unwrap().contains("STOP"),
            "the slow plugin did not cut the response"
        );
    }
    gw.wait_traces(3);
    let c = client();
    assert_eq!(
        c.get(format!("{api}/api/traces")).send().unwrap().status(),
        401
    );
    // The deadline only bounds the wait.
    let deadline = Instant::now() + Duration::from_secs(60);
    let listed = loop {
        let v: serde_json::Value = c
            .get(format!("{api}/api/traces?limit=10"))
            .bearer_auth("s3cret")
            .send()
            .unwrap()
            .json()
            .unwrap();
        if v["traces"].as_array().map_or(0, Vec::len) >= 3 {
            break v;
        }
        assert!(Instant::now() < deadline, "the API lists 3 traces: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let listed: Vec<&str> = listed["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    for id in &ids {
        assert!(listed.contains(&id.as_str()), "{id} not listed");
    }
    let detail: serde_json::Value = c
        .get(format!("{api}/api/traces/{}", ids[0]))
        .bearer_auth("s3cret")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(detail["spans"].as_array().unwrap().len() >= 4);
    let metrics = c
        .get(format!("{api}/metrics"))
        .bearer_auth("s3cret")
        .send()
        .unwrap()
        .text()
        .unwrap();
    // SQLite's queue alone (no OTLP export): the whole budget of span data.
    let limit = format!(
        "gateway_writer_queue_bytes_limit {}",
        gemini_gateway::telemetry::SPAN_QUEUES_BYTES
    );
    for needle in [
        "gateway_spans_exported_total",
        "gateway_spans_dropped_total{reason=\"queue_full\"} 0",
        "gateway_writer_queue_depth",
        limit.as_str(),
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_token_usage_bucket",
        "gateway_plugin_hook_calls_total{plugin=\"pii_tagger\",kind=\"library\",hook=\"on_complete\"} 3",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} missing from /metrics:\n{metrics}"
        );
    }
    let slow: f64 = metrics
        .lines()
        .find(|l| {
            l.starts_with("gateway_plugin_hook_seconds_total{plugin=\"pii_tagger\"")
                && l.contains("on_complete")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    // The three calls are counted above; their time is accounted (how much is no concern here:
    // `plugins.rs` proves by ordering that a hook's time is in `post_processing`).
    assert!(
        slow > 0.0,
        "the completion hooks' time is accounted: {slow}"
    );
    let health = c.get(format!("{api}/healthz")).send().unwrap();
    assert_eq!(health.status(), 200);
    gw.stop();
}
