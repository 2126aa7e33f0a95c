//! Token usage as Gemini reports it, and the derived totals the conventions want.

use serde::{Deserialize, Serialize};

/// Final token usage of one call (from the last cumulative `usageMetadata`).
///
/// Missing fields are 0, as in proto3 JSON. For OpenAI-compatible calls `thoughts_tokens` is
/// `reasoning_tokens` and `candidates_tokens` is `completion_tokens` without them (when
/// `total_tokens` shows the reasoning counted beside the completion, `completion_tokens` as is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// `promptTokenCount`: includes cached tokens.
    pub prompt_tokens: u64,
    /// `cachedContentTokenCount`: the cached part of the prompt.
    pub cached_tokens: u64,
    /// `candidatesTokenCount`: answer tokens, without thinking.
    pub candidates_tokens: u64,
    /// `thoughtsTokenCount`: thinking tokens, billed as output.
    pub thoughts_tokens: u64,
    /// `toolUsePromptTokenCount`: tool results fed back to the model, billed as input.
    pub tool_use_prompt_tokens: u64,
    /// `totalTokenCount` as reported.
    pub total_tokens: u64,
    /// Audio part of the prompt (`promptTokensDetails`, modality `AUDIO`).
    pub prompt_audio_tokens: u64,
    /// Audio part of the cached prompt (`cacheTokensDetails`, modality `AUDIO`).
    pub cached_audio_tokens: u64,
    /// Image part of the output (`candidatesTokensDetails`, modality `IMAGE`), billed at the
    /// model's image-output rate where it has one.
    #[serde(default)]
    pub output_image_tokens: u64,
    /// Audio part of the output (`candidatesTokensDetails`, modality `AUDIO`).
    #[serde(default)]
    pub output_audio_tokens: u64,
    /// Text part of the prompt (`promptTokensDetails`, modality `TEXT`).
    #[serde(default)]
    pub prompt_text_tokens: u64,
    /// Image part of the prompt (`promptTokensDetails`, modality `IMAGE`).
    #[serde(default)]
    pub prompt_image_tokens: u64,
    /// Text part of the cached prompt (`cacheTokensDetails`, modality `TEXT`).
    #[serde(default)]
    pub cached_text_tokens: u64,
    /// Image part of the cached prompt (`cacheTokensDetails`, modality `IMAGE`).
    #[serde(default)]
    pub cached_image_tokens: u64,
    /// Text part of the output, without thinking (`candidatesTokensDetails`, modality `TEXT`).
    #[serde(default)]
    pub output_text_tokens: u64,
    /// Executed, non-empty Google Search queries (`groundingMetadata.webSearchQueries`, or the
    /// Interactions `grounding_tool_count` of type `google_search`).
    #[serde(default)]
    pub search_queries: u64,
    /// The answer was grounded (a `groundingMetadata` was present): 2.5 models bill per
    /// grounded prompt rather than per query.
    #[serde(default)]
    pub grounded: bool,
}

impl Usage {
    /// `gen_ai.usage.input_tokens`: prompt (cached included) plus tool-use prompt.
    pub fn input_tokens(&self) -> u64 {
        self.prompt_tokens + self.tool_use_prompt_tokens
    }

    /// `gen_ai.usage.output_tokens`: candidates plus thinking.
    pub fn output_tokens(&self) -> u64 {
        self.candidates_tokens + self.thoughts_tokens
    }
}
