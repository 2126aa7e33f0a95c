//! Batch results delivered as a file, through the real gateway binary against the fake
//! upstream: a finished job whose results are a `responsesFile` is "results not seen" (no
//! cost, never $0) until the file is downloaded through the gateway; the download meters every
//! line's usage at the batch tier (50% of gemini-3.8-flash standard: $0.75 in / $3.75 out per
//! 1M in 2026, twice that from 2027), once per file however often it is downloaded, and
//! passes the bytes through unchanged. A line that is not JSON is counted; a file past `max_parse_bytes` is flagged.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use serde_json::{Value, json};
use util::{Gateway, client, llm_span, trace_id, trace_row};

const KEY: &str = "test-key";

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

fn lines(texts: &[&str]) -> String {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"key": format!("k{i}"), "request": {"contents": [{"parts": [{"text": t}]}]}})
                .to_string()
                + "\n"
        })
        .collect()
}

/// Creates a job over `input` through the gateway and polls it once (done): (trace, file).
fn job(gw: &Gateway, input: &str) -> (String, String) {
    let body = json!({"batch": {"inputConfig": {"fileName": input}}});
    let r = client()
        .post(gw.url("/v1beta/models/gemini-3.8-flash:batchGenerateContent"))
        .header("x-goog-api-key", KEY)
        .body(body.to_string())
        .send()
        .unwrap();
    let name = r.json::<Value>().unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = client()
        .get(gw.url(&format!("/v1beta/{name}")))
        .header("x-goog-api-key", KEY)
        .send()
        .unwrap();
    let t = trace_id(&r);
    let op: Value = r.json().unwrap();
    let file = op["metadata"]["output"]["responsesFile"].as_str().unwrap();
    (t, file.to_owned())
}

fn download(gw: &Gateway, path: &str) -> (String, Vec<u8>) {
    let r = client()
        .get(gw.url(path))
        .header("x-goog-api-key", KEY)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    (trace_id(&r), r.bytes().unwrap().to_vec())
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12_f64.max(b.abs() * 1e-9)
}

#[test]
fn a_results_file_is_metered_once_when_downloaded() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let input = upload(
        &fake.base_url(),
        &lines(&["one two three", "four five six seven", "eight"]),
    );
    let (poll, file) = job(&gw, &input);

    // Before the download: results not seen, no cost, not $0.
    let (_, _, _, cost, unpriced) = trace_row(&gw, &poll);
    assert_eq!((cost, unpriced), (None, false));
    let llm = llm_span(&gw, &poll);
    assert_eq!(llm["gateway.batch.results"], "not_seen");
    assert_eq!(llm["gateway.metering"], "deferred");
    assert_eq!(llm["gateway.batch.responses_file"], file.as_str());

    // The download is byte-identical to the upstream's file.
    let id = file.strip_prefix("files/").unwrap();
    let direct = client()
        .get(format!(
            "{}/download/v1beta/files/{id}:download?alt=media",
            fake.base_url()
        ))
        .header("x-goog-api-key", KEY)
        .send()
        .unwrap()
        .bytes()
        .unwrap()
        .to_vec();
    let (first, body) = download(
        &gw,
        &format!("/download/v1beta/files/{id}:download?alt=media"),
    );
    assert_eq!(body, direct);
    let results: Vec<Value> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), 3);
    let usages: Vec<&Value> = results
        .iter()
        .map(|r| &r["response"]["usageMetadata"])
        .collect();
    let sum = |k: &str| {
        usages
            .iter()
            .map(|u| u[k].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    let expected: f64 = usages.iter().map(|u| util::flash_38_batch_cost(u)).sum();

    let (model, input_tokens, output, cost, unpriced) = trace_row(&gw, &first);
    assert!(!unpriced);
    assert_eq!(model.as_deref(), Some("gemini-3.8-flash"));
    assert_eq!(input_tokens, Some(sum("promptTokenCount")));
    assert_eq!(
        output,
        Some(sum("candidatesTokenCount") + sum("thoughtsTokenCount"))
    );
    assert!(close(cost.unwrap(), expected), "{cost:?} vs {expected}");
    let llm = llm_span(&gw, &first);
    assert_eq!(llm["gateway.batch.results"], "metered");
    assert_eq!(llm["gateway.service_tier"], "batch");
    assert_eq!(llm["gateway.batch.responses"], 3);

    // Downloaded again (the SDK's path this time): free, and says why.
    let (second, _) = download(&gw, &format!("/v1beta/files/{id}:download?alt=media"));
    let (_, input_tokens, _, cost, unpriced) = trace_row(&gw, &second);
    assert_eq!((input_tokens, cost, unpriced), (None, Some(0.0), false));
    assert_eq!(
        llm_span(&gw, &second)["gateway.batch.already_metered"],
        true
    );

    // A later poll of the job: already metered, free.
    let r = client()
        .get(gw.url(&format!(
            "/v1beta/batches/{}",
            file.strip_prefix("files/batch-").unwrap()
        )))
        .header("x-goog-api-key", KEY)
        .send()
        .unwrap();
    let t = trace_id(&r);
    assert_eq!(
        llm_span(&gw, &t)["gateway.batch.results"],
        "already_metered"
    );
    assert_eq!(trace_row(&gw, &t).3, Some(0.0));
}

#[test]
fn a_malformed_line_is_counted_and_the_rest_metered() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    // The fake answers a line that is not JSON with an error line; a hostile upstream could
    // send garbage instead: serve one straight from a results file the gateway reads.
    let input = upload(
        &fake.base_url(),
        &(lines(&["alpha beta", "gamma"]) + "{not json\n"),
    );
    let (_, file) = job(&gw, &input);
    let id = file.strip_prefix("files/").unwrap();
    let (t, body) = download(
        &gw,
        &format!("/download/v1beta/files/{id}:download?alt=media"),
    );
    let text = String::from_utf8(body).unwrap();
    let ok: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("response").is_some())
        .collect();
    assert_eq!(ok.len(), 2);
    let expected: f64 = ok
        .iter()
        .map(|r| util::flash_38_batch_cost(&r["response"]["usageMetadata"]))
        .sum();
    let llm = llm_span(&gw, &t);
    assert_eq!(
        llm["gateway.batch.failed"], 1,
        "the fake's error line: not billed"
    );
    assert!(close(trace_row(&gw, &t).3.unwrap(), expected));
}

#[test]
fn a_results_file_past_the_parse_cap_is_flagged_not_free() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "max_parse_bytes = 2048", "");
    let many: Vec<String> = (0..40)
        .map(|i| format!("question number {i} about things"))
        .collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let input = upload(&fake.base_url(), &lines(&refs));
    let (_, file) = job(&gw, &input);
    let id = file.strip_prefix("files/").unwrap();
    let (t, body) = download(
        &gw,
        &format!("/download/v1beta/files/{id}:download?alt=media"),
    );
    assert!(body.len() > 2048, "{}", body.len());
    assert_eq!(
        String::from_utf8(body).unwrap().lines().count(),
        40,
        "passed through whole"
    );
    let (_, _, _, cost, unpriced) = trace_row(&gw, &t);
    assert_eq!((cost, unpriced), (None, true));
    let conn = gw.open_db();
    let why: String = conn
        .query_row(
            "SELECT json_extract(attributes, '$.\"gateway.response.parse_error\"') FROM spans
             WHERE trace_id = ?1 AND name = 'post_processing'",
            [&t],
            |r| r.get(0),
        )
        .unwrap();
    assert!(why.contains("max_parse_bytes"), "{why}");
}
