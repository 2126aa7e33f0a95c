//! The Interactions API's wire types, as far as metering needs them (field names from the
//! google-genai SDK's `_gaos/types/interactions`): the `Interaction`, its `usage` (snake_case,
//! cumulative), its steps, and the SSE events of a streamed interaction.

use gateway_plugin_sdk::Usage;
use serde::Deserialize;

/// `{modality, tokens}`; modalities are lowercase here (`text`, `image`, `audio`, ...).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct ModalityTokens {
    pub modality: String,
    pub tokens: u64,
}

/// `{type, count}` of `grounding_tool_count`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct GroundingCount {
    #[serde(rename = "type")]
    pub kind: String,
    pub count: u64,
}

/// An Interaction's `usage`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct InteractionUsage {
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    pub total_thought_tokens: u64,
    pub total_cached_tokens: u64,
    pub total_tool_use_tokens: u64,
    pub total_tokens: u64,
    pub input_tokens_by_modality: Vec<ModalityTokens>,
    pub cached_tokens_by_modality: Vec<ModalityTokens>,
    pub output_tokens_by_modality: Vec<ModalityTokens>,
    pub grounding_tool_count: Vec<GroundingCount>,
}

fn modality(v: &[ModalityTokens], name: &str) -> u64 {
    v.iter()
        .filter(|m| m.modality.eq_ignore_ascii_case(name))
        .fold(0u64, |a, m| a.saturating_add(m.tokens))
}

impl InteractionUsage {
    /// As the gateway's [`Usage`]: billed output is output plus thoughts.
    pub fn into_usage(self) -> Usage {
        let searches = self
            .grounding_tool_count
            .iter()
            .filter(|g| g.kind == "google_search")
            .fold(0u64, |a, g| a.saturating_add(g.count));
        Usage {
            prompt_tokens: self.total_input_tokens,
            cached_tokens: self.total_cached_tokens,
            candidates_tokens: self.total_output_tokens,
            thoughts_tokens: self.total_thought_tokens,
            tool_use_prompt_tokens: self.total_tool_use_tokens,
            total_tokens: self.total_tokens,
            prompt_audio_tokens: modality(&self.input_tokens_by_modality, "audio"),
            cached_audio_tokens: modality(&self.cached_tokens_by_modality, "audio"),
            output_image_tokens: modality(&self.output_tokens_by_modality, "image"),
            output_audio_tokens: modality(&self.output_tokens_by_modality, "audio"),
            prompt_text_tokens: modality(&self.input_tokens_by_modality, "text"),
            prompt_image_tokens: modality(&self.input_tokens_by_modality, "image"),
            cached_text_tokens: modality(&self.cached_tokens_by_modality, "text"),
            cached_image_tokens: modality(&self.cached_tokens_by_modality, "image"),
            output_text_tokens: modality(&self.output_tokens_by_modality, "text"),
            search_queries: searches,
            grounded: self.grounding_tool_count.iter().any(|g| g.count > 0),
        }
    }
}

/// One step of an interaction (only what spans need).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Step {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub id: Option<String>,
    pub call_id: Option<String>,
    pub server_name: Option<String>,
}

/// An `Interaction` resource (unary answer, `GET`, or inside stream events).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct Interaction {
    pub id: Option<String>,
    /// When the interaction was created (RFC 3339).
    pub created: Option<String>,
    pub status: Option<String>,
    pub model: Option<String>,
    pub agent: Option<String>,
    pub service_tier: Option<String>,
    pub usage: Option<InteractionUsage>,
    pub steps: Vec<Step>,
    pub previous_interaction_id: Option<String>,
    pub error: Option<ErrorBody>,
}

/// An error object (`{"error": {...}}` answers and `error` events).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct ErrorBody {
    pub code: Option<serde_json::Value>,
    pub status: Option<String>,
    pub message: Option<String>,
}

/// `metadata` of a `step.delta`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct DeltaMetadata {
    pub total_usage: Option<InteractionUsage>,
}

/// One SSE event of a streamed interaction.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct Event {
    pub event_type: Option<String>,
    pub interaction: Option<Interaction>,
    pub interaction_id: Option<String>,
    pub status: Option<String>,
    pub index: Option<u32>,
    pub step: Option<Step>,
    pub step_usage: Option<InteractionUsage>,
    pub usage: Option<InteractionUsage>,
    pub metadata: Option<DeltaMetadata>,
    pub error: Option<ErrorBody>,
    // A unary answer parsed as an event keeps its own fields here.
    pub id: Option<String>,
    pub created: Option<String>,
    pub model: Option<String>,
    pub agent: Option<String>,
    pub service_tier: Option<String>,
    pub steps: Option<Vec<Step>>,
}

/// The body of a create request (what spans and metering need).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct CreateRequest {
    pub model: Option<String>,
    pub agent: Option<String>,
    pub stream: Option<bool>,
    pub background: Option<bool>,
    pub previous_interaction_id: Option<String>,
    pub service_tier: Option<String>,
    pub generation_config: Option<GenerationConfig>,
    pub system_instruction: Option<serde::de::IgnoredAny>,
    pub cached_content: Option<serde::de::IgnoredAny>,
}

/// `generation_config` of a create request.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct GenerationConfig {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_output_tokens: Option<i64>,
    pub seed: Option<i64>,
    pub stop_sequences: Option<Vec<String>>,
    pub thinking_level: Option<String>,
}
