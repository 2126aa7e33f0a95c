//! Service tiers (header and usage field) and auto-routing (the served model
//! in every surface).

mod common;

use common::{fake, get, header, interaction_events, json, post, prompt, sse_events};
use serde_json::{Value, json};

const GEN: &str = "/v1beta/models/gemini-3.8-flash:generateContent";
const SSE: &str = "/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse";

fn with_tier(text: &str, key: &str, tier: &str) -> Value {
    let mut body = prompt(text);
    body[key] = json!(tier);
    body
}

#[tokio::test]
async fn generate_content_reports_the_served_tier() {
    let fake = fake().await;
    let resp = post(&fake, GEN, &prompt("x"), &[]).await;
    assert_eq!(header(&resp, "x-gemini-service-tier"), "standard");
    assert_eq!(json(resp).await["usageMetadata"]["serviceTier"], "standard");

    let resp = post(&fake, GEN, &with_tier("x", "serviceTier", "flex"), &[]).await;
    assert_eq!(header(&resp, "x-gemini-service-tier"), "flex");
    assert_eq!(json(resp).await["usageMetadata"]["serviceTier"], "flex");

    let priority = with_tier("x", "service_tier", "priority");
    let resp = post(&fake, GEN, &priority, &[]).await;
    assert_eq!(header(&resp, "x-gemini-service-tier"), "priority");
    assert_eq!(json(resp).await["usageMetadata"]["serviceTier"], "priority");

    let knob = [("x-fake-tier-downgrade", "1")];
    let resp = post(&fake, GEN, &priority, &knob).await;
    assert_eq!(header(&resp, "x-gemini-service-tier"), "standard");
    assert_eq!(json(resp).await["usageMetadata"]["serviceTier"], "standard");
    let flex = with_tier("x", "serviceTier", "flex");
    let resp = post(&fake, GEN, &flex, &knob).await;
    assert_eq!(
        header(&resp, "x-gemini-service-tier"),
        "flex",
        "only priority is downgraded"
    );
}

#[tokio::test]
async fn errors_and_streams_carry_the_tier() {
    let fake = fake().await;
    let flex = with_tier("a b c", "serviceTier", "flex");
    let resp = post(&fake, GEN, &flex, &[("x-fake-status", "429")]).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(header(&resp, "x-gemini-service-tier"), "flex");

    let resp = post(&fake, SSE, &flex, &[]).await;
    assert_eq!(header(&resp, "x-gemini-service-tier"), "flex");
    let events = sse_events(&resp.text().await.expect("body"));
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["usageMetadata"]["serviceTier"] == "flex")
    );

    let bad = with_tier("x", "serviceTier", "gold");
    let resp = post(&fake, GEN, &bad, &[]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json(resp).await["error"]["status"], "INVALID_ARGUMENT");

    let compat = json!({"model": "gemini-3.8-flash", "service_tier": "flex",
        "messages": [{"role": "user", "content": "hi"}]});
    let resp = post(&fake, "/v1beta/openai/chat/completions", &compat, &[]).await;
    assert_eq!(header(&resp, "x-gemini-service-tier"), "flex");

    let embed = json!({"content": {"parts": [{"text": "x"}]}});
    let resp = post(
        &fake,
        "/v1beta/models/gemini-embedding-001:embedContent",
        &embed,
        &[],
    )
    .await;
    assert_eq!(
        header(&resp, "x-gemini-service-tier"),
        "",
        "not a generation call"
    );
}

#[tokio::test]
async fn interactions_report_the_served_tier() {
    let fake = fake().await;
    let body = json!({"model": "gemini-3.8-flash", "input": "x", "service_tier": "priority"});
    let resp = post(
        &fake,
        "/v1beta/interactions",
        &body,
        &[("x-fake-tier-downgrade", "1")],
    )
    .await;
    assert_eq!(header(&resp, "x-gemini-service-tier"), "standard");
    assert_eq!(json(resp).await["service_tier"], "standard");
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let resp = post(&fake, "/v1beta/interactions", &streamed, &[]).await;
    let events = interaction_events(&resp.text().await.expect("body"));
    assert_eq!(events[0]["interaction"]["service_tier"], "priority");
    let last = events.last().expect("completed");
    assert_eq!(last["interaction"]["service_tier"], "priority");
}

