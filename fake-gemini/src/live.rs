//! The Live API over WebSocket: `GET /ws/google.ai.generativelanguage.{version}.GenerativeService.
//! BidiGenerateContent` (API key in `x-goog-api-key` or `?key=`) and `…Constrained` (an
//! ephemeral token, `Authorization: Token auth_tokens/…` or `?access_token=`), as the
//! google-genai SDK's `live.py` speaks it (`LiveClientMessage` in, `LiveServerMessage` out).
//!
//! - `setup` → `setupComplete` (with a `sessionId` unique in the process).
//! - `clientContent` with `turnComplete: true`, `realtimeInput` with `text`, or
//!   `audioStreamEnd` / `activityEnd` after `audio` chunks, or a `toolResponse`, start a model
//!   turn: the answer's parts are sent one per `serverContent.modelTurn` frame (a thought part
//!   first on thinking models, `inlineData` audio when `responseModalities` is `AUDIO`), then
//!   `generationComplete`, then `turnComplete` with the turn's `usageMetadata`. Its
//!   `promptTokenCount` is the **whole context** so far (every earlier prompt and answer; audio
//!   at 25 tokens per second of 16 kHz PCM), so it grows every turn, as Gemini re-bills it.
//! - With `tools` declared, a user turn is answered by a `toolCall` of the first declared
//!   function (with its usage); the `toolResponse` carrying that call's id continues the turn.
//!   A response naming another id closes the session with 1007.
//! - A missing key closes with 1008 after the upgrade, as the service does.
//!
//! Knobs (headers on the upgrade request): `x-fake-live-frames: text` sends text frames (the
//! default is binary JSON, as the service sends); `x-fake-live-go-away-after: N` sends
//! `goAway` after the N-th turn and then drops the connection without a Close frame;
//! `x-fake-live-garbage-after: N` sends a frame that is not JSON after the N-th turn;
//! `x-fake-live-stall: N` stops after the first part of the N-th answer until the client leaves;
//! `x-fake-live-usage-apart: 1` sends `usageMetadata` in its own frame after `turnComplete`.
//!
//! Every data frame sent is recorded by session id ([`sent_frames`]), so tests can compare it
//! byte for byte with what a client received through a proxy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::state::{SeenRequest, Shared};
use crate::tokens::{THOUGHT_TOKENS, content_text, thinks, words};
use crate::util::{field, query_param};

/// The tier a Live session is served at, named in every turn's `usageMetadata.serviceTier` as
/// Gemini does. The Live setup has no tier to ask for, so it is always standard.
const LIVE_TIER: &str = "standard";

/// Audio tokens per second of input or output (Gemini's rate).
const AUDIO_TOKENS_PER_SECOND: u64 = 25;
/// Bytes per second of 16 kHz 16-bit mono PCM.
const PCM_BYTES_PER_SECOND: u64 = 32_000;
/// Tokens of a function call the model emits.
const CALL_TOKENS: u64 = 5;

static SESSIONS: AtomicU64 = AtomicU64::new(1);

/// One data frame the fake sent: binary (else text) and its payload.
pub type SentFrame = (bool, Bytes);

fn sent() -> &'static Mutex<HashMap<String, Vec<SentFrame>>> {
    static SENT: std::sync::OnceLock<Mutex<HashMap<String, Vec<SentFrame>>>> =
        std::sync::OnceLock::new();
    SENT.get_or_init(Mutex::default)
}

/// The data frames sent in the session `session_id` (from its `setupComplete`), in order.
pub fn sent_frames(session_id: &str) -> Vec<SentFrame> {
    crate::state::lock(sent())
        .get(session_id)
        .cloned()
        .unwrap_or_default()
}

/// The upgrade handler of `/ws/{method}`.
pub(crate) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some((version, constrained)) = parse_method(&method) else {
        return (StatusCode::NOT_FOUND, "unknown Live method").into_response();
    };
    shared.record(SeenRequest {
        method: "GET".to_owned(),
        path: format!("/ws/{method}"),
        query: query.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Bytes::new(),
    });
    let authorized = if constrained {
        let header = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Token "));
        header
            .or_else(|| query_param(query.as_deref(), "access_token"))
            .is_some_and(|t| t.starts_with("auth_tokens/"))
    } else {
        headers.contains_key("x-goog-api-key") || query_param(query.as_deref(), "key").is_some()
    };
    let knobs = Knobs::from(&headers);
    ws.on_upgrade(move |socket| run(socket, knobs, authorized, version))
}

