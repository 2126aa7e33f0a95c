//! The Batch API through the real gateway binary, against the fake upstream: the create is
//! deferred; the first poll that shows the job done meters its inlined responses at tier
//! `batch` (50% of gemini-3.8-flash standard: $0.75 in / $3.75 out per 1M in 2026, twice that
//! from 2027), each priced as its own call and summed; later polls are free; a job whose
//! results are a file stays deferred.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use serde_json::{Value, json};
use util::{Gateway, client, llm_span, trace_id, trace_row};

const KEY: &str = "test-key";
const CREATE: &str = "/v1beta/models/gemini-3.8-flash:batchGenerateContent";

/// Creates a batch job with `body` at `path`; its trace id and the job's name.
fn create(gw: &Gateway, path: &str, body: &Value) -> (String, String) {
    let r = client()
        .post(gw.url(path))
        .header("x-goog-api-key", KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = trace_id(&r);
    let op: Value = r.json().unwrap();
    (t, op["name"].as_str().unwrap().to_owned())
}

fn poll(gw: &Gateway, name: &str) -> (String, Value) {
    let r = client()
        .get(gw.url(&format!("/v1beta/{name}")))
        .header("x-goog-api-key", KEY)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = trace_id(&r);
    (t, r.json().unwrap())
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12_f64.max(b.abs() * 1e-9)
}

#[test]
fn batch_jobs_are_metered_once_at_the_batch_tier() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let reqs: Vec<Value> = ["one two three", "four five six seven", "eight"]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"request": {"contents": [{"role": "user", "parts": [{"text": t}]}]},
                   "metadata": {"key": format!("k{i}")}})
        })
        .collect();
    let body = json!({"batch": {"displayName": "nightly",
                                "inputConfig": {"requests": {"requests": reqs}}}});
    let (create_trace, name) = create(&gw, CREATE, &body);

    // The create is deferred: no cost, not unpriced; the model and request count are recorded.
    let (model, _, _, cost, unpriced) = trace_row(&gw, &create_trace);
    assert_eq!((cost, unpriced), (None, false));
    assert_eq!(model.as_deref(), Some("gemini-3.8-flash"));
    let llm = llm_span(&gw, &create_trace);
    assert_eq!(llm["gateway.metering"], "deferred");
    assert_eq!(llm["gateway.batch.requests"], 3);
    assert_eq!(llm["gen_ai.request.model"], "gemini-3.8-flash");

    let (first, done) = poll(&gw, &name);
    let (second, again) = poll(&gw, &name);
    assert_eq!(done["done"], true);
    assert_eq!(done, again);
    let responses = done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
        .as_array()
        .unwrap();
    assert_eq!(responses.len(), 3);
    let usages: Vec<&Value> = responses
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

    // The first poll that sees it done meters the sum of the responses, at tier batch.
    let (model, input, output, cost, unpriced) = trace_row(&gw, &first);
    assert!(!unpriced);
    assert_eq!(model.as_deref(), Some("gemini-3.8-flash"));
    assert_eq!(input, Some(sum("promptTokenCount")));
    assert_eq!(
        output,
        Some(sum("candidatesTokenCount") + sum("thoughtsTokenCount"))
    );
    assert!(close(cost.unwrap(), expected), "{cost:?} vs {expected}");
    let llm = llm_span(&gw, &first);
    assert_eq!(llm["gateway.metering"], "metered");
    assert_eq!(llm["gateway.service_tier"], "batch");
    assert_eq!(llm["gateway.batch.responses"], 3);
    assert_eq!(llm["gen_ai.operation.name"], "fetch_response");

    // Later polls are free and say why.
    let (_, input, _, cost, unpriced) = trace_row(&gw, &second);
    assert_eq!((input, cost, unpriced), (None, Some(0.0), false));
    let llm = llm_span(&gw, &second);
    assert_eq!(llm["gateway.batch.already_metered"], true);
    assert_eq!(llm["gateway.metering"], "free");
}