/// The routing table, as documented.
const ROUTED: [(&str, &str); 6] = [
    ("gemini-3.7-flash", "gemini-3.8-flash"),
    ("gemini-3.5-flash", "gemini-3.6-flash"),
    ("gemini-2.5-pro", "gemini-3.8-flash"),
    ("gemini-2.5-flash", "gemini-3.5-flash-lite"),
    ("gemini-flash-lite-latest", "gemini-3.5-flash-lite"),
    ("gemini-3-pro-preview", "gemini-3.1-pro-preview"),
];

#[tokio::test]
async fn every_surface_reports_the_served_model() {
    let fake = fake().await;
    for (asked, served) in ROUTED {
        let path = format!("/v1beta/models/{asked}:generateContent");
        let v = json(post(&fake, &path, &prompt("x"), &[]).await).await;
        assert_eq!(v["modelVersion"], served, "generateContent {asked}");

        let path = format!("/v1beta/models/{asked}:streamGenerateContent?alt=sse");
        let text = post(&fake, &path, &prompt("x"), &[])
            .await
            .text()
            .await
            .expect("body");
        let events = sse_events(&text);
        assert!(
            events.iter().all(|e| e["modelVersion"] == served),
            "stream {asked}"
        );

        let compat = json!({"model": format!("models/{asked}"),
            "messages": [{"role": "user", "content": "x"}]});
        let v = json(post(&fake, "/v1beta/openai/chat/completions", &compat, &[]).await).await;
        assert_eq!(v["model"], served, "compat {asked}");

        let body = json!({"model": asked, "input": "x"});
        let v = json(post(&fake, "/v1beta/interactions", &body, &[]).await).await;
        assert_eq!(v["model"], served, "interaction {asked}");
    }
    let v = json(post(&fake, GEN, &prompt("x"), &[]).await).await;
    assert_eq!(
        v["modelVersion"], "gemini-3.8-flash",
        "a current model serves itself"
    );
}

