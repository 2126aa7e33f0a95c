//! Today's Gemini surfaces through the real gateway binary, against the fake upstream:
//! Interactions (unary, streamed, background polled twice), compressed answers, service tiers,
//! auto-routed models, embeddings usage, grounding fees, and usage on an unknown path.
//! Costs are checked against the reference price table (USD per 1M tokens, December 2026).

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::io::{Read, Write};
use util::{Gateway, client, llm_span, spans_of, trace_id, trace_row};

const KEY: &str = "test-key";

fn post(gw: &Gateway, path: &str, body: &Value) -> reqwest::blocking::Response {
    client()
        .post(gw.url(path))
        .header("x-goog-api-key", KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12_f64.max(b.abs() * 1e-9)
}

#[test]
fn interactions_unary_are_metered_with_thoughts_and_steps() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let r = post(
        &gw,
        "/v1beta/interactions",
        &json!({"model": "gemini-3.8-flash", "input": "count the stars in the sky tonight",
                "previous_interaction_id": "v1_prev", "cached_content": "cachedContents/stars"}),
    );
    assert_eq!(r.status(), 200);
    let id = trace_id(&r);
    let body: Value = r.json().unwrap();
    let usage = &body["usage"];
    // Thoughts (billed as output) and a cached part of the prompt (at the cache-read rate)
    // are both in the answer, so the cost below checks both rules.
    assert!(
        usage["total_thought_tokens"].as_u64().unwrap() > 0,
        "{body}"
    );
    assert!(usage["total_cached_tokens"].as_u64().unwrap() > 0, "{body}");
    let (model, input, output, cost, unpriced) = trace_row(&gw, &id);
    assert_eq!(model.as_deref(), Some("gemini-3.8-flash"));
    assert_eq!(input, usage["total_input_tokens"].as_i64());
    // Billed output = output + thoughts.
    assert_eq!(
        output,
        Some(
            usage["total_output_tokens"].as_i64().unwrap()
                + usage["total_thought_tokens"].as_i64().unwrap()
        )
    );
    assert!(!unpriced);
    assert!(
        close(cost.unwrap(), util::flash_38_interaction_cost(usage)),
        "{cost:?} vs {}",
        util::flash_38_interaction_cost(usage)
    );

    let conn = Connection::open(&gw.db).unwrap();
    let cached: Option<i64> = conn
        .query_row(
            "SELECT cached_tokens FROM traces WHERE trace_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cached, usage["total_cached_tokens"].as_i64());
    let spans = spans_of(&conn, &id);
    let llm = spans
        .iter()
        .find(|s| s.2["gateway.step"] == "llm_call")
        .unwrap();
    assert_eq!(llm.0, "generate_content gemini-3.8-flash");
    assert_eq!(llm.2["gen_ai.request.previous_response.id"], "v1_prev");
    assert_eq!(llm.2["gen_ai.response.id"], body["id"]);
    assert_eq!(llm.2["gen_ai.usage.input_tokens"].as_i64(), input);
    let llm_span_id: String = conn
        .query_row(
            "SELECT span_id FROM spans WHERE trace_id = ?1 AND name = ?2",
            [&id, &llm.0],
            |r| r.get(0),
        )
        .unwrap();
    let steps: Vec<_> = spans
        .iter()
        .filter(|s| s.2.get("gateway.interaction.step.type").is_some())
        .collect();
    let types: Vec<&str> = steps
        .iter()
        .map(|s| s.2["gateway.interaction.step.type"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .filter(|t| *t != "user_input")
        .collect();
    assert_eq!(types, expected);
    assert!(types.contains(&"model_output"));
    assert!(
        steps
            .iter()
            .all(|s| s.4.as_deref() == Some(llm_span_id.as_str()))
    );
}

#[test]
fn interactions_streams_take_the_final_cumulative_usage() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let r = client()
        .post(gw.url("/v1beta/interactions"))
        .header("x-goog-api-key", KEY)
        .header("accept", "text/event-stream")
        .header("x-fake-chunks", "4")
        .body(json!({"model": "gemini-3.8-flash", "input": "one two three four five six", "stream": true}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = trace_id(&r);
    let text = r.text().unwrap();
    assert!(text.contains("data: [DONE]"));
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let completed = events
        .iter()
        .find(|e| e["event_type"] == "interaction.completed")
        .unwrap();
    let usage = &completed["interaction"]["usage"];
    let deltas = events
        .iter()
        .filter(|e| e["event_type"] == "step.delta")
        .count();
    assert!(deltas >= 2, "a real stream has several deltas: {text}");
    let (_, input, output, cost, _) = trace_row(&gw, &id);
    assert_eq!(input, usage["total_input_tokens"].as_i64());
    assert_eq!(
        output,
        Some(
            usage["total_output_tokens"].as_i64().unwrap()
                + usage["total_thought_tokens"].as_i64().unwrap()
        )
    );
    assert!(close(cost.unwrap(), util::flash_38_interaction_cost(usage)));
    let llm = llm_span(&gw, &id);
    assert_eq!(llm["gen_ai.request.stream"], true);
    assert!(
        llm["gen_ai.response.time_to_first_chunk"]
            .as_f64()
            .is_some()
    );
}

#[test]
fn background_interactions_are_metered_once_however_often_polled() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let r = post(
        &gw,
        "/v1beta/interactions",
        &json!({"model": "gemini-3.8-flash", "input": "a long research task", "background": true}),
    );
    assert_eq!(r.status(), 200);
    let create_trace = trace_id(&r);
    let created: Value = r.json().unwrap();
    assert_eq!(created["status"], "in_progress");
    let iid = created["id"].as_str().unwrap().to_owned();

    let poll = || {
        let r = client()
            .get(gw.url(&format!("/v1beta/interactions/{iid}")))
            .header("x-goog-api-key", KEY)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let t = trace_id(&r);
        (t, r.json::<Value>().unwrap())
    };
    let (first, done) = poll();
    let (second, again) = poll();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["usage"], again["usage"]);

    // The create is deferred: no cost, not unpriced.
    let (_, _, _, cost, unpriced) = trace_row(&gw, &create_trace);
    assert_eq!((cost, unpriced), (None, false));
    assert_eq!(llm_span(&gw, &create_trace)["gateway.metering"], "deferred");
    // The first poll that sees it completed is metered; the second is free.
    let (_, _, _, cost, unpriced) = trace_row(&gw, &first);
    assert!(!unpriced);
    assert!(close(
        cost.unwrap(),
        util::flash_38_interaction_cost(&done["usage"])
    ));
    let (_, input, _, cost, _) = trace_row(&gw, &second);
    assert_eq!((input, cost), (None, Some(0.0)));
    let llm = llm_span(&gw, &second);
    assert_eq!(llm["gateway.interaction.already_metered"], true);
    assert_eq!(llm["gen_ai.operation.name"], "fetch_response");
}

fn gemini_body(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

/// Standard cost of a generateContent usage at gemini-3.8-flash's 2026 rates.
fn gen_cost(u: &Value, input_rate: f64, output_rate: f64) -> f64 {
    // Tool-use prompt tokens (grounding results fed back) are billed as input.
    let p = u["promptTokenCount"].as_f64().unwrap_or(0.0)
        + u["toolUsePromptTokenCount"].as_f64().unwrap_or(0.0);
    let o = u["candidatesTokenCount"].as_f64().unwrap_or(0.0)
        + u["thoughtsTokenCount"].as_f64().unwrap_or(0.0);
    (p * input_rate + o * output_rate) / 1e6
}

#[test]
fn compressed_answers_reach_the_client_intact_and_are_metered() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    for (encoding, path) in [
        ("gzip", "/v1beta/models/gemini-3.8-flash:generateContent"),
        ("br", "/v1beta/models/gemini-3.8-flash:generateContent"),
        ("zstd", "/v1beta/models/gemini-3.8-flash:generateContent"),
        ("deflate", "/v1beta/models/gemini-3.8-flash:generateContent"),
        (
            "gzip",
            "/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse",
        ),
    ] {
        let mut r = client()
            .post(gw.url(path))
            .header("x-goog-api-key", KEY)
            .header("accept-encoding", encoding)
            .header("x-fake-encoding", encoding)
            .body(gemini_body("please compress this answer").to_string())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-encoding"],
            encoding,
            "passed through untouched"
        );
        let id = trace_id(&r);
        let mut raw = Vec::new();
        r.read_to_end(&mut raw).unwrap();
        let plain = decode(encoding, &raw);
        let text = String::from_utf8(plain).unwrap();
        let last_usage: Value = text
            .lines()
            .rev()
            .map(|l| l.strip_prefix("data: ").unwrap_or(l))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| v.get("usageMetadata").cloned())
            .unwrap_or_else(|| {
                serde_json::from_str::<Value>(&text).unwrap()["usageMetadata"].clone()
            });
        let (_, input, _, cost, unpriced) = trace_row(&gw, &id);
        assert_eq!(
            input,
            last_usage["promptTokenCount"].as_i64(),
            "{encoding} {path}"
        );
        assert!(!unpriced);
        assert!(
            close(cost.unwrap(), util::flash_38_cost(&last_usage)),
            "{encoding}"
        );
        let conn = Connection::open(&gw.db).unwrap();
        let post = spans_of(&conn, &id)
            .into_iter()
            .find(|s| s.2["gateway.step"] == "post_processing")
            .unwrap();
        assert_eq!(post.2["gateway.response.content_encoding"], encoding);
    }
}

