//! OpenAI-compatible endpoints under `/{ver}/openai/`: chat completions
//! (plain and streamed), embeddings and models.

use std::sync::Arc;

use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::config::Knobs;
use crate::errors::ApiError;
use crate::models::KNOWN_MODELS;
use crate::native::{embed_values, json_response};
use crate::routing;
use crate::state::Shared;
use crate::stream::frames_response;
use crate::tokens::{self, THOUGHT_TOKENS};
use crate::util::{LOWER_CHARS, as_u64, now_secs, random_id};

/// Model name of a compat request without its `models/` prefix.
fn model_of(req: &Value) -> Result<String, ApiError> {
    let model = req.get("model").and_then(Value::as_str).unwrap_or("");
    if model.is_empty() {
        return Err(ApiError::new(
            400,
            "Invalid JSON payload received. model is required.",
        ));
    }
    Ok(model.strip_prefix("models/").unwrap_or(model).to_string())
}

/// Text of an OpenAI message `content` (string or array of text parts).
fn message_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str).or_else(|| p.as_str()))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

#[derive(Debug, Clone, Serialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_tokens_details: Option<ReasoningDetails>,
}

#[derive(Debug, Clone, Serialize)]
struct ReasoningDetails {
    reasoning_tokens: u64,
}

#[derive(Serialize)]
struct Message {
    role: &'static str,
    content: String,
}

#[derive(Serialize)]
struct Choice {
    index: u32,
    message: Message,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Completion {
    id: String,
    object: &'static str,
    created: u64,
    model: String,
    choices: Vec<Choice>,
    usage: Usage,
}

#[derive(Serialize)]
struct Delta {
    role: &'static str,
    content: String,
}

#[derive(Serialize)]
struct ChunkChoice {
    index: u32,
    delta: Delta,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

/// `POST /{ver}/openai/chat/completions`.
/// `model` of the answer is the served model (see [`crate::routing`]).
pub(crate) fn chat(shared: &Arc<Shared>, knobs: Knobs, req: &Value) -> Result<Response, ApiError> {
    let model = routing::served_model(&model_of(req)?).to_string();
    let Some(Value::Array(messages)) = req.get("messages") else {
        return Err(ApiError::new(
            400,
            "Invalid JSON payload received. messages is required.",
        ));
    };
    let texts: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
            (role.to_string(), message_text(m.get("content")))
        })
        .collect();
    let prompt_tokens = texts
        .iter()
        .map(|(_, t)| tokens::words(t))
        .sum::<u64>()
        .max(1);
    let last_user = texts
        .iter()
        .rev()
        .find(|(r, t)| r == "user" && !t.trim().is_empty())
        .map(|(_, t)| t.as_str())
        .unwrap_or("");
    let effort = req.get("reasoning_effort").and_then(Value::as_str);
    // A model that thinks only when asked thinks for an effort other than `none`.
    let thinking = if tokens::thinks_only_when_asked(&model) {
        effort.is_some_and(|e| e != "none")
    } else {
        tokens::is_thinking_model(&model) && effort != Some("none")
    };
    let thoughts = if thinking { THOUGHT_TOKENS } else { 0 };
    let words = tokens::reply_words(last_user);
    let usage = |completion: u64| Usage {
        prompt_tokens,
        completion_tokens: completion,
        total_tokens: prompt_tokens + completion + thoughts,
        completion_tokens_details: (thoughts > 0).then_some(ReasoningDetails {
            reasoning_tokens: thoughts,
        }),
    };
    let id = format!("chatcmpl-{}", random_id(shared.next_seq(), 24, LOWER_CHARS));
    let created = now_secs();
    if req.get("stream").and_then(Value::as_bool) != Some(true) {
        return Ok(json_response(&Completion {
            id,
            object: "chat.completion",
            created,
            model,
            choices: vec![Choice {
                index: 0,
                message: Message {
                    role: "assistant",
                    content: words.join(" "),
                },
                finish_reason: "stop",
            }],
            usage: usage(words.len() as u64),
        }));
    }
    let pieces = tokens::pieces(&words, knobs.chunks);
    let n = pieces.len();
    let mut frames: Vec<Bytes> = pieces
        .into_iter()
        .enumerate()
        .map(|(i, (content, cumulative))| {
            let last = i + 1 == n;
            let chunk = Chunk {
                id: &id,
                object: "chat.completion.chunk",
                created,
                model: &model,
                choices: vec![ChunkChoice {
                    index: 0,
                    delta: Delta {
                        role: "assistant",
                        content,
                    },
                    finish_reason: last.then_some("stop"),
                }],
                usage: last.then(|| usage(cumulative)),
            };
            let line = serde_json::to_string(&chunk).unwrap_or_default();
            Bytes::from(format!("data: {line}\n\n"))
        })
        .collect();
    if let Some(last) = frames.pop() {
        let mut tail = last.to_vec();
        tail.extend_from_slice(b"data: [DONE]\n\n");
        frames.push(Bytes::from(tail));
    }
    Ok(frames_response(
        shared.clone(),
        knobs,
        frames,
        "text/event-stream",
    ))
}

#[derive(Serialize)]
struct EmbeddingItem {
    object: &'static str,
    index: usize,
    embedding: Vec<f64>,
}

#[derive(Serialize)]
struct EmbedUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

#[derive(Serialize)]
struct EmbeddingList {
    object: &'static str,
    data: Vec<EmbeddingItem>,
    model: String,
    usage: EmbedUsage,
}

/// `POST /{ver}/openai/embeddings`.
pub(crate) fn embeddings(req: &Value) -> Result<Response, ApiError> {
    let model = model_of(req)?;
    let inputs: Vec<String> = match req.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect(),
        _ => {
            return Err(ApiError::new(
                400,
                "Invalid JSON payload received. input is required.",
            ));
        }
    };
    let dims = req
        .get("dimensions")
        .and_then(as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .unwrap_or(8);
    let tokens: u64 = inputs.iter().map(|s| tokens::words(s)).sum();
    Ok(json_response(&EmbeddingList {
        object: "list",
        data: inputs
            .iter()
            .enumerate()
            .map(|(index, text)| EmbeddingItem {
                object: "embedding",
                index,
                embedding: embed_values(text, dims),
            })
            .collect(),
        model,
        usage: EmbedUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    }))
}

#[derive(Serialize)]
struct OaModel {
    id: String,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

fn oa_model(name: &str) -> OaModel {
    let short = name.strip_prefix("models/").unwrap_or(name);
    OaModel {
        id: format!("models/{short}"),
        object: "model",
        created: 0,
        owned_by: "google",
    }
}

#[derive(Serialize)]
struct OaModelList {
    object: &'static str,
    data: Vec<OaModel>,
}

/// `GET /{ver}/openai/models`.
pub(crate) fn list_models() -> Response {
    json_response(&OaModelList {
        object: "list",
        data: KNOWN_MODELS.iter().map(|m| oa_model(m)).collect(),
    })
}

/// `GET /{ver}/openai/models/{id}`.
pub(crate) fn get_model(id: &str) -> Response {
    json_response(&oa_model(id))
}
