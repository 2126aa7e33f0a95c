//! Native Gemini endpoints: `generateContent`, `countTokens` and embeddings
//! (streaming lives in [`crate::stream`], models in [`crate::models`]).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::errors::ApiError;
use crate::extras::{GroundingMetadata, Media, TINY_AUDIO, TINY_PNG};
use crate::tier::Tier;
use crate::tokens::{self, ModalityCount, Prompt, Usage};
use crate::util::{ID_CHARS, as_u64, field, fnv1a, mix64, pretty, random_id};

/// Parse a JSON object body; an empty body counts as `{}`.
pub(crate) fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid_json(&e))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ApiError::new(
            400,
            "Invalid JSON payload received. Expected an object at the top level.",
        ))
    }
}

/// A JSON response (pretty-printed like Google's non-stream answers).
pub(crate) fn json_response<T: Serialize>(v: &T) -> Response {
    let mut resp = pretty(v).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    resp
}

/// A fresh `responseId`-style identifier.
pub(crate) fn response_id(seed: u64) -> String {
    random_id(seed, 22, ID_CHARS)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Blob {
    mime_type: &'static str,
    data: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<Blob>,
}

impl Part {
    fn media(m: Media) -> Part {
        let blob = match m {
            Media::Image => Blob {
                mime_type: "image/png",
                data: TINY_PNG,
            },
            Media::Audio => Blob {
                mime_type: "audio/L16;codec=pcm;rate=24000",
                data: TINY_AUDIO,
            },
        };
        Part {
            text: None,
            inline_data: Some(blob),
        }
    }
}

#[derive(Serialize)]
struct Content {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    parts: Vec<Part>,
    role: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Content,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grounding_metadata: Option<GroundingMetadata>,
    index: u32,
}

/// A `GenerateContentResponse` with one candidate.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenResponse {
    candidates: Vec<Candidate>,
    usage_metadata: Usage,
    model_version: String,
    response_id: String,
}

impl GenResponse {
    /// One response (or stream event) carrying `text`, with usage after
    /// `words` cumulative output words. The `last` one also carries the
    /// finish reason, the generated image / audio and the grounding metadata.
    pub fn new(
        prompt: &Prompt,
        text: String,
        words: u64,
        last: bool,
        model: &str,
        id: &str,
    ) -> GenResponse {
        // Nothing generated (thinking used the budget): the content has no parts.
        let mut parts = if prompt.exhausted {
            Vec::new()
        } else {
            vec![Part {
                text: Some(text),
                inline_data: None,
            }]
        };
        if last && let Some(m) = prompt.media {
            parts.push(Part::media(m));
        }
        GenResponse {
            candidates: vec![Candidate {
                content: Content {
                    parts,
                    role: "model",
                },
                finish_reason: last.then_some(if prompt.exhausted {
                    "MAX_TOKENS"
                } else {
                    "STOP"
                }),
                grounding_metadata: (last && prompt.grounded)
                    .then(|| GroundingMetadata::new(&prompt.last_user_text)),
                index: 0,
            }],
            usage_metadata: Usage::new(prompt, words, last),
            model_version: model.to_string(),
            response_id: id.to_string(),
        }
    }
}

/// A `GenerateContentResponse` to a blocked prompt: no candidates, the reason in
/// `promptFeedback` (with the rating that blocked it when the reason is safety), and the
/// prompt's usage (`candidatesTokenCount` absent). Streamed, it is the only event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlockedResponse {
    prompt_feedback: PromptFeedback,
    usage_metadata: Usage,
    model_version: String,
    response_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    safety_ratings: Vec<SafetyRating>,
}

#[derive(Serialize)]
struct SafetyRating {
    category: &'static str,
    probability: &'static str,
    blocked: bool,
}

impl BlockedResponse {
    pub fn new(prompt: &Prompt, reason: &'static str, model: &str, id: &str) -> BlockedResponse {
        let safety_ratings = if reason == "SAFETY" {
            vec![SafetyRating {
                category: "HARM_CATEGORY_DANGEROUS_CONTENT",
                probability: "HIGH",
                blocked: true,
            }]
        } else {
            Vec::new()
        };
        BlockedResponse {
            prompt_feedback: PromptFeedback {
                block_reason: reason,
                safety_ratings,
            },
            usage_metadata: Usage::blocked(prompt),
            model_version: model.to_string(),
            response_id: id.to_string(),
        }
    }
}

/// Validate a generate request for the served `model` and derive its prompt
/// accounting.
pub(crate) fn generate_prompt(model: &str, req: &Value, tier: Tier) -> Result<Prompt, ApiError> {
    let has_contents = match req.get("contents") {
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(_)) => true,
        _ => false,
    };
    if !has_contents {
        return Err(ApiError::new(
            400,
            "* GenerateContentRequest.contents: contents is not specified\n",
        ));
    }
    Ok(Prompt {
        tier,
        ..tokens::analyze(model, req)
    })
}