/// `google.ai.generativelanguage.{v}.GenerativeService.BidiGenerateContent[Constrained]`:
/// the API version and whether it is the constrained method, or `None` for another path.
fn parse_method(method: &str) -> Option<(String, bool)> {
    let rest = method.strip_prefix("google.ai.generativelanguage.")?;
    let (version, name) = rest.split_once('.')?;
    if !version.starts_with('v') {
        return None;
    }
    let constrained = match name {
        "GenerativeService.BidiGenerateContent" => false,
        "GenerativeService.BidiGenerateContentConstrained" => true,
        _ => return None,
    };
    Some((version.to_owned(), constrained))
}

#[derive(Debug, Clone, Copy, Default)]
struct Knobs {
    text: bool,
    go_away_after: Option<u32>,
    garbage_after: Option<u32>,
    stall: Option<u32>,
    usage_apart: bool,
}

impl Knobs {
    fn from(h: &HeaderMap) -> Self {
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
        let num = |n: &str| get(n).and_then(|v| v.parse().ok());
        Self {
            text: get("x-fake-live-frames") == Some("text"),
            go_away_after: num("x-fake-live-go-away-after"),
            garbage_after: num("x-fake-live-garbage-after"),
            stall: num("x-fake-live-stall"),
            usage_apart: get("x-fake-live-usage-apart") == Some("1"),
        }
    }
}

/// The conversation so far.
#[derive(Default)]
struct Session {
    id: String,
    /// The API version of the method's path (`v1beta`, `v1alpha`).
    version: String,
    /// The served model (see [`crate::routing`]), whose token rules apply.
    model: String,
    tools: Vec<String>,
    thinking: bool,
    audio_out: bool,
    /// Tokens of the whole context (text, audio).
    context_text: u64,
    context_audio: u64,
    /// Input since the last answer.
    pending_audio_bytes: u64,
    last_user_text: String,
    call: Option<String>,
    calls: u64,
    turns: u32,
}

enum Step {
    Continue,
    Stop,
}

struct Conn {
    socket: WebSocket,
    knobs: Knobs,
    s: Session,
}

impl Conn {
    async fn send(&mut self, v: &Value) -> Result<(), axum::Error> {
        let bytes = Bytes::from(v.to_string());
        self.send_raw(bytes).await
    }

    async fn send_raw(&mut self, bytes: Bytes) -> Result<(), axum::Error> {
        let binary = !self.knobs.text;
        if !self.s.id.is_empty() {
            crate::state::lock(sent())
                .entry(self.s.id.clone())
                .or_default()
                .push((binary, bytes.clone()));
        }
        let msg = if binary {
            Message::Binary(bytes)
        } else {
            match String::from_utf8(bytes.to_vec()) {
                Ok(s) => Message::Text(s.into()),
                Err(_) => Message::Binary(bytes),
            }
        };
        self.socket.send(msg).await
    }

