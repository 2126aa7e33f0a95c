//! Non-stream endpoints, errors, auth, knobs and request recording.

mod common;

use std::time::Duration;

use common::{client, fake, json, post, prompt};
use serde_json::json;

const GEN: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

#[tokio::test]
async fn generate_content_token_rules() {
    let fake = fake().await;
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "alpha beta gamma"}]}],
        "system_instruction": {"parts": [{"text": "be terse"}]},
        "cachedContent": "cachedContents/abc",
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}
    });
    let resp = post(&fake, GEN, &body, &[]).await;
    assert_eq!(resp.status(), 200);
    let v = json(resp).await;
    let u = &v["usageMetadata"];
    assert_eq!(u["promptTokenCount"], 5);
    assert_eq!(u["cachedContentTokenCount"], 2);
    assert!(
        u.get("thoughtsTokenCount").is_none(),
        "thinkingBudget 0 disables thoughts"
    );
    assert_eq!(u["candidatesTokenCount"], 7);
    assert_eq!(u["totalTokenCount"], 12);
    assert_eq!(u["promptTokensDetails"][0]["modality"], "TEXT");
    // gemini-2.5-flash is retired: gemini-3.5-flash-lite serves it.
    assert_eq!(v["modelVersion"], "gemini-3.5-flash-lite");
    assert_eq!(v["candidates"][0]["content"]["role"], "model");
    let id1 = v["responseId"].as_str().unwrap_or("").to_string();
    let v2 = json(post(&fake, GEN, &body, &[]).await).await;
    assert_ne!(v2["responseId"].as_str(), Some(id1.as_str()));
}