/// `POST …:generateContent`, served by `model`.
/// `block`: answer as to a blocked prompt with that reason.
pub(crate) fn generate(
    model: &str,
    req: &Value,
    tier: Tier,
    block: Option<&'static str>,
    seed: u64,
) -> Result<Response, ApiError> {
    let prompt = generate_prompt(model, req, tier)?;
    if let Some(reason) = block {
        return Ok(json_response(&BlockedResponse::new(
            &prompt,
            reason,
            model,
            &response_id(seed),
        )));
    }
    let words = prompt.reply_words();
    let n = words.len() as u64;
    let resp = GenResponse::new(&prompt, words.join(" "), n, true, model, &response_id(seed));
    Ok(json_response(&resp))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CountTokens {
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cached_content_token_count: Option<u64>,
    prompt_tokens_details: Vec<ModalityCount>,
}

/// `POST …:countTokens` (accepts `contents` or `generateContentRequest`).
pub(crate) fn count_tokens(model: &str, req: &Value) -> Response {
    let inner = field(req, "generateContentRequest", "generate_content_request").unwrap_or(req);
    let p = tokens::analyze(model, inner);
    json_response(&CountTokens {
        total_tokens: p.prompt_tokens,
        cached_content_token_count: (p.cached_tokens > 0).then_some(p.cached_tokens),
        prompt_tokens_details: tokens::text_details(p.prompt_tokens),
    })
}

/// Default embedding size.
const EMBED_DIMS: usize = 8;

/// Deterministic embedding of `text` with `dims` values in [-1, 1].
pub(crate) fn embed_values(text: &str, dims: usize) -> Vec<f64> {
    let base = fnv1a(text.as_bytes());
    (0..dims.clamp(1, 3072) as u64)
        .map(|i| {
            let unit = (mix64(base ^ i.wrapping_mul(0x9E37)) >> 11) as f64 / (1u64 << 53) as f64;
            ((unit * 2.0 - 1.0) * 1e6).round() / 1e6
        })
        .collect()
}

#[derive(Serialize)]
struct Embedding {
    values: Vec<f64>,
}

fn embed_one(req: &Value) -> Embedding {
    let text = req
        .get("content")
        .map(tokens::content_text)
        .unwrap_or_default();
    let dims = field(req, "outputDimensionality", "output_dimensionality")
        .and_then(as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .unwrap_or(EMBED_DIMS);
    Embedding {
        values: embed_values(&text, dims),
    }
}

/// Top-level `usageMetadata` of an embeddings answer (`promptTokenDetails`,
/// "Token" singular, and no `totalTokenCount`, as Gemini sends it).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmbedUsage {
    prompt_token_count: u64,
    prompt_token_details: Vec<ModalityCount>,
}

impl EmbedUsage {
    fn new<'a>(contents: impl IntoIterator<Item = &'a Value>) -> EmbedUsage {
        let n = tokens::embed_tokens(contents);
        EmbedUsage {
            prompt_token_count: n,
            prompt_token_details: tokens::text_details(n),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmbedResponse {
    embedding: Embedding,
    usage_metadata: EmbedUsage,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchEmbedResponse {
    embeddings: Vec<Embedding>,
    usage_metadata: EmbedUsage,
}

/// `POST …:embedContent`.
pub(crate) fn embed_content(req: &Value) -> Result<Response, ApiError> {
    let Some(content) = req.get("content") else {
        return Err(ApiError::new(
            400,
            "* EmbedContentRequest.content: content is not specified\n",
        ));
    };
    Ok(json_response(&EmbedResponse {
        embedding: embed_one(req),
        usage_metadata: EmbedUsage::new([content]),
    }))
}

/// `POST …:batchEmbedContents`.
pub(crate) fn batch_embed(req: &Value) -> Result<Response, ApiError> {
    let Some(Value::Array(requests)) = req.get("requests") else {
        return Err(ApiError::new(
            400,
            "* BatchEmbedContentsRequest.requests: requests is not specified\n",
        ));
    };
    Ok(json_response(&BatchEmbedResponse {
        embeddings: requests.iter().map(embed_one).collect(),
        usage_metadata: EmbedUsage::new(requests.iter().filter_map(|r| r.get("content"))),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embeddings_are_deterministic() {
        let a = embed_values("hello", 8);
        assert_eq!(a, embed_values("hello", 8));
        assert_ne!(a, embed_values("world", 8));
        assert!(a.iter().all(|v| (-1.0..=1.0).contains(v)));
    }

    #[test]
    fn generate_requires_contents() {
        assert!(generate("m", &json!({}), Tier::Standard, None, 1).is_err());
        assert_eq!(
            parse_body(&Bytes::from_static(b"{"))
                .err()
                .map(|e| e.code()),
            Some(400)
        );
        assert!(parse_body(&Bytes::new()).is_ok());
    }
}
