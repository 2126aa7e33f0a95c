//! "Metered once per id" survives a restart, through the real gateway binary against the fake
//! upstream: a background interaction, a batch job's inlined responses and a batch results
//! file are metered on their first finished poll (or download); the gateway is stopped and
//! started again over the same database file; the next poll is free and marked already
//! metered, and the `traces` rows count the usage once. A SIGHUP reload keeps the ids too.
//! Expected tokens and costs are computed from the usage the fake answered (gemini-3.8-flash,
//! $0.75 in / $3.75 out per 1M in 2026, twice that from 2027; batch at 50%).

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use serde_json::{Value, json};
use util::{Gateway, client, llm_span, trace_id, trace_row};

const KEY: &str = "test-key";

fn get(gw: &Gateway, path: &str) -> (String, Value) {
    let r = client()
        .get(gw.url(path))
        .header("x-goog-api-key", KEY)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = trace_id(&r);
    (t, r.json().unwrap())
}

fn post(gw: &Gateway, path: &str, body: &Value) -> (String, Value) {
    let r = client()
        .post(gw.url(path))
        .header("x-goog-api-key", KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = trace_id(&r);
    (t, r.json().unwrap())
}

/// Stops `gw` (SIGTERM: every queued span is written) and starts a gateway over the same
/// database file, in the same directory.
fn restart(gw: &mut Gateway, upstream: &str) -> Gateway {
    assert!(gw.stop().success(), "log:\n{}", gw.log_text());
    let dir = std::mem::replace(&mut gw.dir, tempfile::tempdir().unwrap());
    let again = Gateway::start_at(dir, gw.db.clone(), upstream, "", "linger_ms = 5", "");
    assert!(
        again
            .log_text()
            .contains("Metered-once ids read back from the database"),
        "log:\n{}",
        again.log_text()
    );
    again
}

/// Sums over every `traces` row of the file: (input tokens, output tokens, cost).
fn totals(gw: &Gateway) -> (i64, i64, f64) {
    gw.open_db()
        .query_row(
            "SELECT COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
                    COALESCE(SUM(cost_usd), 0.0) FROM traces",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12_f64.max(b.abs() * 1e-9)
}

/// (input, output, cost) of generateContent usages at the batch tier.
fn batch_usage(usages: &[&Value]) -> (i64, i64, f64) {
    let n = |k: &str| {
        usages
            .iter()
            .map(|u| u[k].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    let input: i64 = n("promptTokenCount") + n("toolUsePromptTokenCount");
    let output: i64 = n("candidatesTokenCount") + n("thoughtsTokenCount");
    (
        input,
        output,
        usages.iter().map(|u| util::flash_38_batch_cost(u)).sum(),
    )
}

#[test]
fn a_background_interaction_is_not_metered_again_after_a_restart() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let (_, created) = post(
        &gw,
        "/v1beta/interactions",
        &json!({"model": "gemini-3.8-flash", "input": "a long research task", "background": true}),
    );
    assert_eq!(created["status"], "in_progress");
    let path = format!("/v1beta/interactions/{}", created["id"].as_str().unwrap());
    let (first, done) = get(&gw, &path);
    assert_eq!(done["status"], "completed");
    let u = &done["usage"];
    let n = |k: &str| u[k].as_i64().unwrap_or(0);
    let input = n("total_input_tokens");
    let output = n("total_output_tokens") + n("total_thought_tokens");
    let cost = util::flash_38_interaction_cost(u);
    assert!(input > 0 && output > 0);
    assert_eq!(llm_span(&gw, &first)["gateway.metering"], "metered");

    // A reload keeps the ids: the next poll is already metered.
    gw.signal("-HUP");
    gw.wait_for_log("Configuration reloaded.");
    let (reloaded, _) = get(&gw, &path);
    assert_eq!(
        llm_span(&gw, &reloaded)["gateway.interaction.already_metered"],
        true
    );

    let again = restart(&mut gw, &fake.base_url());
    let (after, polled) = get(&again, &path);
    assert_eq!(
        polled["usage"], done["usage"],
        "the upstream answers the same"
    );
    let (_, input_after, _, cost_after, unpriced) = trace_row(&again, &after);
    assert_eq!(
        (input_after, cost_after, unpriced),
        (None, Some(0.0), false)
    );
    let llm = llm_span(&again, &after);
    assert_eq!(llm["gateway.interaction.already_metered"], true);
    assert_eq!(llm["gateway.metering"], "free");

    let (sum_in, sum_out, sum_cost) = totals(&again);
    assert_eq!((sum_in, sum_out), (input, output), "counted once");
    assert!(close(sum_cost, cost), "{sum_cost} vs {cost}");
}

#[test]
fn a_batch_job_is_not_metered_again_after_a_restart() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let reqs: Vec<Value> = ["one two three", "four five six seven", "eight"]
        .iter()
        .map(|t| json!({"request": {"contents": [{"role": "user", "parts": [{"text": t}]}]}}))
        .collect();
    let body = json!({"batch": {"inputConfig": {"requests": {"requests": reqs}}}});
    let (_, op) = post(
        &gw,
        "/v1beta/models/gemini-3.8-flash:batchGenerateContent",
        &body,
    );
    let path = format!("/v1beta/{}", op["name"].as_str().unwrap());
    let (first, done) = get(&gw, &path);
    assert_eq!(done["done"], true);
    let responses = done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
        .as_array()
        .unwrap();
    let usages: Vec<&Value> = responses
        .iter()
        .map(|r| &r["response"]["usageMetadata"])
        .collect();
    assert_eq!(usages.len(), 3);
    let (input, output, cost) = batch_usage(&usages);
    assert!(input > 0 && cost > 0.0);
    assert_eq!(llm_span(&gw, &first)["gateway.metering"], "metered");

    let again = restart(&mut gw, &fake.base_url());
    let (after, polled) = get(&again, &path);
    assert_eq!(polled, done, "the upstream answers the same");
    let (_, input_after, _, cost_after, _) = trace_row(&again, &after);
    assert_eq!((input_after, cost_after), (None, Some(0.0)));
    let llm = llm_span(&again, &after);
    assert_eq!(llm["gateway.batch.already_metered"], true);
    assert_eq!(llm["gateway.metering"], "free");

    let (sum_in, sum_out, sum_cost) = totals(&again);
    assert_eq!((sum_in, sum_out), (input, output), "counted once");
    assert!(close(sum_cost, cost), "{sum_cost} vs {cost}");
}

/// Uploads `body` as a JSONL file straight to the fake (resumable upload); its `files/{id}`.
fn upload(base: &str, body: &str) -> String {
    let r = client()
        .post(format!("{base}/upload/v1beta/files"))
        .header("x-goog-api-key", KEY)
        .header("x-goog-upload-protocol", "resumable")
        .header("x-goog-upload-command", "start")
        .header("content-type", "application/json")
        .body(json!({"file": {"mimeType": "application/jsonl"}}).to_string())
        .send()
        .unwrap();
    let url = r.headers()["x-goog-upload-url"]
        .to_str()
        .unwrap()
        .to_owned();
    let r = client()
        .post(url)
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "0")
        .body(body.to_owned())
        .send()
        .unwrap();
    r.json::<Value>().unwrap()["file"]["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_results_file_is_not_metered_again_after_a_restart() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let lines: String = ["one two three", "four five six seven", "eight"]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"key": format!("k{i}"), "request": {"contents": [{"parts": [{"text": t}]}]}})
                .to_string()
                + "\n"
        })
        .collect();
    let input_file = upload(&fake.base_url(), &lines);
    let (_, op) = post(
        &gw,
        "/v1beta/models/gemini-3.8-flash:batchGenerateContent",
        &json!({"batch": {"inputConfig": {"fileName": input_file}}}),
    );
    let job = format!("/v1beta/{}", op["name"].as_str().unwrap());
    let (_, done) = get(&gw, &job);
    let file = done["metadata"]["output"]["responsesFile"]
        .as_str()
        .unwrap()
        .to_owned();
    let download = format!(
        "/download/v1beta/files/{}:download?alt=media",
        file.strip_prefix("files/").unwrap()
    );
    let fetch = |gw: &Gateway| {
        let r = client()
            .get(gw.url(&download))
            .header("x-goog-api-key", KEY)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        (trace_id(&r), r.bytes().unwrap().to_vec())
    };
    let (first, body) = fetch(&gw);
    let results: Vec<Value> = String::from_utf8(body.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let usages: Vec<&Value> = results
        .iter()
        .map(|r| &r["response"]["usageMetadata"])
        .collect();
    assert_eq!(usages.len(), 3);
    let (input, output, cost) = batch_usage(&usages);
    assert!(input > 0 && cost > 0.0);
    assert_eq!(llm_span(&gw, &first)["gateway.batch.results"], "metered");

    let again = restart(&mut gw, &fake.base_url());
    let (after, body_after) = fetch(&again);
    assert_eq!(body_after, body, "the same file");
    let (_, input_after, _, cost_after, unpriced) = trace_row(&again, &after);
    assert_eq!(
        (input_after, cost_after, unpriced),
        (None, Some(0.0), false)
    );
    let llm = llm_span(&again, &after);
    assert_eq!(llm["gateway.batch.already_metered"], true);
    assert_eq!(llm["gateway.batch.results"], "already_metered");
    // A poll of the job after the restart knows its file was metered.
    let (poll, _) = get(&again, &job);
    let llm = llm_span(&again, &poll);
    assert_eq!(llm["gateway.batch.results"], "already_metered");
    assert_eq!(trace_row(&again, &poll).3, Some(0.0));

    let (sum_in, sum_out, sum_cost) = totals(&again);
    assert_eq!((sum_in, sum_out), (input, output), "counted once");
    assert!(close(sum_cost, cost), "{sum_cost} vs {cost}");
}
