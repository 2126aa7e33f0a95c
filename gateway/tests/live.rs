//! Live API sessions (WebSocket) through the real gateway binary, with a real WebSocket client
//! (tungstenite), against the fake upstream's Live endpoint.
//!
//! A session is one trace: each model turn is an LLM span with its own usage and cost, stored
//! as soon as the turn completes; the session's root carries the SUM of the turns (the fake
//! re-bills the whole context every turn, so prompt counts grow) and how it ended. Frames reach
//! the client byte for byte as the fake sent them. The model is priced by the test's own row
//! (input $1, output $10 per 1M), so the figures do not depend on the shipped table's dates.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, sent_frames, spawn_in_thread};
use rusqlite::{Connection, OptionalExtension};
use serde_json::{Value, json};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};
use util::Gateway;

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

const MODEL: &str = "gemini-3-live-test";
const PRICING: &str = "[pricing.models.\"gemini-3-live-test\"]\ninput = 1.0\noutput = 10.0\n";
const V1BETA: &str =
    "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";
const V1ALPHA_CONSTRAINED: &str =
    "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained";

fn start() -> (fake_gemini::FakeGemini, Gateway) {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", PRICING);
    (fake, gw)
}

fn connect(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Ws {
    let mut req = gw
        .url(path)
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    let (ws, resp) = tungstenite::connect(req).unwrap();
    assert_eq!(resp.status(), 101);
    ws
}

/// A client that keeps every data frame it received: (binary, payload).
struct Client {
    ws: Ws,
    got: Vec<(bool, Vec<u8>)>,
    session: String,
}

impl Client {
    fn open(gw: &Gateway, path: &str, headers: &[(&str, &str)], setup: Value) -> Self {
        let mut c = Self {
            ws: connect(gw, path, headers),
            got: Vec::new(),
            session: String::new(),
        };
        c.send(&json!({ "setup": setup }));
        let done = c.recv().unwrap();
        c.session = done["setupComplete"]["sessionId"]
            .as_str()
            .unwrap()
            .to_owned();
        c
    }

    fn send(&mut self, v: &Value) {
        self.ws.send(Message::text(v.to_string())).unwrap();
    }

    /// The next data message as JSON (`Value::Null` for one that is not JSON); `None` once
    /// the connection is closed.
    fn recv(&mut self) -> Option<Value> {
        loop {
            let m = match self.ws.read() {
                Ok(m) => m,
                Err(_) => return None,
            };
            let (binary, bytes) = match m {
                Message::Binary(b) => (true, b.to_vec()),
                Message::Text(t) => (false, t.as_bytes().to_vec()),
                Message::Close(_) => return None,
                _ => continue,
            };
            let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            self.got.push((binary, bytes));
            return Some(v);
        }
    }

    /// Messages until one satisfies `stop` (included).
    fn until(&mut self, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let v = self.recv().expect("the connection closed first");
            let last = stop(&v);
            out.push(v);
            if last {
                return out;
            }
        }
    }

    /// A user turn and its answer, to the message carrying `usageMetadata`.
    fn turn(&mut self, text: &str) -> Vec<Value> {
        self.send(&json!({"clientContent": {
            "turns": [{"role": "user", "parts": [{"text": text}]}], "turnComplete": true}}));
        self.until(|v| v.get("usageMetadata").is_some())
    }

    fn close(mut self) -> Vec<(bool, Vec<u8>)> {
        self.ws.close(None).unwrap();
        while self.ws.read().is_ok() {}
        self.got
    }
}

fn usage_of(msgs: &[Value]) -> Value {
    msgs.iter()
        .rev()
        .find_map(|m| m.get("usageMetadata").cloned())
        .unwrap()
}

/// The test's price: input $1, output (answer and thoughts) $10 per 1M tokens.
fn cost(u: &Value) -> f64 {
    let n = |k: &str| u[k].as_f64().unwrap_or(0.0);
    (n("promptTokenCount") + 10.0 * (n("responseTokenCount") + n("thoughtsTokenCount"))) / 1e6
}

fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12_f64.max(b.abs() * 1e-9)
}

/// Waits (bounded) for `sql` to return a row.
fn wait_row<T>(
    gw: &Gateway,
    sql: &str,
    map: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(conn) = Connection::open(&gw.db)
            && let Ok(Some(v)) = conn.query_row(sql, [], &map).optional()
        {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "no row for {sql}; log:\n{}",
            gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The session's trace row, once written: (trace id, status, error_type, input, output,
/// cost, unpriced, model).
#[allow(clippy::type_complexity)]
fn session_row(
    gw: &Gateway,
) -> (
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<f64>,
    bool,
    Option<String>,
) {
    wait_row(
        gw,
        "SELECT trace_id, status, error_type, input_tokens, output_tokens, cost_usd, unpriced,
                model FROM traces",
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get::<_, i64>(6)? != 0,
                r.get(7)?,
            ))
        },
    )
}

