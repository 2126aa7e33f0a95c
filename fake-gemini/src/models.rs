//! The model catalogue: `GET /{ver}/models[/{model}]` and the names the
//! OpenAI-compatible model list reuses.

use axum::response::Response;
use serde::Serialize;

use crate::native::json_response;
use crate::tokens;

/// Model names listed by `GET /{ver}/models`: the models served in December
/// 2026. Retired and aliased ids (see [`crate::routing`]) and any other name
/// still resolve with `GET /{ver}/models/{model}` and in model calls.
pub(crate) const KNOWN_MODELS: &[&str] = &[
    "gemini-3.8-flash",
    "gemini-3.6-flash",
    "gemini-3.5-flash-lite",
    "gemini-3.1-flash-lite",
    "gemini-3.1-pro-preview",
    "gemini-3-flash-preview",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-image",
    "gemini-3.1-flash-image",
    "gemini-3.1-flash-lite-image",
    "gemini-3.1-flash-tts-preview",
    "gemini-embedding-2",
    "gemini-embedding-001",
];

/// A `Model` resource.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Model {
    name: String,
    version: &'static str,
    display_name: String,
    description: String,
    input_token_limit: u64,
    output_token_limit: u64,
    supported_generation_methods: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<bool>,
}

/// A plausible `Model` for any name (`models/` prefix added if missing).
pub(crate) fn model_info(name: &str) -> Model {
    let short = name.rsplit('/').next().unwrap_or(name);
    let full = if name.contains('/') {
        name.to_string()
    } else {
        format!("models/{name}")
    };
    let display_name = format!("Fake {short}");
    if short.contains("embedding") {
        return Model {
            name: full,
            version: "001",
            display_name,
            description: "Fake embedding model served by fake-gemini".into(),
            input_token_limit: 2048,
            output_token_limit: 1,
            supported_generation_methods: vec!["embedContent", "countTextTokens", "countTokens"],
            temperature: None,
            top_p: None,
            top_k: None,
            max_temperature: None,
            thinking: None,
        };
    }
    let thinking = tokens::is_thinking_model(short);
    Model {
        name: full,
        version: "001",
        display_name,
        description: "Fake generative model served by fake-gemini".into(),
        input_token_limit: 1_048_576,
        output_token_limit: if thinking { 65_536 } else { 8_192 },
        supported_generation_methods: vec![
            "generateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent",
        ],
        temperature: Some(1.0),
        top_p: Some(0.95),
        top_k: Some(64),
        max_temperature: Some(2.0),
        thinking: thinking.then_some(true),
    }
}

#[derive(Serialize)]
struct ModelList {
    models: Vec<Model>,
}

/// `GET /{ver}/models`.
pub(crate) fn list_models() -> Response {
    json_response(&ModelList {
        models: KNOWN_MODELS.iter().map(|m| model_info(m)).collect(),
    })
}