    /// Sends a Close frame. Its reason is cut to the 123 bytes a Close frame holds (RFC 6455
    /// 5.5: control frames carry at most 125 bytes, two of them the code), at a character
    /// boundary, as the service cuts long reasons.
    async fn close(&mut self, code: u16, reason: &str) {
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let frame = CloseFrame {
            code,
            reason: reason[..end].into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
    }

    /// Waits until the client leaves (stall knob).
    async fn hold(&mut self) {
        while let Some(Ok(m)) = self.socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    }
}

async fn run(socket: WebSocket, knobs: Knobs, authorized: bool, version: String) {
    let mut c = Conn {
        socket,
        knobs,
        s: Session {
            version,
            ..Session::default()
        },
    };
    if !authorized {
        c.close(1008, "API key not valid. Please pass a valid API key.")
            .await;
        return;
    }
    while let Some(Ok(msg)) = c.socket.recv().await {
        let payload = match msg {
            Message::Text(t) => Bytes::from(t.as_str().to_owned()),
            Message::Binary(b) => b,
            Message::Close(_) => break,
            _ => continue,
        };
        let Ok(v) = serde_json::from_slice::<Value>(&payload) else {
            c.close(1007, "Request contains an invalid argument.").await;
            return;
        };
        match handle(&mut c, &v).await {
            Ok(Step::Continue) => {}
            Ok(Step::Stop) | Err(_) => return,
        }
    }
}

async fn handle(c: &mut Conn, v: &Value) -> Result<Step, axum::Error> {
    if let Some(setup) = v.get("setup") {
        return setup_session(c, setup).await;
    }
    if let Some(cc) = field(v, "clientContent", "client_content") {
        let turns = cc.get("turns").and_then(Value::as_array);
        for t in turns.into_iter().flatten() {
            let text = content_text(t);
            c.s.context_text += words(&text).max(1);
            if !text.trim().is_empty() {
                c.s.last_user_text = text;
            }
        }
        let complete = field(cc, "turnComplete", "turn_complete").and_then(Value::as_bool);
        if complete == Some(true) {
            return answer(c, true).await;
        }
        return Ok(Step::Continue);
    }
    if let Some(rt) = field(v, "realtimeInput", "realtime_input") {
        return realtime(c, rt).await;
    }
    if let Some(tr) = field(v, "toolResponse", "tool_response") {
        let responses = field(tr, "functionResponses", "function_responses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let expected = c.s.call.take();
        let matches = responses
            .iter()
            .any(|r| r.get("id").and_then(Value::as_str) == expected.as_deref());
        if expected.is_none() || !matches {
            c.close(1007, "toolResponse names no pending function call.")
                .await;
            return Ok(Step::Stop);
        }
        for r in &responses {
            c.s.context_text +=
                words(&r.get("response").map(Value::to_string).unwrap_or_default()).max(1);
        }
        return answer(c, false).await;
    }
    Ok(Step::Continue)
}

async fn setup_session(c: &mut Conn, setup: &Value) -> Result<Step, axum::Error> {
    let model = setup.get("model").and_then(Value::as_str).unwrap_or("");
    match crate::routing::served(model, &c.s.version, "bidiGenerateContent") {
        Ok(served) => c.s.model = served.to_owned(),
        // A model that was shut down: the service closes the session with the 404's message.
        Err(e) => {
            c.close(1008, e.message()).await;
            return Ok(Step::Stop);
        }
    }
    c.s.tools = setup
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| field(t, "functionDeclarations", "function_declarations"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|f| f.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    c.s.thinking = thinks(&c.s.model, setup);
    let config = field(setup, "generationConfig", "generation_config");
    c.s.audio_out = config
        .and_then(|g| field(g, "responseModalities", "response_modalities"))
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|x| x.as_str() == Some("AUDIO")));
    if let Some(si) = field(setup, "systemInstruction", "system_instruction") {
        c.s.context_text += words(&content_text(si));
    }
    c.s.id = format!("fake-live-{}", SESSIONS.fetch_add(1, Ordering::Relaxed));
    let id = c.s.id.clone();
    c.send(&json!({"setupComplete": {"sessionId": id}})).await?;
    Ok(Step::Continue)
}

async fn realtime(c: &mut Conn, rt: &Value) -> Result<Step, axum::Error> {
    let mut chunks: Vec<&Value> = Vec::new();
    if let Some(a) = rt.get("audio") {
        chunks.push(a);
    }
    if let Some(list) = field(rt, "mediaChunks", "media_chunks").and_then(Value::as_array) {
        chunks.extend(list);
    }
    for chunk in chunks {
        let b64 = chunk.get("data").and_then(Value::as_str).unwrap_or("");
        c.s.pending_audio_bytes += (b64.len() as u64) * 3 / 4;
    }
    if let Some(text) = rt.get("text").and_then(Value::as_str) {
        c.s.context_text += words(text).max(1);
        c.s.last_user_text = text.to_owned();
        return answer(c, true).await;
    }
    let ended = [
        field(rt, "audioStreamEnd", "audio_stream_end").and_then(Value::as_bool) == Some(true),
        field(rt, "activityEnd", "activity_end").is_some(),
    ];
    if ended.iter().any(|e| *e) && c.s.pending_audio_bytes > 0 {
        return answer(c, true).await;
    }
    Ok(Step::Continue)
}

/// Answers the context so far: a tool call (a user turn, tools declared) or model parts.
async fn answer(c: &mut Conn, user_turn: bool) -> Result<Step, axum::Error> {
    let audio_in = match c.s.pending_audio_bytes {
        0 => 0,
        n => (n * AUDIO_TOKENS_PER_SECOND / PCM_BYTES_PER_SECOND).max(1),
    };
    c.s.pending_audio_bytes = 0;
    c.s.context_audio += audio_in;
    let prompt_text = c.s.context_text.max(1);
    let prompt_audio = c.s.context_audio;
    let mut prompt_details = vec![json!({"modality": "TEXT", "tokenCount": prompt_text})];
    if prompt_audio > 0 {
        prompt_details.push(json!({"modality": "AUDIO", "tokenCount": prompt_audio}));
    }
    let prompt = prompt_text + prompt_audio;
    if user_turn && let Some(name) = c.s.tools.first().cloned() {
        c.s.calls += 1;
        let id = format!("fc-{}-{}", c.s.id, c.s.calls);
        c.s.call = Some(id.clone());
        c.s.context_text += CALL_TOKENS;
        let usage = json!({
            "promptTokenCount": prompt,
            "responseTokenCount": CALL_TOKENS,
            "totalTokenCount": prompt + CALL_TOKENS,
            "promptTokensDetails": prompt_details,
            "responseTokensDetails": [{"modality": "TEXT", "tokenCount": CALL_TOKENS}],
            "serviceTier": LIVE_TIER,
        });
        let call = json!({"id": id, "name": name, "args": {"query": c.s.last_user_text}});
        c.send(&json!({"toolCall": {"functionCalls": [call]}, "usageMetadata": usage}))
            .await?;
        return Ok(Step::Continue);
    }
    let reply = format!(
        "Live: {} (deterministic fake-gemini reply)",
        c.s.last_user_text.chars().take(40).collect::<String>()
    );
    let mut parts: Vec<Value> = Vec::new();
    let thoughts = if c.s.thinking { THOUGHT_TOKENS } else { 0 };
    if thoughts > 0 {
        parts.push(json!({"text": "Considering the question.", "thought": true}));
    }
    let (response, modality) = if c.s.audio_out {
        // Three chunks of 0.2 s of 24 kHz PCM silence (base64 of zero bytes is all 'A').
        for _ in 0..3 {
            parts.push(json!({"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": "A".repeat(12_800)}}));
        }
        (3 * AUDIO_TOKENS_PER_SECOND / 5, "AUDIO")
    } else {
        let w: Vec<&str> = reply.split_whitespace().collect();
        for chunk in w.chunks(w.len().div_ceil(3).max(1)) {
            parts.push(json!({"text": format!("{} ", chunk.join(" "))}));
        }
        (words(&reply), "TEXT")
    };
    for part in parts {
        c.send(&json!({"serverContent": {"modelTurn": {"role": "model", "parts": [part]}}}))
            .await?;
        if c.knobs.stall == Some(c.s.turns + 1) {
            c.hold().await;
            return Ok(Step::Stop);
        }
    }
    c.s.context_text += response;
    c.s.turns += 1;
    let mut usage = json!({
        "promptTokenCount": prompt,
        "responseTokenCount": response,
        "totalTokenCount": prompt + response + thoughts,
        "promptTokensDetails": prompt_details,
        "responseTokensDetails": [{"modality": modality, "tokenCount": response}],
        "serviceTier": LIVE_TIER,
    });
    if thoughts > 0 {
        usage["thoughtsTokenCount"] = json!(thoughts);
    }
    c.send(&json!({"serverContent": {"generationComplete": true}}))
        .await?;
    if c.knobs.usage_apart {
        c.send(&json!({"serverContent": {"turnComplete": true}}))
            .await?;
        c.send(&json!({"usageMetadata": usage})).await?;
    } else {
        c.send(&json!({"serverContent": {"turnComplete": true}, "usageMetadata": usage}))
            .await?;
    }
    if c.knobs.garbage_after == Some(c.s.turns) {
        c.send_raw(Bytes::from_static(b"this frame is not JSON {"))
            .await?;
    }
    if c.knobs.go_away_after == Some(c.s.turns) {
        c.send(&json!({"goAway": {"timeLeft": "0s"}})).await?;
        // The connection is dropped without a Close frame.
        return Ok(Step::Stop);
    }
    Ok(Step::Continue)
}
