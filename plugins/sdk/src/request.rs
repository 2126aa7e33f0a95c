//! The parsed request a plugin sees.

use serde::{Deserialize, Serialize};

/// `generationConfig` parameters (either spelling, camelCase or snake_case, on the wire).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationParams {
    /// `temperature`.
    pub temperature: Option<f64>,
    /// `topP`.
    pub top_p: Option<f64>,
    /// `topK`.
    pub top_k: Option<f64>,
    /// `maxOutputTokens` (or OpenAI `max_tokens` / `max_completion_tokens`).
    pub max_output_tokens: Option<i64>,
    /// `stopSequences` (or OpenAI `stop`).
    pub stop_sequences: Vec<String>,
    /// `seed`.
    pub seed: Option<i64>,
    /// `candidateCount` (or OpenAI `n`).
    pub candidate_count: Option<i64>,
    /// `presencePenalty`.
    pub presence_penalty: Option<f64>,
    /// `frequencyPenalty`.
    pub frequency_penalty: Option<f64>,
    /// `responseMimeType`.
    pub response_mime_type: Option<String>,
    /// `responseModalities`.
    pub response_modalities: Vec<String>,
    /// `thinkingConfig.thinkingBudget`.
    pub thinking_budget: Option<i64>,
    /// `thinkingConfig.thinkingLevel` (or OpenAI `reasoning_effort`).
    pub thinking_level: Option<String>,
    /// `thinkingConfig.includeThoughts`.
    pub include_thoughts: Option<bool>,
}

/// What the gateway understood of a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestInfo {
    /// Model from the path (native) or the body (OpenAI compat).
    pub model: Option<String>,
    /// `gen_ai.operation.name`, if this is a model call.
    pub operation: Option<String>,
    /// Whether the response is streamed.
    pub stream: bool,
    /// Number of `contents` (or OpenAI `messages`).
    pub contents: u32,
    /// Number of parts across all contents.
    pub parts: u32,
    /// A system instruction is present.
    pub system_instruction: bool,
    /// The request names a `cachedContent`.
    pub cached_content: bool,
    /// Generation parameters.
    pub generation: GenerationParams,
    /// Request body size in bytes.
    pub body_bytes: u64,
    /// Set when the body was not valid JSON (it was forwarded unchanged).
    pub parse_error: Option<String>,
    /// The service tier the request asked for (`serviceTier` / `service_tier`, lowercase:
    /// `standard`, `flex`, `priority`).
    pub service_tier: Option<String>,
}
