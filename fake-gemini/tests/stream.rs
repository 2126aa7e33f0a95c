//! Streaming paths: SSE framing, JSON arrays, holds, resets, OpenAI compat.

mod common;

use std::time::Duration;

use common::{fake, json, post, prompt, sse_events};
use futures::StreamExt;
use serde_json::Value;

const SSE: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";

fn usage(ev: &Value, field: &str) -> u64 {
    ev["usageMetadata"][field].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn sse_is_crlf_framed_with_cumulative_usage() {
    let fake = fake().await;
    let body = prompt("one two three four five");
    let resp = post(&fake, SSE, &body, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.expect("body");
    assert!(!text.contains("[DONE]"));
    let events = sse_events(&text);
    assert_eq!(events.len(), 4);
    let mut last_candidates = 0;
    for (i, ev) in events.iter().enumerate() {
        assert_eq!(usage(ev, "promptTokenCount"), 5);
        assert_eq!(usage(ev, "thoughtsTokenCount"), 7);
        let c = usage(ev, "candidatesTokenCount");
        assert!(
            c > last_candidates,
            "cumulative candidates: {c} after {last_candidates}"
        );
        last_candidates = c;
        assert_eq!(usage(ev, "totalTokenCount"), 5 + c + 7);
        let finish = ev["candidates"][0].get("finishReason");
        assert_eq!(finish.is_some(), i == 3, "STOP only on the last event");
    }
    let streamed: String = events
        .iter()
        .map(|e| {
            e["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    let plain = json(
        post(
            &fake,
            "/v1beta/models/gemini-2.5-flash:generateContent",
            &body,
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(
        plain["candidates"][0]["content"]["parts"][0]["text"],
        streamed.as_str()
    );
    assert_eq!(
        plain["usageMetadata"]["candidatesTokenCount"],
        last_candidates
    );
    assert_eq!(
        streamed,
        "Echo: one two three four five (deterministic fake-gemini reply)"
    );
}

#[tokio::test]
async fn json_array_stream_parses_as_array() {
    let fake = fake().await;
    let path = "/v1/models/gemini-2.5-flash-lite:streamGenerateContent";
    let resp = post(&fake, path, &prompt("hello"), &[("x-fake-chunks", "3")]).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("application/json")
    );
    let text = resp.text().await.expect("body");
    assert!(text.starts_with("[{\n  \"candidates\""));
    assert!(text.contains("}\r\n,{") && text.ends_with("}\r\n]"));
    let arr: Vec<Value> = serde_json::from_str(&text).expect("array");
    assert_eq!(arr.len(), 3);
    assert!(arr[2]["usageMetadata"].get("thoughtsTokenCount").is_none());
    assert_eq!(arr[2]["candidates"][0]["finishReason"], "STOP");
}

/// On tokio's paused clock (see `api.rs` `latency_and_hang_knobs`): the timeout below fires
/// only once no task can run and no socket is ready, so nothing was on its way.
#[tokio::test(start_paused = true)]
async fn hold_pauses_after_first_event_until_release() {
    let fake = fake().await;
    let resp = post(&fake, SSE, &prompt("hold me"), &[("x-fake-hold", "tok-1")]).await;
    let mut body = resp.bytes_stream();
    let first = body.next().await.expect("first chunk").expect("ok");
    assert_eq!(
        sse_events(std::str::from_utf8(&first).expect("utf8")).len(),
        1
    );
    let early = tokio::time::timeout(Duration::from_millis(300), body.next()).await;
    assert!(early.is_err(), "nothing may arrive before release");
    fake.release("tok-1");
    let mut rest = Vec::new();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.expect("chunk"));
    }
    assert_eq!(
        sse_events(std::str::from_utf8(&rest).expect("utf8")).len(),
        3
    );
}

#[tokio::test]
async fn release_over_http_and_before_hold_is_kept() {
    let fake = fake().await;
    let url = format!("{}/__fake/release/early", fake.base_url());
    let resp = common::client().post(url).send().await.expect("release");
    assert_eq!(resp.status(), 204);
    let resp = post(&fake, SSE, &prompt("x"), &[("x-fake-hold", "early")]).await;
    let text = tokio::time::timeout(Duration::from_secs(5), resp.text())
        .await
        .expect("not held")
        .expect("body");
    assert_eq!(sse_events(&text).len(), 4);
}

#[tokio::test]
async fn reset_mid_stream_breaks_the_body() {
    let fake = fake().await;
    let headers = [
        ("x-fake-fault", "reset-mid-stream"),
        ("x-fake-chunk-gap-ms", "20"),
    ];
    let resp = post(&fake, SSE, &prompt("boom"), &headers).await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut got = Vec::new();
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(b) => got.extend_from_slice(&b),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the client must see a body error");
    assert_eq!(
        sse_events(std::str::from_utf8(&got).expect("utf8")).len(),
        2
    );
}

#[tokio::test]
async fn openai_stream_ends_with_usage_and_done() {
    let fake = fake().await;
    let body = serde_json::json!({
        "model": "models/gemini-2.5-flash-lite",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}]
    });
    let resp = post(&fake, "/v1beta/openai/chat/completions", &body, &[]).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("body");
    assert!(text.ends_with("data: [DONE]\n\n"));
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("chunk"))
        .collect();
    assert_eq!(chunks.len(), 4);
    let last = &chunks[3];
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["usage"]["prompt_tokens"], 4);
    assert!(chunks[0].get("usage").is_none());
    let content: String = chunks
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        last["usage"]["completion_tokens"],
        content.split_whitespace().count()
    );
}
