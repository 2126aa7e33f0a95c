//! End-to-end tests of the real `gateway` binary in front of the fake Gemini upstream.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::io::Read;
use util::{Gateway, client, file_contains, read_until, spans_of, step};

const KEY: &str = "AIzaTEST-secret-key-0123456789";

fn gen_body(text: &str) -> String {
    serde_json::json!({
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "generationConfig": {"temperature": 0.25, "maxOutputTokens": 64, "topK": 5}
    })
    .to_string()
}

#[test]
fn generate_is_transparent_and_traced() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let body = gen_body("one two three four");
    let resp = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash:generateContent"))
        .header("x-goog-api-key", KEY)
        .header("x-gateway-user-id", "u-1")
        .header("x-gateway-session-id", "s-1")
        .header("x-gateway-property-team", "search")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let trace_id = util::trace_id(&resp);
    assert_eq!(trace_id.len(), 32);
    let json: serde_json::Value = resp.json().unwrap();
    let usage = json["usageMetadata"].clone();

    // The upstream saw the same bytes, the key, its own Host, and no attribution headers.
    let seen = fake.requests().pop().unwrap();
    assert_eq!(seen.body.as_ref(), body.as_bytes());
    let header = |n: &str| {
        seen.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-goog-api-key").as_deref(), Some(KEY));
    assert_eq!(
        header("host"),
        Some(fake.base_url().trim_start_matches("http://").to_owned())
    );
    assert!(
        seen.headers
            .iter()
            .all(|(k, _)| !k.starts_with("x-gateway-"))
    );

    let conn = gw.wait_traces(1);
    gw.stop();
    let spans = spans_of(&conn, &trace_id);
    assert_eq!(spans.len(), 4, "root + three steps: {spans:?}");
    let root = spans.iter().find(|s| s.4.is_none()).unwrap();
    assert_eq!(root.1, "server");
    let llm = spans
        .iter()
        .find(|s| s.2["gateway.step"] == "llm_call")
        .unwrap();
    assert_eq!(llm.0, "generate_content gemini-2.5-flash");
    assert_eq!(llm.1, "client");
    assert_eq!(llm.2["gen_ai.provider.name"], "gcp.gemini");
    assert_eq!(llm.2["http.response.status_code"], 200);
    let prompt = step(&spans, "prompt_construction");
    assert_eq!(prompt["gen_ai.request.temperature"], 0.25);
    assert_eq!(prompt["gen_ai.request.max_tokens"], 64);
    assert_eq!(prompt["gateway.request.system_instruction"], true);
    assert!(
        prompt.get("gen_ai.input.messages").is_none(),
        "capture is off by default"
    );
    let call = step(&spans, "llm_call");
    let prompt_tokens = usage["promptTokenCount"].as_i64().unwrap();
    let output = usage["candidatesTokenCount"].as_i64().unwrap()
        + usage["thoughtsTokenCount"].as_i64().unwrap_or(0);
    assert_eq!(call["gen_ai.usage.input_tokens"], prompt_tokens);
    assert_eq!(call["gen_ai.usage.output_tokens"], output);
    assert_eq!(call["gen_ai.response.id"], json["responseId"]);
    assert_eq!(call["gen_ai.response.finish_reasons"][0], "STOP");
    // post_processing holds what it adds, not the call's usage again; its metric values are
    // `metric_snapshots` rows, not stored events.
    let post = step(&spans, "post_processing");
    assert!(post.get("gen_ai.usage.input_tokens").is_none(), "{post}");
    assert!(post.get("gen_ai.response.id").is_none(), "{post}");
    assert_eq!(
        post["gateway.usage.total_tokens"],
        usage["totalTokenCount"].as_i64().unwrap()
    );
    let (events, rows): (String, i64) = conn
        .query_row(
            "SELECT s.events, (SELECT COUNT(*) FROM metric_snapshots AS m
                 WHERE m.trace_id = s.trace_id AND m.span_id = s.span_id)
             FROM spans AS s WHERE s.trace_id = ?1 AND s.name = 'post_processing'",
            [&trace_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((events.as_str(), rows), ("[]", 2));

    let (user, session, status, input, model): (String, String, String, i64, String) = conn
        .query_row(
            "SELECT user_id, session_id, status, input_tokens, model FROM traces WHERE trace_id = ?1",
            [&trace_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        (user.as_str(), session.as_str(), status.as_str()),
        ("u-1", "s-1", "ok")
    );
    assert_eq!((input, model.as_str()), (prompt_tokens, "gemini-2.5-flash"));
    let ttft: Option<f64> = conn
        .query_row(
            "SELECT ttft_ms FROM traces WHERE trace_id = ?1",
            [&trace_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ttft, None, "time to first chunk is for streamed calls only");
    assert!(llm.2.get("gen_ai.response.time_to_first_chunk").is_none());
    let root_attrs = &root.2;
    assert_eq!(root_attrs["gateway.property.team"], "search");
    assert!(!file_contains(&gw.db, KEY.as_bytes()));
}

#[test]
fn sse_stream_is_not_buffered_and_usage_is_the_last_chunk() {
    let fake = spawn_in_thread(FakeConfig {
        chunks: 4,
        ..FakeConfig::default()
    });
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let mut resp = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent?alt=sse"))
        .header("x-goog-api-key", KEY)
        .header("x-fake-hold", "first")
        .body(gen_body("alpha beta gamma"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let trace_id = util::trace_id(&resp);
    // The upstream holds the rest of the stream until we have the first event: a buffering
    // proxy would never deliver it and this read would time out.
    let first = read_until(&mut resp, b"\r\n\r\n");
    assert!(first.starts_with(b"data: "));
    fake.release("first");
    let mut rest = Vec::new();
    resp.read_to_end(&mut rest).unwrap();
    let all = [first, rest].concat();
    let text = String::from_utf8(all).unwrap();
    let events: Vec<&str> = text.split("\r\n\r\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 4);
    let last: serde_json::Value =
        serde_json::from_str(events[3].trim_start_matches("data: ")).unwrap();

    let conn = gw.wait_traces(1);
    gw.stop();
    let (input, output, stream, ttft): (i64, i64, i64, Option<f64>) = conn
        .query_row(
            "SELECT input_tokens, output_tokens, stream, ttft_ms FROM traces WHERE trace_id = ?1",
            [&trace_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let u = &last["usageMetadata"];
    assert_eq!(input, u["promptTokenCount"].as_i64().unwrap());
    assert_eq!(
        output,
        u["candidatesTokenCount"].as_i64().unwrap() + u["thoughtsTokenCount"].as_i64().unwrap_or(0)
    );
    assert_eq!(stream, 1);
    assert!(ttft.is_some());
    let spans = spans_of(&conn, &trace_id);
    assert_eq!(
        step(&spans, "post_processing")["gateway.response.chunks"],
        4
    );
    assert!(step(&spans, "llm_call")["gen_ai.response.time_to_first_chunk"].is_number());
}

#[test]
fn json_array_stream_reads_the_final_usage() {
    let fake = spawn_in_thread(FakeConfig {
        chunks: 3,
        ..FakeConfig::default()
    });
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let resp = client()
        .post(gw.url("/v1beta/models/gemini-2.5-pro:streamGenerateContent"))
        .header("x-goog-api-key", KEY)
        .body(gen_body("a b c d e f"))
        .send()
        .unwrap();
    let trace_id = util::trace_id(&resp);
    let arr: Vec<serde_json::Value> = resp.json().unwrap();
    let last = &arr.last().unwrap()["usageMetadata"];
    let conn = gw.wait_traces(1);
    gw.stop();
    let (input, reasoning): (i64, i64) = conn
        .query_row(
            "SELECT input_tokens, reasoning_tokens FROM traces WHERE trace_id = ?1",
            [&trace_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(input, last["promptTokenCount"].as_i64().unwrap());
    assert_eq!(reasoning, last["thoughtsTokenCount"].as_i64().unwrap());
}

#[test]
fn traceparent_is_joined_and_key_in_query_is_redacted() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let resp = client()
        .post(gw.url(&format!(
            "/v1beta/models/gemini-2.5-flash-lite:generateContent?key={KEY}"
        )))
        .header(
            "traceparent",
            format!("00-{parent_trace}-00f067aa0ba902b7-01"),
        )
        .body(gen_body("hi"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-gateway-trace-id"], parent_trace);
    let seen = fake.requests().pop().unwrap();
    assert!(
        seen.query.unwrap_or_default().contains(KEY),
        "the key goes upstream untouched"
    );
    let conn = gw.wait_traces(1);
    gw.stop();
    let spans = spans_of(&conn, parent_trace);
    let root = spans.iter().find(|s| s.1 == "server").unwrap();
    assert_eq!(root.4.as_deref(), Some("00f067aa0ba902b7"));
    assert_eq!(root.2["url.query"], "key=REDACTED");
    for f in ["gateway.db", "gateway.db-wal", "gateway.log"] {
        assert!(
            !file_contains(&gw.dir.path().join(f), KEY.as_bytes()),
            "key found in {f}"
        );
    }
}

#[test]
fn malformed_json_and_unknown_paths_are_forwarded() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let bad = "{\"contents\": [ oops";
    let resp = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
        .header("x-goog-api-key", KEY)
        .body(bad)
        .send()
        .unwrap();
    assert_eq!(
        resp.status(),
        400,
        "Gemini judges the body, not the gateway"
    );
    let t1 = util::trace_id(&resp);
    assert_eq!(fake.requests().pop().unwrap().body.as_ref(), bad.as_bytes());

    let resp = client()
        .get(gw.url("/v1beta/somethingNew/abc"))
        .header("x-goog-api-key", KEY)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 404);
    let t2 = util::trace_id(&resp);
    let conn = gw.wait_traces(2);
    gw.stop();
    let spans = spans_of(&conn, &t1);
    assert!(
        step(&spans, "prompt_construction")["gateway.request.parse_error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let (status, http): (String, i64) = conn
        .query_row(
            "SELECT status, http_status FROM traces WHERE trace_id = ?1",
            [&t2],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), http), ("error", 404));
    assert_eq!(spans_of(&conn, &t2).len(), 4);
}

#[test]
fn upstream_errors_pass_through_unchanged() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let resp = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
        .header("x-goog-api-key", KEY)
        .header("x-fake-status", "429")
        .body(gen_body("x"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 429);
    let t = util::trace_id(&resp);
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    let conn = gw.wait_traces(1);
    gw.stop();
    let spans = spans_of(&conn, &t);
    let llm = spans
        .iter()
        .find(|s| s.2["gateway.step"] == "llm_call")
        .unwrap();
    assert_eq!(llm.3, "error");
    assert_eq!(llm.2["error.type"], "429");
}

#[test]
fn upstream_down_gives_gemini_shaped_502() {
    // Bound for the whole test and never listening: connections to it are refused.
    let dead = util::DeadPort::new();
    let mut gw = Gateway::start(&dead.url(), "connect_timeout_ms = 2000", "");
    let resp = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
        .body(gen_body("x"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 502);
    let t = util::trace_id(&resp);
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["error"]["code"], 502);
    assert_eq!(body["error"]["status"], "UNAVAILABLE");
    let conn = gw.wait_traces(1);
    gw.stop();
    let (status, err): (String, String) = conn
        .query_row(
            "SELECT status, error_type FROM traces WHERE trace_id = ?1",
            [&t],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (status.as_str(), err.as_str()),
        ("error", "upstream_unreachable")
    );
}

#[test]
fn upstream_timeout_gives_504() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "read_timeout_ms = 500", "");
    let resp = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
        .header("x-goog-api-key", KEY)
        .header("x-fake-fault", "hang")
        .body(gen_body("x"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 504);
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["error"]["status"], "DEADLINE_EXCEEDED");
    let conn = gw.wait_traces(1);
    gw.stop();
    let err: String = conn
        .query_row("SELECT error_type FROM traces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(err, "timeout");
}

#[test]
fn reset_mid_stream_is_recorded() {
    let fake = spawn_in_thread(FakeConfig {
        chunks: 5,
        ..FakeConfig::default()
    });
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let mut resp = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent?alt=sse"))
        .header("x-goog-api-key", KEY)
        .header("x-fake-fault", "reset-mid-stream")
        .body(gen_body("x y"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let t = util::trace_id(&resp);
    let mut sink = Vec::new();
    let read = resp.read_to_end(&mut sink);
    assert!(
        read.is_err(),
        "the client must see the stream break, not a clean end"
    );
    let conn = gw.wait_traces(1);
    gw.stop();
    let (status, err): (String, String) = conn
        .query_row(
            "SELECT status, error_type FROM traces WHERE trace_id = ?1",
            [&t],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), err.as_str()), ("error", "stream_reset"));
}

/// Gemini reports an error in the middle of a stream as an event of its own (`{"error": …}`)
/// under HTTP 200. The client gets the stream as sent; the trace is an error with the
/// error's status, keeps the usage of the last event before it, and costs nothing (failed
/// calls are not billed).
#[test]
fn an_error_event_mid_stream_is_recorded_with_the_usage_before_it() {
    let fake = spawn_in_thread(FakeConfig {
        chunks: 5,
        ..FakeConfig::default()
    });
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let mut traces = Vec::new();
    for (path, sse) in [
        (
            "/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse",
            true,
        ),
        (
            "/v1beta/models/gemini-3.8-flash:streamGenerateContent",
            false,
        ),
    ] {
        let resp = client()
            .post(gw.url(path))
            .header("x-goog-api-key", KEY)
            .header("x-fake-fault", "error-mid-stream")
            .body(gen_body("one two three four five six seven eight"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        let t = util::trace_id(&resp);
        let text = resp.text().unwrap();
        let events: Vec<serde_json::Value> = if sse {
            text.split("\r\n\r\n")
                .filter_map(|e| e.strip_prefix("data: "))
                .map(|d| serde_json::from_str(d).unwrap())
                .collect()
        } else {
            serde_json::from_str(&text).unwrap()
        };
        assert_eq!(events.len(), 3, "{text}");
        assert_eq!(events[2]["error"]["status"], "INTERNAL", "{text}");
        traces.push((t, events[1]["usageMetadata"].clone()));
    }
    let conn = gw.wait_traces(2);
    gw.stop();
    for (t, usage) in traces {
        let row: (
            String,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<f64>,
        ) = conn
            .query_row(
                "SELECT status, error_type, input_tokens, output_tokens, cost_usd FROM traces \
                 WHERE trace_id = ?1",
                [&t],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        let n = |k: &str| usage[k].as_i64().unwrap_or(0);
        assert_eq!(
            row,
            (
                "error".to_owned(),
                Some("INTERNAL".to_owned()),
                Some(n("promptTokenCount")),
                Some(n("candidatesTokenCount") + n("thoughtsTokenCount")),
                Some(0.0)
            )
        );
    }
}

#[test]
fn client_disconnect_mid_stream_is_cancelled() {
    let fake = spawn_in_thread(FakeConfig {
        chunks: 4,
        ..FakeConfig::default()
    });
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let mut resp = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent?alt=sse"))
        .header("x-goog-api-key", KEY)
        .header("x-fake-hold", "gone")
        .body(gen_body("x y"))
        .send()
        .unwrap();
    let t = util::trace_id(&resp);
    read_until(&mut resp, b"\r\n\r\n");
    drop(resp);
    // The upstream stays held: the gateway notices the client left on its own, and the trace
    // is written before anything else can happen to the stream.
    let conn = gw.wait_traces(1);
    fake.release("gone");
    gw.stop();
    let status: String = conn
        .query_row("SELECT status FROM traces WHERE trace_id = ?1", [&t], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(status, "cancelled");
}

#[test]
fn upload_url_points_back_at_the_gateway() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let c = client();
    let start = c
        .post(gw.url("/upload/v1beta/files"))
        .header("x-goog-api-key", KEY)
        .header("x-goog-upload-protocol", "resumable")
        .header("x-goog-upload-command", "start")
        .header("x-goog-upload-header-content-length", "11")
        .header("x-goog-upload-header-content-type", "text/plain")
        .body(r#"{"file":{"displayName":"notes"}}"#)
        .send()
        .unwrap();
    assert_eq!(start.status(), 200);
    let url = start.headers()["x-goog-upload-url"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&gw.url("/upload/")), "{url}");
    let done = c
        .post(&url)
        .header("x-goog-api-key", KEY)
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "0")
        .body("hello world")
        .send()
        .unwrap();
    assert_eq!(done.status(), 200);
    assert_eq!(done.headers()["x-goog-upload-status"], "final");
    let file: serde_json::Value = done.json().unwrap();
    assert_eq!(file["file"]["sizeBytes"], "11");
    gw.wait_traces(2);
    gw.stop();
}

#[test]
fn capture_is_opt_in_and_bounded() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        "[capture]\ncontent = true\nmax_bytes = 64\n",
    );
    let secret_prompt = "purple elephants dance at midnight";
    let resp = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
        .header("x-goog-api-key", KEY)
        .body(gen_body(secret_prompt))
        .send()
        .unwrap();
    let t = util::trace_id(&resp);
    let conn = gw.wait_traces(1);
    gw.stop();
    let spans = spans_of(&conn, &t);
    let input = step(&spans, "prompt_construction")["gen_ai.input.messages"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(input.contains("purple elephants"));
    let output = step(&spans, "post_processing")["gen_ai.output.messages"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!output.is_empty() && output.len() <= 64 + 3);
}

#[test]
fn bad_config_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[proxy]\nlisten = \"127.0.0.1:1\"\nupstreem = \"http://x\"\n",
            "upstreem",
        ),
        ("[proxy]\nupstream = \"ftp://x\"\n", "proxy.upstream"),
        ("[storage]\nqueue_capacity = 0\n", "storage.queue_capacity"),
        ("[proxy]\nthreads = \"two\"\n", "threads"),
    ];
    for (toml, needle) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, toml).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(["--config", path.to_str().unwrap(), "--check"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{toml}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{needle} not named in: {stderr}");
    }
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../gateway.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--config", shipped, "--check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the shipped gateway.toml must be valid"
    );
}

#[test]
fn sigint_and_sigterm_flush_every_span() {
    let fake = spawn_in_thread(FakeConfig::default());
    for signal in ["-INT", "-TERM"] {
        // A long linger keeps spans queued: only the shutdown flush can write them.
        let mut gw = Gateway::start_with_storage(&fake.base_url(), "", "linger_ms = 600000", "");
        let c = client();
        for i in 0..20 {
            let resp = c
                .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
                .header("x-goog-api-key", KEY)
                .body(gen_body(&format!("n {i}")))
                .send()
                .unwrap();
            assert_eq!(resp.status(), 200);
        }
        let status = gw.stop_with(signal);
        assert!(status.success(), "{signal}: {status:?}\n{}", gw.log_text());
        let n: i64 = gw
            .open_db()
            .query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 20, "{signal}");
        let spans: i64 = gw
            .open_db()
            .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
            .unwrap();
        assert_eq!(spans, 80, "{signal}");
    }
}

#[test]
fn array_and_openai_streams_are_not_buffered_either() {
    let fake = spawn_in_thread(FakeConfig {
        chunks: 3,
        ..FakeConfig::default()
    });
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let cases = [
        ("/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent", gen_body("a b"), b"}".as_slice(), "array"),
        (
            "/v1beta/openai/chat/completions",
            serde_json::json!({"model": "gemini-2.5-flash-lite", "stream": true, "messages": [{"role": "user", "content": "hi"}]}).to_string(),
            b"\n\n".as_slice(),
            "openai",
        ),
    ];
    for (path, body, first_marker, token) in cases {
        let mut resp = client()
            .post(gw.url(path))
            .header("authorization", format!("Bearer {KEY}"))
            .header("x-fake-hold", token)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        // Held upstream: only an unbuffered proxy delivers the first element now.
        let first = read_until(&mut resp, first_marker);
        assert!(!first.is_empty());
        fake.release(token);
        let mut rest = Vec::new();
        resp.read_to_end(&mut rest).unwrap();
        if token == "openai" {
            assert!(String::from_utf8_lossy(&rest).contains("[DONE]"));
        }
    }
    let conn = gw.wait_traces(2);
    gw.stop();
    let ops: Vec<(String, i64, i64)> = conn
        .prepare(
            "SELECT operation, stream, output_tokens FROM traces ORDER BY start_time_unix_nano",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ops[0].0, "generate_content");
    assert_eq!(ops[1].0, "chat");
    assert!(ops.iter().all(|o| o.1 == 1 && o.2 > 0), "{ops:?}");
}
