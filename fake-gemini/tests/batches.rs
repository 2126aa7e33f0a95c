//! The Batch API over real HTTP: create → pending operation, polls until done
//! with one inlined response per request (own usage, served model), results
//! files, embeddings, cancel, delete and 404s.

mod common;

use common::{client, fake, get, json, post};
use fake_gemini::FakeGemini;
use serde_json::{Value, json};

const CREATE: &str = "/v1beta/models/gemini-3.7-flash:batchGenerateContent";

fn requests(texts: &[&str]) -> Value {
    let reqs: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"request": {"contents": [{"role": "user", "parts": [{"text": t}]}]},
                   "metadata": {"key": format!("r{i}")}})
        })
        .collect();
    json!({"batch": {"displayName": "nightly", "inputConfig": {"requests": {"requests": reqs}}}})
}

async fn poll(fake: &FakeGemini, name: &str) -> Value {
    let resp = get(fake, &format!("/v1beta/{name}"), &[]).await;
    assert_eq!(resp.status(), 200);
    json(resp).await
}

#[tokio::test]
async fn create_polls_then_inlined_responses_with_own_usage() {
    let fake = fake().await;
    let body = requests(&["one two three", "four five"]);
    let resp = post(&fake, CREATE, &body, &[("x-fake-polls", "2")]).await;
    assert_eq!(resp.status(), 200);
    let op = json(resp).await;
    let name = op["name"].as_str().expect("name").to_string();
    assert!(name.starts_with("batches/"), "{op}");
    assert!(op.get("done").is_none());
    let meta = &op["metadata"];
    assert_eq!(meta["state"], "BATCH_STATE_PENDING");
    assert_eq!(meta["model"], "models/gemini-3.8-flash", "the served model");
    assert_eq!(meta["displayName"], "nightly");
    assert_eq!(meta["batchStats"]["requestCount"], "2");
    assert!(
        meta["@type"]
            .as_str()
            .expect("type")
            .ends_with(".GenerateContentBatch")
    );

    let first = poll(&fake, &name).await;
    assert_eq!(first["metadata"]["state"], "BATCH_STATE_RUNNING");
    assert!(first.get("response").is_none() && first["metadata"].get("output").is_none());
    let done = poll(&fake, &name).await;
    assert_eq!(done["done"], true);
    assert_eq!(done["metadata"]["state"], "BATCH_STATE_SUCCEEDED");
    let rs = done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
        .as_array()
        .expect("inlined responses");
    assert_eq!(rs.len(), 2);
    assert_eq!(
        done["response"]["inlinedResponses"],
        done["metadata"]["output"]["inlinedResponses"]
    );
    for (r, prompt) in rs.iter().zip([3u64, 2]) {
        let resp = &r["response"];
        assert_eq!(resp["modelVersion"], "gemini-3.8-flash");
        let u = &resp["usageMetadata"];
        assert_eq!(u["promptTokenCount"], prompt);
        assert_eq!(u["thoughtsTokenCount"], 7);
        // Reply: "Echo: <text> (deterministic fake-gemini reply)".
        assert_eq!(u["candidatesTokenCount"], prompt + 4);
        assert_eq!(u["totalTokenCount"], prompt + prompt + 4 + 7);
        assert!(u.get("serviceTier").is_none());
    }
    assert_eq!(rs[1]["metadata"]["key"], "r1");
    assert_eq!(poll(&fake, &name).await, done, "later polls repeat it");
}

#[tokio::test]
async fn per_request_errors_files_and_embeddings() {
    let fake = fake().await;
    // A request without contents fails on its own.
    let body = json!({"batch": {"inputConfig": {"requests": {"requests": [
        {"request": {"contents": [{"parts": [{"text": "hi"}]}]}}, {"request": {}}]}}}});
    let op = json(post(&fake, CREATE, &body, &[]).await).await;
    let done = poll(&fake, op["name"].as_str().expect("name")).await;
    let rs = &done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"];
    assert!(rs[0]["response"]["usageMetadata"].is_object());
    assert_eq!(rs[1]["error"]["code"], 400);
    assert_eq!(done["metadata"]["batchStats"]["failedRequestCount"], "1");

    // Input as a file: the results are a file too.
    let body = json!({"batch": {"input_config": {"file_name": "files/in"}}});
    let op = json(post(&fake, CREATE, &body, &[]).await).await;
    let done = poll(&fake, op["name"].as_str().expect("name")).await;
    let file = done["metadata"]["output"]["responsesFile"]
        .as_str()
        .expect("file");
    assert!(file.starts_with("files/batch-"));
    assert!(done["metadata"]["output"].get("inlinedResponses").is_none());

    // Embeddings: one embedding and tokenCount per request.
    let body = json!({"batch": {"inputConfig": {"requests": {"requests": [
        {"request": {"content": {"parts": [{"text": "a b c"}]}}}]}}}});
    let path = "/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent";
    let op = json(post(&fake, path, &body, &[]).await).await;
    assert!(
        op["metadata"]["@type"]
            .as_str()
            .expect("type")
            .ends_with(".EmbedContentBatch")
    );
    let done = poll(&fake, op["name"].as_str().expect("name")).await;
    let r = &done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"][0]["response"];
    assert_eq!(r["tokenCount"], 3);
    assert_eq!(r["embedding"]["values"].as_array().map(Vec::len), Some(8));

    // No requests at all: 400.
    let bad = post(&fake, CREATE, &json!({"batch": {}}), &[]).await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn cancel_delete_and_unknown_ids() {
    let fake = fake().await;
    let op = json(post(&fake, CREATE, &requests(&["x"]), &[("x-fake-polls", "5")]).await).await;
    let name = op["name"].as_str().expect("name").to_string();
    let c = post(&fake, &format!("/v1beta/{name}:cancel"), &json!({}), &[]).await;
    assert_eq!(c.status(), 200);
    assert_eq!(json(c).await, json!({}));
    let after = poll(&fake, &name).await;
    assert_eq!(after["metadata"]["state"], "BATCH_STATE_CANCELLED");
    assert_eq!(after["done"], true);
    assert!(after.get("response").is_none());

    let del = client()
        .delete(format!("{}/v1beta/{name}", fake.base_url()))
        .header("x-goog-api-key", "k")
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status(), 200);
    let gone = get(&fake, &format!("/v1beta/{name}"), &[]).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(json(gone).await["error"]["status"], "NOT_FOUND");
    let missing = post(&fake, "/v1beta/batches/nope:cancel", &json!({}), &[]).await;
    assert_eq!(missing.status(), 404);
    let other = fake_gemini::FakeGemini::start(fake_gemini::FakeConfig::default())
        .await
        .expect("second fake");
    let op = json(post(&fake, CREATE, &requests(&["y"]), &[]).await).await;
    let name = op["name"].as_str().expect("name");
    let resp = get(&other, &format!("/v1beta/{name}"), &[]).await;
    assert_eq!(resp.status(), 404, "jobs are per fake");
}