fn decode(encoding: &str, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(raw)
            .read_to_end(&mut out)
            .unwrap(),
        "deflate" => flate2::read::ZlibDecoder::new(raw)
            .read_to_end(&mut out)
            .unwrap(),
        "br" => brotli_decompressor::Decompressor::new(raw, 4096)
            .read_to_end(&mut out)
            .unwrap(),
        "zstd" => zstd::stream::read::Decoder::new(raw)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap(),
        _ => unreachable!(),
    };
    out
}

#[test]
fn a_decompression_bomb_costs_a_counted_truncation_only() {
    // A tiny upstream that answers one gzip bomb: 64 MiB of spaces in ~64 KiB.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&chunk).unwrap();
    }
    let bomb = enc.finish().unwrap();
    let served = bomb.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                served.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&served).unwrap();
        }
    });
    let gw = Gateway::start(&format!("http://{addr}"), "max_parse_bytes = 1048576", "");
    let mut r = client()
        .post(gw.url("/v1beta/models/gemini-3.8-flash:generateContent"))
        .header("x-goog-api-key", KEY)
        .body(gemini_body("x").to_string())
        .send()
        .unwrap();
    let id = trace_id(&r);
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert_eq!(got, bomb, "the client gets the exact bytes");
    let (_, input, _, cost, unpriced) = trace_row(&gw, &id);
    assert_eq!((input, cost), (None, None));
    assert!(unpriced, "no usage read: flagged, never $0");
    let conn = Connection::open(&gw.db).unwrap();
    let post = spans_of(&conn, &id)
        .into_iter()
        .find(|s| s.2["gateway.step"] == "post_processing")
        .unwrap();
    assert!(
        post.2["gateway.response.decode_error"]
            .as_str()
            .unwrap()
            .contains("exceeds")
    );
}

