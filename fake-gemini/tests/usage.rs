//! Usage beyond plain text: embeddings usage, Google Search grounding and
//! image / audio output.

mod common;

use common::{fake, json, post, prompt, sse_events};
use serde_json::{Value, json};

const GEN: &str = "/v1beta/models/gemini-3.8-flash:generateContent";
const SSE: &str = "/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse";

fn n(v: &Value, field: &str) -> u64 {
    v["usageMetadata"][field].as_u64().unwrap_or(u64::MAX)
}

#[tokio::test]
async fn embeddings_return_prompt_usage() {
    let fake = fake().await;
    let one = json!({"content": {"parts": [{"text": "alpha beta gamma"}]}});
    let path = "/v1beta/models/gemini-embedding-001:embedContent";
    let v = json(post(&fake, path, &one, &[]).await).await;
    assert_eq!(
        v["usageMetadata"],
        json!({"promptTokenCount": 3, "promptTokenDetails": [{"modality": "TEXT", "tokenCount": 3}]})
    );
    assert!(v["usageMetadata"].get("totalTokenCount").is_none());
    let batch = json!({"requests": [
        {"model": "models/gemini-embedding-2", "content": {"parts": [{"text": "a b"}]}},
        {"model": "models/gemini-embedding-2", "content": {"parts": [{"text": "c d e"}]}}
    ]});
    let path = "/v1beta/models/gemini-embedding-2:batchEmbedContents";
    let v = json(post(&fake, path, &batch, &[]).await).await;
    assert_eq!(v["embeddings"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["usageMetadata"]["promptTokenCount"], 5);
    assert_eq!(v["usageMetadata"]["promptTokenDetails"][0]["tokenCount"], 5);
    assert!(
        v["usageMetadata"].get("promptTokensDetails").is_none(),
        "singular Token"
    );
}

fn grounded(tool_key: &str) -> Value {
    let mut body = prompt("who won the race");
    body["tools"] = json!([{ tool_key: {} }]);
    body
}

#[tokio::test]
async fn google_search_adds_grounding_metadata() {
    let fake = fake().await;
    for key in ["googleSearch", "google_search"] {
        let v = json(post(&fake, GEN, &grounded(key), &[]).await).await;
        let gm = &v["candidates"][0]["groundingMetadata"];
        let queries: Vec<&str> = gm["webSearchQueries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(queries.len(), 3, "{key}: {queries:?}");
        assert_eq!(queries.iter().filter(|q| q.is_empty()).count(), 1);
        assert_eq!(queries[0], "who won the race");
        assert_eq!(gm["groundingChunks"].as_array().map(Vec::len), Some(2));
        assert!(gm["groundingChunks"][0]["web"]["uri"].is_string());
        assert!(gm["searchEntryPoint"]["renderedContent"].is_string());
        assert_eq!(n(&v, "toolUsePromptTokenCount"), 12);
        let sum = n(&v, "promptTokenCount")
            + n(&v, "candidatesTokenCount")
            + n(&v, "thoughtsTokenCount")
            + 12;
        assert_eq!(n(&v, "totalTokenCount"), sum);
    }
    let v = json(post(&fake, GEN, &prompt("who won"), &[]).await).await;
    assert!(v["candidates"][0].get("groundingMetadata").is_none());
    assert!(v["usageMetadata"].get("toolUsePromptTokenCount").is_none());

    let text = post(&fake, SSE, &grounded("googleSearch"), &[])
        .await
        .text()
        .await
        .expect("body");
    let events = sse_events(&text);
    let (last, rest) = events.split_last().expect("events");
    assert!(
        rest.iter()
            .all(|e| e["candidates"][0].get("groundingMetadata").is_none())
    );
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        last["candidates"][0]["groundingMetadata"]["webSearchQueries"][2],
        ""
    );
}

fn with_modalities(list: Value) -> Value {
    let mut body = prompt("draw a cat");
    body["generationConfig"] = json!({"responseModalities": list});
    body
}

#[tokio::test]
async fn image_and_audio_output_tokens() {
    let fake = fake().await;
    let v = json(post(&fake, GEN, &with_modalities(json!(["TEXT", "IMAGE"])), &[]).await).await;
    let words = 7; // Echo: draw a cat + 3 tail words
    assert_eq!(n(&v, "candidatesTokenCount"), words + 1290);
    assert_eq!(
        v["usageMetadata"]["candidatesTokensDetails"],
        json!([{"modality": "TEXT", "tokenCount": words}, {"modality": "IMAGE", "tokenCount": 1290}])
    );
    let parts = &v["candidates"][0]["content"]["parts"];
    assert_eq!(parts[1]["inlineData"]["mimeType"], "image/png");
    assert_eq!(n(&v, "totalTokenCount"), 3 + words + 1290 + 7);

    let v = json(post(&fake, GEN, &with_modalities(json!(["AUDIO"])), &[]).await).await;
    assert_eq!(
        v["usageMetadata"]["candidatesTokensDetails"][1]["modality"],
        "AUDIO"
    );
    assert_eq!(n(&v, "candidatesTokenCount"), words + 250);

    let v = json(post(&fake, GEN, &prompt("draw a cat"), &[]).await).await;
    assert!(v["usageMetadata"].get("candidatesTokensDetails").is_none());

    let body = with_modalities(json!(["TEXT", "IMAGE"]));
    let text = post(&fake, SSE, &body, &[])
        .await
        .text()
        .await
        .expect("body");
    let events = sse_events(&text);
    let (last, rest) = events.split_last().expect("events");
    assert!(rest.iter().all(|e| n(e, "candidatesTokenCount") < 1290));
    assert_eq!(n(last, "candidatesTokenCount"), words + 1290);
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");

    let inter = json!({"model": "gemini-3.8-flash", "input": "draw a cat",
        "response_modalities": ["text", "image"]});
    let v = json(post(&fake, "/v1beta/interactions", &inter, &[]).await).await;
    assert_eq!(
        v["usage"]["output_tokens_by_modality"],
        json!([{"modality": "text", "tokens": words}, {"modality": "image", "tokens": 1290}])
    );
    assert_eq!(v["steps"][1]["content"][1]["type"], "image");
}
