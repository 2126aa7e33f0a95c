//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use fake_gemini::{FakeConfig, FakeGemini};
use serde_json::Value;

/// A fake with default config.
pub async fn fake() -> FakeGemini {
    FakeGemini::start(FakeConfig::default())
        .await
        .expect("start fake")
}

/// A plain reqwest client with a safety timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// A `generateContent` body with one user turn.
pub fn prompt(text: &str) -> Value {
    serde_json::json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

/// POST `body` as JSON to `path` with an API key and extra headers.
pub async fn post(
    fake: &FakeGemini,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = client()
        .post(format!("{}{path}", fake.base_url()))
        .header("x-goog-api-key", "test-key")
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("send")
}

/// Body of `resp` parsed as JSON.
pub async fn json(resp: reqwest::Response) -> Value {
    let bytes = resp.bytes().await.expect("body");
    serde_json::from_slice(&bytes).expect("json body")
}

/// SSE payloads of a `\r\n\r\n`-framed body, parsed as JSON.
pub fn sse_events(body: &str) -> Vec<Value> {
    assert!(
        body.ends_with("\r\n\r\n"),
        "body must end with CRLF CRLF: {body:?}"
    );
    body.split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let data = e.strip_prefix("data: ").expect("data: prefix");
            assert!(!data.contains('\n'), "single-line JSON");
            serde_json::from_str(data).expect("event json")
        })
        .collect()
}

/// GET `path` with an API key and extra headers.
pub async fn get(fake: &FakeGemini, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client()
        .get(format!("{}{path}", fake.base_url()))
        .header("x-goog-api-key", "test-key");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("send")
}

/// Value of response header `name` ("" if absent).
pub fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Events of an Interactions stream (`data: <json>\n\n`, ending with
/// `data: [DONE]\n\n`), parsed as JSON, `[DONE]` excluded.
pub fn interaction_events(body: &str) -> Vec<Value> {
    assert!(
        body.ends_with("data: [DONE]\n\n"),
        "stream must end with [DONE]: {body:?}"
    );
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").expect("data: prefix"))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("event json"))
        .collect()
}