#[test]
fn tiers_routing_embeddings_and_grounding_are_priced_by_what_served() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let path = "/v1beta/models/gemini-3.8-flash:generateContent";
    let text = "the same prompt for every tier here";

    let standard = post(&gw, path, &gemini_body(text));
    let std_id = trace_id(&standard);
    let std_usage = standard.json::<Value>().unwrap()["usageMetadata"].clone();
    let mut flex_body = gemini_body(text);
    flex_body["serviceTier"] = json!("flex");
    let flex = post(&gw, path, &flex_body);
    assert_eq!(flex.headers()["x-gemini-service-tier"], "flex");
    let flex_id = trace_id(&flex);
    let std_cost = trace_row(&gw, &std_id).3.unwrap();
    let flex_cost = trace_row(&gw, &flex_id).3.unwrap();
    assert!(close(std_cost, util::flash_38_cost(&std_usage)));
    assert!(
        close(flex_cost, std_cost / 2.0),
        "flex is half: {flex_cost} vs {std_cost}"
    );
    assert_eq!(llm_span(&gw, &flex_id)["gateway.service_tier"], "flex");

    // A priority request served at standard is priced standard and marked downgraded.
    let mut prio = gemini_body(text);
    prio["serviceTier"] = json!("priority");
    let r = client()
        .post(gw.url("/v1beta/models/gemini-3.5-flash-lite:generateContent"))
        .header("x-goog-api-key", KEY)
        .header("x-fake-tier-downgrade", "1")
        .body(prio.to_string())
        .send()
        .unwrap();
    let prio_id = trace_id(&r);
    let u = r.json::<Value>().unwrap()["usageMetadata"].clone();
    assert!(close(
        trace_row(&gw, &prio_id).3.unwrap(),
        gen_cost(&u, 0.30, 2.50)
    ));
    let root_attrs = |id: &str| {
        let conn = Connection::open(&gw.db).unwrap();
        spans_of(&conn, id)
            .into_iter()
            .find(|s| s.1 == "server")
            .unwrap()
            .2
    };
    assert_eq!(
        root_attrs(&prio_id)["gateway.service_tier.downgraded"],
        true
    );

    // 3.7 is answered by 3.8: priced by what served, the request kept, the routing recorded.
    let r = post(
        &gw,
        "/v1beta/models/gemini-3.7-flash:generateContent",
        &gemini_body(text),
    );
    let routed = trace_id(&r);
    let body: Value = r.json().unwrap();
    assert_eq!(body["modelVersion"], "gemini-3.8-flash");
    let llm = llm_span(&gw, &routed);
    assert_eq!(llm["gen_ai.request.model"], "gemini-3.7-flash");
    assert_eq!(llm["gen_ai.response.model"], "gemini-3.8-flash");
    assert_eq!(llm["gateway.model.routed"], true);
    assert!(close(
        trace_row(&gw, &routed).3.unwrap(),
        util::flash_38_cost(&body["usageMetadata"])
    ));

    // Embeddings report usage now: metered at the input rate ($0.20 for gemini-embedding-2).
    let r = post(
        &gw,
        "/v1beta/models/gemini-embedding-2:embedContent",
        &json!({"content": {"parts": [{"text": "embed these five words"}]}}),
    );
    let emb = trace_id(&r);
    let body: Value = r.json().unwrap();
    let p = body["usageMetadata"]["promptTokenCount"].as_f64().unwrap();
    let (_, input, _, cost, _) = trace_row(&gw, &emb);
    assert_eq!(input, Some(p as i64));
    assert!(close(cost.unwrap(), p * 0.20 / 1e6));

    // Grounding: 3.x bills each executed non-empty query at $14 per 1,000.
    let mut grounded = gemini_body(text);
    grounded["tools"] = json!([{"googleSearch": {}}]);
    let r = post(&gw, path, &grounded);
    let g = trace_id(&r);
    let body: Value = r.json().unwrap();
    let queries = body["candidates"][0]["groundingMetadata"]["webSearchQueries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| !q.as_str().unwrap().trim().is_empty())
        .count() as f64;
    assert!(queries >= 1.0);
    let expected = util::flash_38_cost(&body["usageMetadata"]) + queries * 14.0 / 1000.0;
    assert!(close(trace_row(&gw, &g).3.unwrap(), expected));
}