/// (name, attributes, parent span id) of every span of the trace, by start.
fn spans(gw: &Gateway, trace: &str) -> Vec<(String, Value, Option<String>, String)> {
    let conn = Connection::open(&gw.db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT name, attributes, parent_span_id, span_id FROM spans WHERE trace_id = ?1
             ORDER BY start_time_unix_nano, id",
        )
        .unwrap();
    stmt.query_map([trace], |r| {
        let a: String = r.get(1)?;
        Ok((
            r.get(0)?,
            serde_json::from_str(&a).unwrap(),
            r.get(2)?,
            r.get(3)?,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn turns(all: &[(String, Value, Option<String>, String)]) -> Vec<&Value> {
    all.iter()
        .filter(|s| s.1["gateway.step"] == "llm_call")
        .map(|s| &s.1)
        .collect()
}

fn root(all: &[(String, Value, Option<String>, String)]) -> &Value {
    &all.iter()
        .find(|s| s.1.get("gateway.status").is_some())
        .unwrap()
        .1
}

fn setup() -> Value {
    json!({"model": format!("models/{MODEL}")})
}

#[test]
fn each_turn_is_stored_when_it_completes_and_the_session_costs_the_sum() {
    let (_fake, gw) = start();
    let key = [
        ("x-goog-api-key", "test-key"),
        ("x-gateway-user-id", "u-live"),
    ];
    let mut c = Client::open(&gw, V1BETA, &key, setup());
    let first = usage_of(&c.turn("what is the weather like"));

    // The first turn's span is in the database while the session is still open.
    let turn1: Value = wait_row(
        &gw,
        "SELECT attributes FROM spans WHERE json_extract(attributes, '$.\"gateway.live.turn.index\"') = 1",
        |r| Ok(serde_json::from_str(&r.get::<_, String>(0)?).unwrap()),
    );
    let traces: i64 = gw
        .open_db()
        .query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(traces, 0, "the session is still running");
    assert_eq!(
        turn1["gen_ai.usage.input_tokens"],
        first["promptTokenCount"]
    );
    assert!(close_to(
        turn1["gateway.cost.usd"].as_f64().unwrap(),
        cost(&first)
    ));

    c.send(&json!({"realtimeInput": {"text": "and tomorrow"}}));
    let second = usage_of(&c.until(|v| v.get("usageMetadata").is_some()));
    let prompts = (
        first["promptTokenCount"].as_i64().unwrap(),
        second["promptTokenCount"].as_i64().unwrap(),
    );
    assert!(
        prompts.1 > prompts.0,
        "the context is re-billed: {prompts:?}"
    );
    let session = c.session.clone();
    let got = c.close();

    // Frames reach the client exactly as the fake sent them, frame by frame.
    let sent: Vec<(bool, Vec<u8>)> = sent_frames(&session)
        .into_iter()
        .map(|(b, bytes)| (b, bytes.to_vec()))
        .collect();
    assert!(sent.len() >= 8, "{} frames", sent.len());
    assert_eq!(got, sent);
    assert!(sent.iter().all(|(binary, _)| *binary));

    let (trace, status, error, input, output, usd, unpriced, model) = session_row(&gw);
    let all = spans(&gw, &trace);
    let t = turns(&all);
    assert_eq!(t.len(), 2, "{all:#?}");
    for (span, u) in t.iter().zip([&first, &second]) {
        assert_eq!(span["gen_ai.usage.input_tokens"], u["promptTokenCount"]);
        let out = u["responseTokenCount"].as_i64().unwrap()
            + u["thoughtsTokenCount"].as_i64().unwrap_or(0);
        assert_eq!(span["gen_ai.usage.output_tokens"].as_i64().unwrap(), out);
        assert_eq!(span["gen_ai.request.model"], MODEL);
        assert!(
            span["gen_ai.response.time_to_first_chunk"]
                .as_f64()
                .unwrap()
                >= 0.0
        );
    }
    assert!(first["thoughtsTokenCount"].as_i64().unwrap() > 0);
    assert_eq!((status.as_str(), error), ("ok", None));
    assert_eq!(model.as_deref(), Some(MODEL));
    assert_eq!(input, Some(prompts.0 + prompts.1));
    let out = |u: &Value| {
        u["responseTokenCount"].as_i64().unwrap() + u["thoughtsTokenCount"].as_i64().unwrap_or(0)
    };
    assert_eq!(output, Some(out(&first) + out(&second)));
    assert!(!unpriced);
    let sum = cost(&first) + cost(&second);
    assert!(close_to(usd.unwrap(), sum), "{usd:?} != {sum}");
    let r = root(&all);
    assert_eq!(r["gateway.live.end"], "client_close");
    assert_eq!(r["gateway.live.turns"], 2);
    assert_eq!(r["gateway.live.frames.unreadable"], 0);
    assert_eq!(r["gateway.surface"], "live");
    assert_eq!(r["user.id"], "u-live");
    assert_eq!(r["http.response.status_code"], 101);
    // Every turn is a child of the session's root.
    let root_id = &all
        .iter()
        .find(|s| s.1.get("gateway.status").is_some())
        .unwrap()
        .3;
    assert!(
        all.iter()
            .filter(|s| s.1["gateway.step"] == "llm_call")
            .all(|s| s.2.as_ref() == Some(root_id))
    );
}

#[test]
fn a_tool_call_is_an_execute_tool_span_ended_by_the_matching_response() {
    let (_fake, gw) = start();
    let tools = json!([{"functionDeclarations": [{"name": "get_weather",
        "parameters": {"type": "OBJECT", "properties": {"query": {"type": "STRING"}}}}]}]);
    let mut c = Client::open(
        &gw,
        V1BETA,
        &[("x-goog-api-key", "test-key")],
        json!({"model": format!("models/{MODEL}"), "tools": tools}),
    );
    c.send(
        &json!({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "weather?"}]}],
        "turnComplete": true}}),
    );
    let call_msg = c.until(|v| v.get("toolCall").is_some());
    let call = &call_msg.last().unwrap()["toolCall"]["functionCalls"][0];
    let id = call["id"].as_str().unwrap().to_owned();
    let first = usage_of(&call_msg);
    c.send(&json!({"toolResponse": {"functionResponses": [
        {"id": id, "name": "get_weather", "response": {"forecast": "sunny"}}]}}));
    let second = usage_of(&c.until(|v| v.get("usageMetadata").is_some()));
    c.close();

    let (trace, status, _, input, _, usd, _, _) = session_row(&gw);
    assert_eq!(status, "ok");
    let all = spans(&gw, &trace);
    let tool = all
        .iter()
        .find(|s| s.0 == "execute_tool get_weather")
        .unwrap_or_else(|| panic!("{all:#?}"));
    assert_eq!(tool.1["gen_ai.tool.call.id"], id.as_str());
    assert_eq!(tool.1["gen_ai.operation.name"], "execute_tool");
    assert!(tool.1.get("error.type").is_none());
    let t = turns(&all);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0]["gateway.live.turn.end"], "tool_call");
    assert_eq!(t[1]["gateway.live.turn.end"], "turn_complete");
    let p = |u: &Value| u["promptTokenCount"].as_i64().unwrap();
    assert_eq!(input, Some(p(&first) + p(&second)));
    assert!(close_to(usd.unwrap(), cost(&first) + cost(&second)));
}