#[test]
fn results_in_a_file_stay_deferred_and_pending_polls_cost_nothing() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let body = json!({"batch": {"inputConfig": {"fileName": "files/input-jsonl"}}});
    let (_, name) = create(&gw, CREATE, &body);
    let (t, done) = poll(&gw, &name);
    let file = done["metadata"]["output"]["responsesFile"]
        .as_str()
        .unwrap();
    let (_, _, _, cost, unpriced) = trace_row(&gw, &t);
    assert_eq!((cost, unpriced), (None, false));
    let llm = llm_span(&gw, &t);
    assert_eq!(llm["gateway.metering"], "deferred");
    assert_eq!(llm["gateway.batch.responses_file"], file);

    // A job still pending: the poll is deferred, nothing priced.
    let reqs = json!([{"request": {"contents": [{"parts": [{"text": "x"}]}]}}]);
    let body = json!({"batch": {"inputConfig": {"requests": {"requests": reqs}}}});
    let r = client()
        .post(gw.url(CREATE))
        .header("x-goog-api-key", KEY)
        .header("x-fake-polls", "2")
        .body(body.to_string())
        .send()
        .unwrap();
    let name = r.json::<Value>().unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let (t, pending) = poll(&gw, &name);
    assert!(pending.get("done").is_none());
    let (_, _, _, cost, unpriced) = trace_row(&gw, &t);
    assert_eq!((cost, unpriced), (None, false));
    assert_eq!(
        llm_span(&gw, &t)["gateway.batch.state"],
        "BATCH_STATE_RUNNING"
    );
    let (t, _) = poll(&gw, &name);
    assert!(
        trace_row(&gw, &t).3.unwrap() > 0.0,
        "the second poll finds it done"
    );
}

/// Each response of a batch is its own billed call: gemini-2.5-flash-lite bills $35 per 1,000
/// grounded prompts, so three grounded responses owe three fees ($0.105), not the one a
/// single summed call would (before responses were priced one by one, the stored cost had
/// $0.035 of grounding). Tokens at 50% of $0.10 in / $0.40 out per 1M.
#[test]
fn each_batch_response_is_priced_as_its_own_call() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let reqs: Vec<Value> = ["who won", "what is new today", "weather"]
        .iter()
        .map(|t| {
            json!({"request": {"contents": [{"role": "user", "parts": [{"text": t}]}],
                               "tools": [{"google_search": {}}]}})
        })
        .collect();
    let body = json!({"batch": {"inputConfig": {"requests": {"requests": reqs}}}});
    let (_, name) = create(
        &gw,
        "/v1beta/models/gemini-2.5-flash-lite:batchGenerateContent",
        &body,
    );
    let (first, done) = poll(&gw, &name);
    let responses = done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
        .as_array()
        .unwrap();
    assert_eq!(responses.len(), 3);
    let mut expected = 0.0;
    for r in responses {
        let answer = &r["response"];
        assert!(
            answer["candidates"][0]["groundingMetadata"].is_object(),
            "{answer}"
        );
        let u = &answer["usageMetadata"];
        let n = |k: &str| u[k].as_f64().unwrap_or(0.0);
        let input = n("promptTokenCount") + n("toolUsePromptTokenCount");
        let output = n("candidatesTokenCount") + n("thoughtsTokenCount");
        expected += 0.5 * (input * 0.10 + output * 0.40) / 1e6 + 35.0 / 1000.0;
    }
    let (model, _, _, cost, unpriced) = trace_row(&gw, &first);
    assert_eq!(model.as_deref(), Some("gemini-2.5-flash-lite"));
    assert!(!unpriced);
    assert!(close(cost.unwrap(), expected), "{cost:?} vs {expected}");
    let llm = llm_span(&gw, &first);
    assert_eq!(llm["gateway.service_tier"], "batch");
}