#[test]
fn usage_on_an_unknown_path_is_flagged_and_counted() {
    let upstream = canned_upstream(
        r#"{"result":"ok","usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":3,"totalTokenCount":15}}"#,
        1,
    );
    let gw = Gateway::start(&upstream, "", "");
    let r = post(&gw, "/v1beta/newSurface:doSomething", &json!({}));
    assert_eq!(r.status(), 200);
    let id = trace_id(&r);
    let (_, input, _, cost, unpriced) = trace_row(&gw, &id);
    assert_eq!((input, cost, unpriced), (Some(12), None, true));
    assert_eq!(llm_span(&gw, &id)["gateway.metering"], "unknown");
}

/// A gateway in front of `upstream` whose wall clock (not its monotonic clock) libfaketime
/// moves to `at`. It is preloaded through `env`, which execs the gateway in place: the process
/// the test stops is the gateway itself (the `faketime` wrapper would fork it and leave it
/// running).
fn gateway_at(upstream: &str, at: &str) -> Gateway {
    let lib = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"]
        .into_iter()
        .chain(["/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"])
        .find(|p| std::path::Path::new(p).exists())
        .expect("libfaketime is required (scripts/setup.sh installs the faketime package)");
    let preload = format!("LD_PRELOAD={lib}");
    let faketime = format!("FAKETIME=@{at}");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    Gateway::start_wrapped(
        dir,
        db,
        upstream,
        "",
        "linger_ms = 5",
        "",
        &["env", &preload, &faketime, "FAKETIME_DONT_FAKE_MONOTONIC=1"],
    )
}

#[test]
fn a_gateway_whose_clock_is_past_2027_uses_the_new_rate() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = gateway_at(&fake.base_url(), "2027-01-02 00:00:00");
    let r = post(
        &gw,
        "/v1beta/models/gemini-3.8-flash:generateContent",
        &gemini_body("the new year"),
    );
    let id = trace_id(&r);
    let u = r.json::<Value>().unwrap()["usageMetadata"].clone();
    let (_, _, _, cost, _) = trace_row(&gw, &id);
    // $1.50 in / $7.50 out from 2027-01-01 (twice the 2026 rates).
    assert!(close(cost.unwrap(), gen_cost(&u, 1.50, 7.50)), "{cost:?}");
    let conn = Connection::open(&gw.db).unwrap();
    let post = spans_of(&conn, &id)
        .into_iter()
        .find(|s| s.2["gateway.step"] == "post_processing")
        .unwrap();
    assert_eq!(post.2["gateway.cost.effective_from"], "2027-01-01");
}