#[test]
fn an_ephemeral_token_passes_through_and_is_never_stored() {
    let (fake, gw) = start();
    let token = "auth_tokens/secret-live-token-4242";
    let auth = format!("Token {token}");
    let mut c = Client::open(
        &gw,
        V1ALPHA_CONSTRAINED,
        &[("authorization", &auth)],
        setup(),
    );
    let u = usage_of(&c.turn("hello"));
    c.close();
    let (trace, status, _, input, _, _, _, _) = session_row(&gw);
    assert_eq!(status, "ok");
    assert_eq!(input, u["promptTokenCount"].as_i64());
    let seen = fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("BidiGenerateContentConstrained"))
        .unwrap();
    assert_eq!(seen.header("authorization"), Some(auth.as_str()));
    assert!(seen.path.contains(".v1alpha."));
    assert_eq!(root(&spans(&gw, &trace))["gateway.surface"], "live");
    drop(gw.open_db());
    let secret = b"secret-live-token-4242";
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", gw.db.display()));
        assert!(
            !util::file_contains(&path, secret),
            "token in {}",
            path.display()
        );
    }
    assert!(!gw.log_text().contains("secret-live-token"));
}

#[test]
fn a_client_that_vanishes_mid_turn_leaves_the_metered_turns_stored() {
    let (_fake, gw) = start();
    let headers = [("x-goog-api-key", "test-key"), ("x-fake-live-stall", "2")];
    let mut c = Client::open(&gw, V1BETA, &headers, setup());
    let first = usage_of(&c.turn("first question"));
    c.send(
        &json!({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "second"}]}],
        "turnComplete": true}}),
    );
    c.until(|v| {
        v.get("serverContent")
            .is_some_and(|s| s.get("modelTurn").is_some())
    });
    // The client goes away without a Close frame.
    drop(c);

    let (trace, status, error, input, _, usd, unpriced, _) = session_row(&gw);
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("cancelled", Some("cancelled"))
    );
    assert_eq!(input, first["promptTokenCount"].as_i64());
    assert!(close_to(usd.unwrap(), cost(&first)));
    assert!(!unpriced);
    let all = spans(&gw, &trace);
    let r = root(&all);
    assert_eq!(r["gateway.live.end"], "client_gone");
    assert_eq!(r["gateway.live.turns"], 1);
    assert_eq!(r["gateway.live.turns.unmetered"], 1);
    let t = turns(&all);
    assert_eq!(t.len(), 2);
    assert_eq!(t[1]["gateway.live.turn.end"], "session_end");
    assert!(t[1].get("gen_ai.usage.input_tokens").is_none());
}

