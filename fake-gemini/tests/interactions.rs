//! The Interactions API: unary, streamed, background, cancel/delete, tools,
//! agents and the knobs.

mod common;

use common::{client, fake, get, header, interaction_events, json, post};
use fake_gemini::FakeGemini;
use futures::StreamExt;
use serde_json::{Value, json};

const CREATE: &str = "/v1beta/interactions";

fn step_types(interaction: &Value) -> Vec<String> {
    interaction["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["type"].as_str().map(str::to_string))
        .collect()
}

fn u(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or(u64::MAX)
}

#[tokio::test]
async fn unary_interaction_has_steps_usage_and_served_model() {
    let fake = fake().await;
    let body = json!({
        "model": "gemini-3.7-flash",
        "input": "one two three",
        "system_instruction": "be brief",
        "service_tier": "flex",
        "previous_interaction_id": "v1_previous",
        "generation_config": {"temperature": 0.2},
        "store": true
    });
    let resp = post(&fake, CREATE, &body, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-gemini-service-tier"), "flex");
    let v = json(resp).await;
    assert!(v["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "gemini-3.8-flash", "the served model");
    assert!(v.get("agent").is_none());
    assert_eq!(v["service_tier"], "flex");
    assert_eq!(v["previous_interaction_id"], "v1_previous");
    assert!(v["created"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(v["updated"].is_string());
    assert_eq!(step_types(&v), ["thought", "model_output"]);
    assert!(v["steps"][0]["signature"].is_string());
    let text = v["steps"][1]["content"][0]["text"].as_str().unwrap_or("");
    assert_eq!(
        text,
        "Echo: one two three (deterministic fake-gemini reply)"
    );
    let usage = &v["usage"];
    assert_eq!(
        u(usage, "total_input_tokens"),
        5,
        "3 input + 2 system words"
    );
    assert_eq!(u(usage, "total_output_tokens"), 7);
    assert_eq!(u(usage, "total_thought_tokens"), 7);
    assert_eq!(u(usage, "total_cached_tokens"), 0);
    assert_eq!(u(usage, "total_tool_use_tokens"), 0);
    assert_eq!(u(usage, "total_tokens"), 5 + 7 + 7);
    assert_eq!(
        usage["input_tokens_by_modality"],
        json!([{"modality": "text", "tokens": 5}])
    );
    assert_eq!(
        usage["output_tokens_by_modality"],
        json!([{"modality": "text", "tokens": 7}])
    );
    assert!(usage.get("grounding_tool_count").is_none());
    // Stored: GET returns the same interaction.
    let id = v["id"].as_str().unwrap_or("");
    let again = json(get(&fake, &format!("/v1beta/interactions/{id}"), &[]).await).await;
    assert_eq!(again, v);
}

#[tokio::test]
async fn content_list_input_cache_and_no_thinking() {
    let fake = fake().await;
    let body = json!({
        "model": "gemini-2.5-flash-lite",
        "input": [
            {"type": "user_input", "content": [{"type": "text", "text": "first question here"}]},
            {"type": "model_output", "content": [{"type": "text", "text": "an answer"}]},
            {"type": "user_input", "content": [{"type": "text", "text": "follow up"}]}
        ],
        "cached_content": "cachedContents/abc"
    });
    let v = json(post(&fake, "/v1/interactions", &body, &[]).await).await;
    assert_eq!(step_types(&v), ["model_output"], "2.0 does not think");
    assert_eq!(
        v["steps"][0]["content"][0]["text"],
        "Echo: follow up (deterministic fake-gemini reply)"
    );
    assert_eq!(u(&v["usage"], "total_input_tokens"), 7);
    assert_eq!(u(&v["usage"], "total_cached_tokens"), 3);
    assert_eq!(u(&v["usage"], "total_thought_tokens"), 0);
    assert_eq!(v["service_tier"], "standard", "default tier");
    // thinking_budget 0 switches thoughts off on a thinking model.
    let body = json!({"model": "gemini-3.8-flash", "input": "x",
        "generation_config": {"thinking_config": {"thinking_budget": 0}}});
    let v = json(post(&fake, "/v1alpha/interactions", &body, &[]).await).await;
    assert_eq!(step_types(&v), ["model_output"]);
}

#[tokio::test]
async fn google_search_and_function_tools() {
    let fake = fake().await;
    let body = json!({
        "model": "gemini-3.8-flash",
        "input": "weather in Paris",
        "tools": [{"type": "google_search"}]
    });
    let v = json(post(&fake, CREATE, &body, &[]).await).await;
    assert_eq!(
        step_types(&v),
        [
            "thought",
            "google_search_call",
            "google_search_result",
            "model_output"
        ]
    );
    let call = &v["steps"][1];
    let queries = call["arguments"]["queries"].as_array().expect("queries");
    assert_eq!(queries.len(), 2);
    assert!(
        queries
            .iter()
            .all(|q| q.as_str().is_some_and(|q| !q.is_empty()))
    );
    assert_eq!(v["steps"][2]["call_id"], call["id"]);
    assert!(v["steps"][2]["result"][0]["search_suggestions"].is_string());
    assert_eq!(
        v["usage"]["grounding_tool_count"],
        json!([{"type": "google_search", "count": 2}])
    );
    assert_eq!(u(&v["usage"], "total_tool_use_tokens"), 12);
    let total = u(&v["usage"], "total_input_tokens")
        + u(&v["usage"], "total_output_tokens")
        + u(&v["usage"], "total_thought_tokens")
        + 12;
    assert_eq!(u(&v["usage"], "total_tokens"), total);

    let tool = json!({"type": "function", "name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}});
    let body = json!({"model": "gemini-3.8-flash", "input": "weather in Paris", "tools": [tool]});
    let v = json(post(&fake, CREATE, &body, &[]).await).await;
    assert_eq!(v["status"], "requires_action");
    assert_eq!(step_types(&v), ["thought", "function_call"]);
    let fc = &v["steps"][1];
    assert_eq!(fc["name"], "get_weather");
    assert_eq!(
        fc["arguments"],
        json!({"city": "weather in Paris", "days": 1})
    );
    assert_eq!(u(&v["usage"], "total_output_tokens"), 6);
    // Answering with the function result yields a model output.
    let body = json!({
        "model": "gemini-3.8-flash",
        "previous_interaction_id": v["id"],
        "tools": [tool],
        "input": [{"type": "function_result", "call_id": fc["id"], "name": "get_weather", "result": "sunny and warm"}]
    });
    let v2 = json(post(&fake, CREATE, &body, &[]).await).await;
    assert_eq!(v2["status"], "completed");
    assert_eq!(v2["previous_interaction_id"], v["id"]);
    assert_eq!(step_types(&v2), ["thought", "model_output"]);
}

#[tokio::test]
async fn agent_interaction_echoes_the_agent() {
    let fake = fake().await;
    let body = json!({"agent": "deep-research-preview-04-2026", "input": "research rust"});
    let v = json(post(&fake, CREATE, &body, &[]).await).await;
    assert_eq!(v["agent"], "deep-research-preview-04-2026");
    assert!(v.get("model").is_none());
    assert_eq!(v["status"], "completed");
    assert_eq!(u(&v["usage"], "total_thought_tokens"), 7);
    let both = json!({"agent": "a", "model": "m", "input": "x"});
    let resp = post(&fake, CREATE, &both, &[]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json(resp).await["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn stream_events_in_order_with_cumulative_usage() {
    let fake = fake().await;
    let body = json!({"model": "gemini-3.8-flash", "input": "stream this please", "stream": true,
        "service_tier": "priority"});
    let resp = post(&fake, CREATE, &body, &[("x-fake-chunks", "3")]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), "text/event-stream");
    assert_eq!(header(&resp, "x-gemini-service-tier"), "priority");
    let events = interaction_events(&resp.text().await.expect("body"));
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "interaction.created",
            "interaction.status_update",
            "step.start",
            "step.delta",
            "step.stop",
            "step.start",
            "step.delta",
            "step.delta",
            "step.delta",
            "step.stop",
            "interaction.completed"
        ]
    );
    let created = &events[0]["interaction"];
    assert_eq!(created["status"], "in_progress");
    assert!(created.get("usage").is_none());
    let id = created["id"].as_str().unwrap_or("");
    assert_eq!(events[1]["interaction_id"], id);
    assert_eq!(events[1]["status"], "in_progress");
    assert_eq!(events[2]["index"], 0);
    assert_eq!(events[2]["step"]["type"], "thought");
    assert_eq!(events[3]["delta"]["type"], "thought_signature");
    assert_eq!(events[4]["step_usage"]["total_thought_tokens"], 7);
    assert_eq!(events[5]["step"]["type"], "model_output");
    let text: String = events[6..9]
        .iter()
        .map(|e| e["delta"]["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        text,
        "Echo: stream this please (deterministic fake-gemini reply)"
    );
    let mut last = 0;
    for e in events.iter().filter(|e| e["event_type"] == "step.delta") {
        let total = u(&e["metadata"]["total_usage"], "total_tokens");
        assert!(total > last, "cumulative: {total} after {last}");
        last = total;
    }
    let stop = &events[9];
    assert_eq!(stop["index"], 1);
    assert_eq!(u(&stop["step_usage"], "total_output_tokens"), 7);
    assert_eq!(u(&stop["usage"], "total_tokens"), last);
    let done = &events[10]["interaction"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["service_tier"], "priority");
    assert_eq!(done["usage"], stop["usage"]);
    assert_eq!(u(&done["usage"], "total_tokens"), 3 + 7 + 7);
    assert_eq!(step_types(done), ["thought", "model_output"]);
}

#[tokio::test]
async fn stream_honours_reset_and_status_knobs() {
    let fake = fake().await;
    let body = json!({"model": "gemini-3.8-flash", "input": "x", "stream": true});
    let resp = post(
        &fake,
        CREATE,
        &body,
        &[("x-fake-fault", "reset-mid-stream")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut got = Vec::new();
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => got.extend_from_slice(&b),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body must break");
    let text = String::from_utf8_lossy(&got);
    assert_eq!(text.matches("data: ").count(), 2);
    assert!(!text.contains("[DONE]"));
    let resp = post(&fake, CREATE, &body, &[("x-fake-status", "429")]).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(header(&resp, "x-gemini-service-tier"), "standard");
    assert_eq!(json(resp).await["error"]["status"], "RESOURCE_EXHAUSTED");
    let resp = client()
        .post(format!("{}{CREATE}", fake.base_url()))
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 403, "a key is required");
}

async fn poll(fake: &FakeGemini, id: &str) -> Value {
    let resp = get(fake, &format!("/v1beta/interactions/{id}"), &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-gemini-service-tier"), "flex");
    json(resp).await
}

#[tokio::test]
async fn background_polls_cancel_and_delete() {
    let fake = fake().await;
    let body = json!({"model": "gemini-2.5-pro", "input": "long job", "background": true,
        "service_tier": "flex"});
    let resp = post(&fake, CREATE, &body, &[("x-fake-polls", "3")]).await;
    assert_eq!(resp.status(), 200);
    let v = json(resp).await;
    assert_eq!(v["status"], "in_progress");
    assert!(v.get("usage").is_none());
    assert_eq!(v["model"], "gemini-3.8-flash");
    let id = v["id"].as_str().expect("id").to_string();
    for _ in 0..2 {
        let p = poll(&fake, &id).await;
        assert_eq!(p["status"], "in_progress");
        assert!(p.get("usage").is_none());
    }
    let done = poll(&fake, &id).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(u(&done["usage"], "total_tokens"), 2 + 6 + 7);
    assert_eq!(step_types(&done), ["thought", "model_output"]);
    assert_eq!(poll(&fake, &id).await, done, "later polls repeat it");

    let del = client()
        .delete(format!("{}/v1beta/interactions/{id}", fake.base_url()))
        .header("x-goog-api-key", "k")
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status(), 200);
    assert_eq!(json(del).await, json!({}));
    let gone = get(&fake, &format!("/v1beta/interactions/{id}"), &[]).await;
    assert_eq!(gone.status(), 404);
    let err = json(gone).await;
    assert_eq!(err["error"]["code"], 404);
    assert_eq!(err["error"]["status"], "NOT_FOUND");

    // Default: the first GET completes. Cancel before it: cancelled, no usage.
    let v = json(post(&fake, CREATE, &body, &[]).await).await;
    let id = v["id"].as_str().expect("id").to_string();
    let path = format!("/v1beta/interactions/{id}/cancel");
    let c = json(post(&fake, &path, &json!({}), &[]).await).await;
    assert_eq!(c["status"], "cancelled");
    assert!(c.get("usage").is_none());
    let after = poll(&fake, &id).await;
    assert_eq!(after["status"], "cancelled");
    let v = json(post(&fake, CREATE, &body, &[]).await).await;
    let first = poll(&fake, v["id"].as_str().expect("id")).await;
    assert_eq!(first["status"], "completed", "x-fake-polls defaults to 1");
    let missing = post(&fake, "/v1beta/interactions/nope/cancel", &json!({}), &[]).await;
    assert_eq!(missing.status(), 404);
}