/// An upstream on loopback that answers each request with the JSON body of the first route
/// whose path fragment its request line holds (404 when none does).
fn routed_upstream(routes: Vec<(&'static str, String)>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 65536];
            let n = s.read(&mut buf).unwrap_or(0);
            let line = String::from_utf8_lossy(&buf[..n]);
            let line = line.lines().next().unwrap_or("");
            let (status, body) = routes
                .iter()
                .find(|(path, _)| line.contains(path))
                .map_or(("404 Not Found", "{}".to_owned()), |(_, b)| {
                    ("200 OK", b.clone())
                });
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body.as_bytes());
        }
    });
    format!("http://{addr}")
}

/// Work metered on a later poll (a background interaction, a batch job) is priced on the day
/// it was made, which its answer states (`created`, `createTime`), not on the day of the poll:
/// polled on 2027-01-02, what was made on 2026-12-31 takes the 2026 rates of
/// gemini-3.8-flash ($0.75 / $3.75), and what was made on 2027-01-01 the new ones.
#[test]
fn deferred_work_is_priced_on_the_day_it_was_made() {
    let interaction = |id: &str, created: &str| {
        json!({"id": id, "status": "completed", "model": "gemini-3.8-flash", "created": created,
               "usage": {"total_input_tokens": 1000, "total_output_tokens": 100,
                         "total_tokens": 1100}})
        .to_string()
    };
    let batch = |name: &str, created: &str| {
        json!({"name": name, "done": true,
               "metadata": {"model": "models/gemini-3.8-flash", "state": "BATCH_STATE_SUCCEEDED",
                            "createTime": created,
                            "output": {"inlinedResponses": {"inlinedResponses": [{"response": {
                                "candidates": [{"content": {"parts": [{"text": "ok"}],
                                                            "role": "model"},
                                                "finishReason": "STOP"}],
                                "usageMetadata": {"promptTokenCount": 2000,
                                                  "candidatesTokenCount": 400,
                                                  "totalTokenCount": 2400},
                                "modelVersion": "gemini-3.8-flash"}}]}}}})
        .to_string()
    };
    let upstream = routed_upstream(vec![
        (
            "/interactions/old ",
            interaction("old", "2026-12-31T23:00:00Z"),
        ),
        (
            "/interactions/new ",
            interaction("new", "2027-01-01T10:00:00Z"),
        ),
        (
            "/batches/old ",
            batch("batches/old", "2026-12-31T23:00:00Z"),
        ),
        (
            "/batches/new ",
            batch("batches/new", "2027-01-01T10:00:00Z"),
        ),
    ]);
    let gw = gateway_at(&upstream, "2027-01-02 00:00:00");
    let get = |path: &str| {
        let r = client()
            .get(gw.url(path))
            .header("x-goog-api-key", KEY)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        trace_id(&r)
    };
    let cases = [
        ("/v1beta/interactions/old", 1000.0 * 0.75 + 100.0 * 3.75),
        ("/v1beta/interactions/new", 1000.0 * 1.50 + 100.0 * 7.50),
        // Batch: 50% of standard.
        ("/v1beta/batches/old", 0.5 * (2000.0 * 0.75 + 400.0 * 3.75)),
        ("/v1beta/batches/new", 0.5 * (2000.0 * 1.50 + 400.0 * 7.50)),
    ];
    for (path, micro_usd) in cases {
        let id = get(path);
        let (model, _, _, cost, unpriced) = trace_row(&gw, &id);
        assert_eq!(model.as_deref(), Some("gemini-3.8-flash"), "{path}");
        assert!(!unpriced, "{path}");
        let want = micro_usd / 1e6;
        assert!(close(cost.unwrap(), want), "{path}: {cost:?} vs {want}");
    }
}

/// A one-shot upstream on loopback that answers `body` as JSON to every request.
fn canned_upstream(body: &'static str, answers: usize) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(answers) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(body.as_bytes()).unwrap();
        }
    });
    format!("http://{addr}")
}