#[test]
fn an_upstream_go_away_ends_the_session_with_what_was_metered() {
    let (_fake, gw) = start();
    let headers = [
        ("x-goog-api-key", "test-key"),
        ("x-fake-live-go-away-after", "1"),
    ];
    let mut c = Client::open(&gw, V1BETA, &headers, setup());
    let first = usage_of(&c.turn("only one"));
    let away = c.recv().unwrap();
    assert_eq!(away["goAway"]["timeLeft"], "0s");
    assert!(c.recv().is_none(), "the upstream dropped the connection");

    let (trace, status, error, input, _, usd, _, _) = session_row(&gw);
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("error", Some("go_away"))
    );
    assert_eq!(input, first["promptTokenCount"].as_i64());
    assert!(close_to(usd.unwrap(), cost(&first)));
    let r = root(&spans(&gw, &trace)).clone();
    assert_eq!(r["gateway.live.end"], "go_away");
    assert_eq!(r["gateway.live.go_away.time_left"], "0s");
}

#[test]
fn a_frame_that_is_not_json_is_counted_and_forwarded_and_the_session_goes_on() {
    let (_fake, gw) = start();
    let headers = [
        ("x-goog-api-key", "test-key"),
        ("x-fake-live-garbage-after", "1"),
        ("x-fake-live-frames", "text"),
        ("x-fake-live-usage-apart", "1"),
    ];
    let mut c = Client::open(&gw, V1BETA, &headers, setup());
    let first = usage_of(&c.turn("one"));
    assert_eq!(
        c.recv(),
        Some(Value::Null),
        "the non-JSON frame arrives as sent"
    );
    let second = usage_of(&c.turn("two"));
    let session = c.session.clone();
    let got = c.close();
    let sent: Vec<(bool, Vec<u8>)> = sent_frames(&session)
        .into_iter()
        .map(|(b, bytes)| (b, bytes.to_vec()))
        .collect();
    assert_eq!(got, sent);
    assert!(sent.iter().all(|(binary, _)| !binary));

    let (trace, status, _, input, _, usd, _, _) = session_row(&gw);
    assert_eq!(status, "ok");
    let p = |u: &Value| u["promptTokenCount"].as_i64().unwrap();
    assert_eq!(input, Some(p(&first) + p(&second)));
    assert!(close_to(usd.unwrap(), cost(&first) + cost(&second)));
    let all = spans(&gw, &trace);
    let r = root(&all);
    assert_eq!(r["gateway.live.frames.unreadable"], 1);
    assert!(
        r["gateway.live.frames.unreadable_reason"]
            .as_str()
            .unwrap()
            .contains("not a JSON object")
    );
    assert_eq!(turns(&all).len(), 2);
}

/// A setup naming a model that was shut down: the service closes the session with 1008 and the
/// 404's message. The client gets that Close frame as sent, and the session is stored as an
/// error with no usage and no cost.
#[test]
fn a_setup_naming_a_shut_down_model_is_closed_and_stored_as_an_error() {
    let (_fake, gw) = start();
    let mut ws = connect(&gw, V1BETA, &[("x-goog-api-key", "test-key")]);
    ws.send(Message::text(
        json!({"setup": {"model": "models/gemini-2.0-flash"}}).to_string(),
    ))
    .unwrap();
    let close = loop {
        match ws.read() {
            Ok(Message::Close(frame)) => break frame.expect("a close frame with a code"),
            Ok(Message::Text(t)) => panic!("no setupComplete for a model shut down: {t}"),
            Ok(_) => continue,
            Err(e) => panic!("the connection ended without a Close frame: {e}"),
        }
    };
    assert_eq!(u16::from(close.code), 1008);
    assert!(
        close
            .reason
            .starts_with("models/gemini-2.0-flash is not found for API version v1beta"),
        "{}",
        close.reason
    );
    let (_, status, _, input, output, usd, unpriced, _) = session_row(&gw);
    assert_eq!(status, "error");
    assert_eq!((input, output, usd, unpriced), (None, None, None, false));
}