#[tokio::test]
async fn count_tokens_and_embeddings() {
    let fake = fake().await;
    let v = json(
        post(
            &fake,
            "/v1beta/models/gemini-2.5-flash-lite:countTokens",
            &prompt("a b c d"),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(v["totalTokens"], 4);
    let body = json!({"generateContentRequest": {"model": "models/x", "contents": [{"parts": [{"text": "a b"}]}]}});
    let v = json(post(&fake, "/v1beta/models/x:countTokens", &body, &[]).await).await;
    assert_eq!(v["totalTokens"], 2);
    let body = json!({"requests": [{"content": {"parts": [{"text": "x"}]}}, {"content": {"parts": [{"text": "y"}]}}]});
    let v = json(
        post(
            &fake,
            "/v1beta/models/gemini-embedding-001:batchEmbedContents",
            &body,
            &[],
        )
        .await,
    )
    .await;
    let embs = v["embeddings"].as_array().expect("embeddings");
    assert_eq!(embs.len(), 2);
    assert_eq!(embs[0]["values"].as_array().map(Vec::len), Some(8));
    let one = json!({"content": {"parts": [{"text": "x"}]}});
    let v = json(
        post(
            &fake,
            "/v1beta/models/gemini-embedding-001:embedContent",
            &one,
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(v["embedding"]["values"], embs[0]["values"]);
}

#[tokio::test]
async fn injected_429_has_gemini_shape() {
    let fake = fake().await;
    let resp = post(&fake, GEN, &prompt("x"), &[("x-fake-status", "429")]).await;
    assert_eq!(resp.status(), 429);
    let v = json(resp).await;
    assert_eq!(v["error"]["code"], 429);
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    let details = v["error"]["details"].as_array().expect("details");
    assert!(
        details
            .iter()
            .any(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo"
                && d["retryDelay"].is_string())
    );
    let compat =
        json!({"model": "gemini-2.5-flash-lite", "messages": [{"role": "user", "content": "x"}]});
    let resp = post(
        &fake,
        "/v1beta/openai/chat/completions",
        &compat,
        &[("x-fake-status", "503")],
    )
    .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(json(resp).await[0]["error"]["status"], "UNAVAILABLE");
}

#[tokio::test]
async fn auth_and_malformed_json() {
    let fake = fake().await;
    let url = format!("{}{GEN}", fake.base_url());
    let body = prompt("x").to_string();
    let resp = client()
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 403);
    assert_eq!(json(resp).await["error"]["status"], "PERMISSION_DENIED");
    let resp = client()
        .post(format!("{url}?key=bad-key"))
        .body(body.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    assert_eq!(
        json(resp).await["error"]["details"][0]["reason"],
        "API_KEY_INVALID"
    );
    let resp = client()
        .post(format!("{url}?key=ok"))
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let resp = client()
        .post(&url)
        .header("x-goog-api-key", "k")
        .body("{nope")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let v = json(resp).await;
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("Invalid JSON payload received.")
    );
    let compat = format!("{}/v1beta/openai/chat/completions", fake.base_url());
    let resp = client()
        .post(compat)
        .bearer_auth("k")
        .body("[")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    assert_eq!(json(resp).await[0]["error"]["code"], 400);
    let resp = client()
        .get(format!("{}/v1beta/nothing", fake.base_url()))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
    assert_eq!(json(resp).await["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn openai_compat_and_models() {
    let fake = fake().await;
    let body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi you"}]}]});
    let v = json(post(&fake, "/v1beta/openai/chat/completions", &body, &[]).await).await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["usage"]["prompt_tokens"], 2);
    let completion = v["usage"]["completion_tokens"].as_u64().unwrap_or(0);
    assert_eq!(v["usage"]["total_tokens"], 2 + completion + 7);
    let v = json(
        post(
            &fake,
            "/v1beta/openai/embeddings",
            &json!({"model": "m", "input": ["a", "b c"]}),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    let get = |p: &str| {
        client()
            .get(format!("{}{p}", fake.base_url()))
            .header("x-goog-api-key", "k")
            .send()
    };
    let v = json(get("/v1beta/models").await.expect("send")).await;
    assert!(v["models"].as_array().is_some_and(|m| !m.is_empty()));
    let v = json(get("/v1/models/gemini-2.5-pro").await.expect("send")).await;
    assert_eq!(v["name"], "models/gemini-2.5-pro");
    let v = json(get("/v1beta/openai/models").await.expect("send")).await;
    assert_eq!(v["object"], "list");
}

/// On tokio's paused clock, which jumps to the next timer only when no task can run and no
/// socket is ready: the latency is the fake's own timer, and a hang is a request that nothing
/// but the client's timeout can end. No wall-clock time is measured.
#[tokio::test(start_paused = true)]
async fn latency_and_hang_knobs() {
    let fake = fake().await;
    let start = tokio::time::Instant::now();
    let resp = post(&fake, GEN, &prompt("x"), &[("x-fake-latency-ms", "200")]).await;
    assert_eq!(resp.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(200));
    let req = client()
        .post(format!("{}{GEN}", fake.base_url()))
        .header("x-goog-api-key", "k")
        .header("x-fake-fault", "hang")
        .timeout(Duration::from_millis(300))
        .body(prompt("x").to_string());
    let err = req.send().await.expect_err("must time out");
    assert!(err.is_timeout());
}

#[tokio::test]
async fn requests_are_recorded() {
    let fake = fake().await;
    let _ = post(
        &fake,
        &format!("{GEN}?foo=bar"),
        &prompt("rec"),
        &[("X-Custom", "Val")],
    )
    .await;
    let seen = fake.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, GEN);
    assert_eq!(seen[0].query.as_deref(), Some("foo=bar"));
    assert_eq!(seen[0].header("x-custom"), Some("Val"));
    assert!(seen[0].headers.iter().any(|(k, _)| k == "x-custom"));
    assert_eq!(seen[0].body, prompt("rec").to_string().as_bytes());
    let v = json(
        client()
            .get(format!("{}/__fake/requests", fake.base_url()))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        v.as_array().map(Vec::len),
        Some(1),
        "control requests are not recorded"
    );
    assert_eq!(v[0]["headers"]["x-custom"], "Val");
    fake.shutdown().await;
}

/// gemini-2.5-flash-lite thinks only when asked, on the OpenAI-compatible surface too: no
/// reasoning tokens by default or for `reasoning_effort: "none"`, some for another effort.
#[tokio::test]
async fn compat_flash_lite_2_5_reasons_only_when_asked() {
    let fake = fake().await;
    let reasoning = |effort: Option<&str>| {
        let mut body = json!({"model": "gemini-2.5-flash-lite", "messages": [{"role": "user", "content": "x"}]});
        if let Some(e) = effort {
            body["reasoning_effort"] = json!(e);
        }
        body
    };
    for (effort, thinks) in [(None, false), (Some("none"), false), (Some("low"), true)] {
        let resp = post(
            &fake,
            "/v1beta/openai/chat/completions",
            &reasoning(effort),
            &[],
        )
        .await;
        assert_eq!(resp.status(), 200);
        let v = json(resp).await;
        let tokens = v["usage"]["completion_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap_or(0);
        assert_eq!(tokens > 0, thinks, "{effort:?}: {v}");
    }
}