#[test]
fn an_overflowing_usage_is_flagged_not_priced() {
    let upstream = canned_upstream(
        r#"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],
            "usageMetadata":{"promptTokenCount":18446744073709551615,"candidatesTokenCount":1,
            "totalTokenCount":18446744073709551615},"modelVersion":"gemini-3.8-flash"}"#,
        1,
    );
    let gw = Gateway::start(&upstream, "", "");
    let r = post(
        &gw,
        "/v1beta/models/gemini-3.8-flash:generateContent",
        &gemini_body("x"),
    );
    assert_eq!(r.status(), 200);
    let id = trace_id(&r);
    let (_, input, output, cost, unpriced) = trace_row(&gw, &id);
    assert_eq!((input, output, cost, unpriced), (None, None, None, true));
    let conn = Connection::open(&gw.db).unwrap();
    let post = spans_of(&conn, &id)
        .into_iter()
        .find(|s| s.2["gateway.step"] == "post_processing")
        .unwrap();
    assert!(
        post.2["gateway.response.parse_error"]
            .as_str()
            .unwrap()
            .contains("implausible usage")
    );
}

#[test]
fn a_flood_of_property_headers_never_evicts_cost_or_usage() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let mut req = client()
        .post(gw.url("/v1beta/models/gemini-3.8-flash:generateContent"))
        .header("x-goog-api-key", KEY);
    for i in 0..200 {
        req = req.header(format!("x-gateway-property-p{i:03}"), "v".repeat(2000));
    }
    let r = req
        .body(gemini_body("count me").to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = trace_id(&r);
    let u = r.json::<Value>().unwrap()["usageMetadata"].clone();
    let (_, input, _, cost, unpriced) = trace_row(&gw, &id);
    assert!(!unpriced);
    assert_eq!(input, u["promptTokenCount"].as_i64());
    assert!(close(cost.unwrap(), util::flash_38_cost(&u)));
    let conn = Connection::open(&gw.db).unwrap();
    let root = spans_of(&conn, &id)
        .into_iter()
        .find(|s| s.1 == "server")
        .unwrap()
        .2;
    assert_eq!(root["gateway.property.dropped"], 136);
    let kept = root["gateway.property.p000"].as_str().unwrap();
    assert_eq!(kept.len(), 1024 + "…".len(), "cut at 1 KiB and marked");
    assert!(kept.ends_with('…'));
    assert!(root.get("gateway.property.p063").is_some());
    assert!(root.get("gateway.property.p064").is_none());
}