#[tokio::test]
async fn model_list_is_current_and_old_names_resolve() {
    let fake = fake().await;
    let v = json(get(&fake, "/v1beta/models", &[]).await).await;
    let names: Vec<&str> = v["models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["name"].as_str())
        .collect();
    for m in [
        "gemini-3.8-flash",
        "gemini-3.5-flash-lite",
        "gemini-3.1-pro-preview",
    ] {
        assert!(
            names.contains(&format!("models/{m}").as_str()),
            "{m} in {names:?}"
        );
    }
    assert!(!names.contains(&"models/gemini-2.0-flash"), "shut down");
    let v = json(get(&fake, "/v1beta/models/gemini-2.5-pro", &[]).await).await;
    assert_eq!(v["name"], "models/gemini-2.5-pro");
    let path = "/v1beta/models/gemini-2.5-flash-lite:generateContent";
    let resp = post(&fake, path, &prompt("x"), &[]).await;
    assert_eq!(resp.status(), 200, "a model still served answers");
}

/// A model that was shut down is not found on any surface, as the API answers for a model it
/// does not serve; nothing is generated or billed.
#[tokio::test]
async fn shut_down_models_are_not_found_on_every_surface() {
    let fake = fake().await;
    let not_found = |v: &Value, model: &str, version: &str, method: &str| {
        assert_eq!(v["error"]["code"], 404, "{v}");
        assert_eq!(v["error"]["status"], "NOT_FOUND", "{v}");
        let message = v["error"]["message"].as_str().expect("message");
        assert!(
            message.starts_with(&format!(
                "models/{model} is not found for API version {version}, or is not supported for {method}."
            )),
            "{message}"
        );
    };
    for (model, rest, version, method) in [
        (
            "gemini-2.0-flash",
            ":generateContent",
            "v1beta",
            "generateContent",
        ),
        (
            "gemini-2.0-flash-lite",
            ":generateContent",
            "v1",
            "generateContent",
        ),
        (
            "gemini-2.0-flash",
            ":streamGenerateContent?alt=sse",
            "v1beta",
            "streamGenerateContent",
        ),
        (
            "gemini-2.0-flash-001",
            ":countTokens",
            "v1beta",
            "countTokens",
        ),
    ] {
        let path = format!("/{version}/models/{model}{rest}");
        let resp = post(&fake, &path, &prompt("x"), &[]).await;
        assert_eq!(resp.status(), 404, "{path}");
        not_found(&json(resp).await, model, version, method);
    }
    let batch = json!({"batch": {"inputConfig": {"requests": {"requests": [
        {"request": prompt("x")}]}}}});
    let resp = post(
        &fake,
        "/v1beta/models/gemini-2.0-flash:batchGenerateContent",
        &batch,
        &[],
    )
    .await;
    assert_eq!(resp.status(), 404);
    not_found(
        &json(resp).await,
        "gemini-2.0-flash",
        "v1beta",
        "batchGenerateContent",
    );

    let chat = json!({"model": "gemini-2.0-flash", "messages": [{"role": "user", "content": "x"}]});
    let resp = post(&fake, "/v1beta/openai/chat/completions", &chat, &[]).await;
    assert_eq!(resp.status(), 404);
    let body = json(resp).await;
    not_found(&body[0], "gemini-2.0-flash", "v1beta", "generateContent");

    let create = json!({"model": "models/gemini-2.0-flash-lite", "input": "x"});
    let resp = post(&fake, "/v1beta/interactions", &create, &[]).await;
    assert_eq!(resp.status(), 404);
    not_found(
        &json(resp).await,
        "gemini-2.0-flash-lite",
        "v1beta",
        "createInteraction",
    );
}

/// The other surfaces that name a model, an escaped id, and the version each message names.
#[tokio::test]
async fn shut_down_models_are_not_found_by_name_escape_and_version() {
    let fake = fake().await;
    let message = |v: &Value| {
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let resp = get(&fake, "/v1beta/models/gemini-2.0-flash", &[]).await;
    assert_eq!(resp.status(), 404);
    assert!(message(&json(resp).await).starts_with("models/gemini-2.0-flash is not found"));
    let resp = get(&fake, "/v1beta/openai/models/gemini-2.0-flash-lite", &[]).await;
    assert_eq!(resp.status(), 404);
    let resp = post(
        &fake,
        "/v1beta/openai/embeddings",
        &json!({"model": "gemini-2.0-flash", "input": "x"}),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 404);
    let cache = json!({"model": "models/gemini-2.0-flash",
        "contents": [{"role": "user", "parts": [{"text": "a b c"}]}]});
    let resp = post(&fake, "/v1beta/cachedContents", &cache, &[]).await;
    assert_eq!(resp.status(), 404, "no cache of a model shut down");
    let resp = post(
        &fake,
        "/v1beta/models/gemini%2D2.0-flash:generateContent",
        &prompt("x"),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 404, "the id decoded");
    for version in ["v1alpha", "v2"] {
        let path = format!("/{version}/models/gemini-2.0-flash:generateContent");
        let resp = post(&fake, &path, &prompt("x"), &[]).await;
        assert_eq!(resp.status(), 404, "{path}");
        let m = message(&json(resp).await);
        assert!(m.contains(&format!("for API version {version},")), "{m}");
    }
    // A model still served is found the same ways.
    let resp = get(&fake, "/v1beta/models/gemini-2.5-flash-lite", &[]).await;
    assert_eq!(resp.status(), 200);
    let cache = json!({"model": "models/gemini-2.5-flash-lite",
        "contents": [{"role": "user", "parts": [{"text": "a b c"}]}]});
    let resp = post(&fake, "/v1beta/cachedContents", &cache, &[]).await;
    assert_eq!(resp.status(), 200);
}