#[test]
fn a_stream_answered_with_an_error_has_no_time_to_first_chunk() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let r = client()
        .post(gw.url("/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse"))
        .header("x-goog-api-key", KEY)
        .header("x-fake-status", "429")
        .body(gemini_body("rate limited").to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 429);
    let id = trace_id(&r);
    let ok = client()
        .post(gw.url("/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse"))
        .header("x-goog-api-key", KEY)
        .body(gemini_body("a real stream").to_string())
        .send()
        .unwrap();
    let ok_id = trace_id(&ok);
    drop(ok.text().unwrap());
    trace_row(&gw, &id);
    trace_row(&gw, &ok_id);
    let conn = Connection::open(&gw.db).unwrap();
    let ttft = |id: &str| -> Option<f64> {
        conn.query_row(
            "SELECT ttft_ms FROM traces WHERE trace_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(ttft(&id), None, "an error body is not a first chunk");
    assert!(ttft(&ok_id).is_some_and(|t| t >= 0.0));
    let llm = llm_span(&gw, &ok_id);
    assert!(llm["gen_ai.response.time_to_first_chunk"].is_number());
}

/// Image output is billed at the model's image-output rate, apart from its text: the answer's
/// `candidatesTokensDetails` splits the candidates, and gemini-3.1-flash-image charges $0.50 in,
/// $3.00 per 1M text (and thinking) out and $60.00 per 1M image out.
#[test]
fn image_output_is_priced_at_the_image_rate() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let r = post(
        &gw,
        "/v1beta/models/gemini-3.1-flash-image:generateContent",
        &json!({"contents": [{"role": "user", "parts": [{"text": "draw a red circle"}]}],
                "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}),
    );
    assert_eq!(r.status(), 200);
    let id = trace_id(&r);
    let answer: Value = r.json().unwrap();
    let u = &answer["usageMetadata"];
    let n = |k: &str| u[k].as_f64().unwrap_or(0.0);
    let image = u["candidatesTokensDetails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["modality"] == "IMAGE")
        .map(|d| d["tokenCount"].as_f64().unwrap())
        .sum::<f64>();
    assert!(image > 0.0, "{answer}");
    let text = n("candidatesTokenCount") - image + n("thoughtsTokenCount");
    let expected = (n("promptTokenCount") * 0.50 + text * 3.00 + image * 60.00) / 1e6;
    let (model, _, output, cost, unpriced) = trace_row(&gw, &id);
    assert_eq!(model.as_deref(), Some("gemini-3.1-flash-image"));
    assert!(!unpriced);
    assert_eq!(
        output,
        Some((n("candidatesTokenCount") + n("thoughtsTokenCount")) as i64)
    );
    assert!(close(cost.unwrap(), expected), "{cost:?} vs {expected}");
    assert_eq!(
        llm_span(&gw, &id)["gen_ai.usage.image.output_tokens"],
        image as i64
    );
}

/// The `data:` events of an Interactions stream, `[DONE]` left out.
fn stream_events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// A background interaction followed as a stream (`GET …?stream=true`) is metered once, from
/// its final usage; a stream resumed after an event (`last_event_id`) repeats that usage and is
/// free, so the traces add up to one interaction.
#[test]
fn a_resumed_interaction_stream_is_metered_once() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let r = post(
        &gw,
        "/v1beta/interactions",
        &json!({"model": "gemini-3.8-flash", "input": "plan a long trip by train",
                "background": true}),
    );
    assert_eq!(r.status(), 200);
    let create = trace_id(&r);
    let created: Value = r.json().unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "in_progress");
    let follow = |query: &str| {
        let r = client()
            .get(gw.url(&format!("/v1beta/interactions/{id}?{query}")))
            .header("x-goog-api-key", KEY)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        (trace_id(&r), stream_events(&r.text().unwrap()))
    };
    let (first, events) = follow("stream=true");
    let done = events.last().unwrap();
    assert_eq!(done["event_type"], "interaction.completed", "{events:?}");
    let usage = &done["interaction"]["usage"];
    assert!(usage["total_output_tokens"].as_u64().unwrap() > 0);
    let (resumed, rest) = follow("stream=true&last_event_id=3");
    assert_eq!(rest[0]["event_id"], "4");
    assert_eq!(rest.len(), events.len() - 3);
    assert_eq!(rest.last().unwrap()["interaction"]["usage"], *usage);

    let (_, _, _, create_cost, _) = trace_row(&gw, &create);
    assert_eq!(create_cost, None, "the create is deferred");
    let (_, input, _, cost, unpriced) = trace_row(&gw, &first);
    assert!(!unpriced);
    assert_eq!(input, usage["total_input_tokens"].as_i64());
    assert!(
        close(cost.unwrap(), util::flash_38_interaction_cost(usage)),
        "{cost:?}"
    );
    let (_, input, _, cost, _) = trace_row(&gw, &resumed);
    assert_eq!((input, cost), (None, Some(0.0)));
    assert_eq!(
        llm_span(&gw, &resumed)["gateway.interaction.already_metered"],
        true
    );
}

/// An Interactions stream that fails midway ends with an `error` event: the client gets every
/// event as sent, and the trace is an error named by the event's code, with the usage the
/// stream had reported before it and no cost (failed calls are not billed).
#[test]
fn an_interactions_stream_ending_in_an_error_event_is_an_error() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let r = client()
        .post(gw.url("/v1beta/interactions"))
        .header("x-goog-api-key", KEY)
        .header("content-type", "application/json")
        .header("x-fake-fault", "error-mid-stream")
        .body(
            json!({"model": "gemini-3.8-flash", "input": "tell a long story", "stream": true})
                .to_string(),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = trace_id(&r);
    let events = stream_events(&r.text().unwrap());
    let error = events.last().unwrap();
    assert_eq!(error["event_type"], "error", "{events:?}");
    let usage = events
        .iter()
        .rev()
        .find_map(|e| e["metadata"].get("total_usage"))
        .expect("usage before the error");
    let conn = Connection::open(&gw.db).unwrap();
    let row = gw.wait_traces(1);
    drop(row);
    let (status, error_type, input, cost): (String, Option<String>, Option<i64>, Option<f64>) =
        conn.query_row(
            "SELECT status, error_type, input_tokens, cost_usd FROM traces WHERE trace_id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(status, "error");
    assert_eq!(error_type.as_deref(), error["error"]["code"].as_str());
    assert_eq!(input, usage["total_input_tokens"].as_i64());
    assert_eq!(cost, Some(0.0));
}

/// An interaction cut at its output budget ends `incomplete`: the tokens it did produce are
/// billed, and the trace says why it stopped (finish reason `length`).
#[test]
fn an_incomplete_interaction_is_billed_for_what_it_produced() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let r = post(
        &gw,
        "/v1beta/interactions",
        &json!({"model": "gemini-3.8-flash", "input": "describe every station on the line",
                "generation_config": {"max_output_tokens": 2}}),
    );
    assert_eq!(r.status(), 200);
    let id = trace_id(&r);
    let body: Value = r.json().unwrap();
    assert_eq!(body["status"], "incomplete", "{body}");
    let usage = &body["usage"];
    assert_eq!(usage["total_output_tokens"], 2);
    let (_, _, output, cost, unpriced) = trace_row(&gw, &id);
    assert!(!unpriced);
    assert_eq!(
        output,
        Some(2 + usage["total_thought_tokens"].as_i64().unwrap())
    );
    assert!(
        close(cost.unwrap(), util::flash_38_interaction_cost(usage)),
        "{cost:?}"
    );
    let llm = llm_span(&gw, &id);
    assert_eq!(llm["gateway.interaction.status"], "incomplete");
    assert_eq!(llm["gen_ai.response.finish_reasons"], json!(["length"]));
}

/// A unary answer, or the only event of an SSE stream.
fn only_answer(text: &str) -> Value {
    match text.strip_prefix("data: ") {
        Some(event) => serde_json::from_str(event.trim()).unwrap(),
        None => serde_json::from_str(text).unwrap(),
    }
}

/// A thinking model whose output budget went to thinking answers with no text, no
/// `candidatesTokenCount` and finish reason `MAX_TOKENS`: the thoughts are still billed as
/// output, unary and streamed alike.
#[test]
fn an_answer_with_nothing_generated_bills_its_thoughts() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "think hard"}]}],
                      "generationConfig": {"maxOutputTokens": 5}});
    for path in [
        "/v1beta/models/gemini-3.8-flash:generateContent",
        "/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse",
    ] {
        let r = post(&gw, path, &body);
        assert_eq!(r.status(), 200);
        let id = trace_id(&r);
        let answer = only_answer(&r.text().unwrap());
        let u = &answer["usageMetadata"];
        assert!(u.get("candidatesTokenCount").is_none(), "{answer}");
        assert_eq!(u["thoughtsTokenCount"], 5, "{answer}");
        assert_eq!(answer["candidates"][0]["finishReason"], "MAX_TOKENS");
        let (_, _, output, cost, unpriced) = trace_row(&gw, &id);
        assert!(!unpriced, "{path}");
        assert_eq!(output, Some(5), "{path}");
        assert!(
            close(cost.unwrap(), util::flash_38_cost(u)),
            "{path}: {cost:?}"
        );
        assert_eq!(
            llm_span(&gw, &id)["gen_ai.response.finish_reasons"],
            json!(["MAX_TOKENS"]),
            "{path}"
        );
    }
}

/// A blocked prompt (HTTP 200, no candidates, `promptFeedback.blockReason`, the prompt's usage)
/// is passed through unchanged, billed for its prompt as the usage says, and recorded with its
/// block reason as the finish reason, not as a missing one (`error`), unary and streamed.
#[test]
fn a_blocked_prompt_is_recorded_with_its_reason_and_billed_for_its_prompt() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "something unsafe"}]}]});
    for (path, reason) in [
        ("/v1beta/models/gemini-3.8-flash:generateContent", "SAFETY"),
        (
            "/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse",
            "PROHIBITED_CONTENT",
        ),
    ] {
        let r = client()
            .post(gw.url(path))
            .header("x-goog-api-key", KEY)
            .header("content-type", "application/json")
            .header("x-fake-block-reason", reason)
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let id = trace_id(&r);
        let answer = only_answer(&r.text().unwrap());
        assert!(answer.get("candidates").is_none(), "{answer}");
        assert_eq!(answer["promptFeedback"]["blockReason"], reason, "{answer}");
        let u = &answer["usageMetadata"];
        assert!(u.get("candidatesTokenCount").is_none(), "{answer}");
        let (model, input, output, cost, unpriced) = trace_row(&gw, &id);
        assert!(!unpriced, "{path}");
        assert_eq!(model.as_deref(), Some("gemini-3.8-flash"));
        assert_eq!(input, u["promptTokenCount"].as_i64(), "{path}");
        assert_eq!(output, Some(0), "{path}");
        assert!(
            close(cost.unwrap(), util::flash_38_cost(u)),
            "{path}: {cost:?}"
        );
        let llm = llm_span(&gw, &id);
        assert_eq!(
            llm["gen_ai.response.finish_reasons"],
            json!([reason]),
            "{path}"
        );
        assert_eq!(llm["gateway.response.block_reason"], reason, "{path}");
    }
}
