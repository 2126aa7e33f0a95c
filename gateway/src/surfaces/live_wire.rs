//! The Live API's messages as far as the gateway reads them (`LiveClientMessage` and
//! `LiveServerMessage` of the google-genai SDK's `types.py`): lenient, every field optional,
//! unknown fields and the bulky ones (audio, text, arguments) skipped without being kept.
//! Both spellings of the proto JSON (`clientContent` and `client_content`) are accepted.

use gateway_plugin_sdk::Usage;
use serde::Deserialize;
use serde::de::IgnoredAny;

/// A message from the client.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ClientMessage {
    pub setup: Option<Setup>,
    #[serde(alias = "client_content")]
    pub client_content: Option<IgnoredAny>,
    #[serde(alias = "realtime_input")]
    pub realtime_input: Option<IgnoredAny>,
    #[serde(alias = "tool_response")]
    pub tool_response: Option<ToolResponse>,
}

/// `setup`: the model and whether tools are declared.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Setup {
    pub model: Option<String>,
    pub tools: Option<Vec<IgnoredAny>>,
}

/// `toolResponse`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ToolResponse {
    #[serde(alias = "function_responses")]
    pub function_responses: Vec<FunctionRef>,
}

/// A function call or response: its id and name.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FunctionRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A message from the server.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ServerMessage {
    #[serde(alias = "setup_complete")]
    pub setup_complete: Option<SetupComplete>,
    #[serde(alias = "server_content")]
    pub server_content: Option<ServerContent>,
    #[serde(alias = "tool_call")]
    pub tool_call: Option<ToolCall>,
    #[serde(alias = "tool_call_cancellation")]
    pub tool_call_cancellation: Option<ToolCallCancellation>,
    #[serde(alias = "usage_metadata")]
    pub usage_metadata: Option<LiveUsage>,
    #[serde(alias = "go_away")]
    pub go_away: Option<GoAway>,
}

/// `setupComplete`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct SetupComplete {
    #[serde(alias = "session_id")]
    pub session_id: Option<String>,
}

/// `serverContent`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ServerContent {
    #[serde(alias = "model_turn")]
    pub model_turn: Option<ModelTurn>,
    #[serde(alias = "turn_complete")]
    pub turn_complete: Option<bool>,
    pub interrupted: Option<bool>,
}

/// `serverContent.modelTurn`: only whether it has parts.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ModelTurn {
    pub parts: Vec<IgnoredAny>,
}

/// `toolCall`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ToolCall {
    #[serde(alias = "function_calls")]
    pub function_calls: Vec<FunctionRef>,
}

/// `toolCallCancellation`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ToolCallCancellation {
    pub ids: Vec<String>,
}

/// `goAway`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct GoAway {
    #[serde(alias = "time_left")]
    pub time_left: Option<String>,
}

/// `usageMetadata` of a Live turn (SDK `UsageMetadata`): `responseTokenCount`, not
/// `candidatesTokenCount`, and `responseTokensDetails`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct LiveUsage {
    #[serde(alias = "prompt_token_count")]
    prompt_token_count: u64,
    #[serde(alias = "cached_content_token_count")]
    cached_content_token_count: u64,
    #[serde(alias = "response_token_count")]
    response_token_count: Option<u64>,
    /// Not in the Live schema; read only if a response carries it instead.
    candidates_token_count: Option<u64>,
    #[serde(alias = "tool_use_prompt_token_count")]
    tool_use_prompt_token_count: u64,
    #[serde(alias = "thoughts_token_count")]
    thoughts_token_count: u64,
    #[serde(alias = "total_token_count")]
    total_token_count: u64,
    #[serde(alias = "prompt_tokens_details")]
    prompt_tokens_details: Vec<ModalityCount>,
    #[serde(alias = "cache_tokens_details")]
    cache_tokens_details: Vec<ModalityCount>,
    #[serde(alias = "response_tokens_details")]
    response_tokens_details: Vec<ModalityCount>,
    #[serde(alias = "service_tier")]
    pub service_tier: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ModalityCount {
    modality: String,
    #[serde(alias = "token_count")]
    token_count: u64,
}

impl LiveUsage {
    /// As the gateway's [`Usage`]: the response count is the candidates count.
    pub(crate) fn to_usage(&self) -> Usage {
        let of = |v: &[ModalityCount], name: &str| {
            v.iter()
                .filter(|m| m.modality.eq_ignore_ascii_case(name))
                .fold(0u64, |a, m| a.saturating_add(m.token_count))
        };
        let (p, c, r) = (
            &self.prompt_tokens_details,
            &self.cache_tokens_details,
            &self.response_tokens_details,
        );
        Usage {
            prompt_tokens: self.prompt_token_count,
            cached_tokens: self.cached_content_token_count,
            candidates_tokens: self
                .response_token_count
                .or(self.candidates_token_count)
                .unwrap_or(0),
            thoughts_tokens: self.thoughts_token_count,
            tool_use_prompt_tokens: self.tool_use_prompt_token_count,
            total_tokens: self.total_token_count,
            prompt_audio_tokens: of(p, "AUDIO"),
            prompt_text_tokens: of(p, "TEXT"),
            prompt_image_tokens: of(p, "IMAGE"),
            cached_audio_tokens: of(c, "AUDIO"),
            cached_text_tokens: of(c, "TEXT"),
            cached_image_tokens: of(c, "IMAGE"),
            output_audio_tokens: of(r, "AUDIO"),
            output_image_tokens: of(r, "IMAGE"),
            output_text_tokens: of(r, "TEXT"),
            ..Usage::default()
        }
    }
}

/// Adds `b` to `a`, field by field (saturating): the session's total of its turns.
pub(crate) fn add_usage(a: &mut Usage, b: &Usage) {
    let pairs = [
        (&mut a.prompt_tokens, b.prompt_tokens),
        (&mut a.cached_tokens, b.cached_tokens),
        (&mut a.candidates_tokens, b.candidates_tokens),
        (&mut a.thoughts_tokens, b.thoughts_tokens),
        (&mut a.tool_use_prompt_tokens, b.tool_use_prompt_tokens),
        (&mut a.total_tokens, b.total_tokens),
        (&mut a.prompt_audio_tokens, b.prompt_audio_tokens),
        (&mut a.cached_audio_tokens, b.cached_audio_tokens),
        (&mut a.output_image_tokens, b.output_image_tokens),
        (&mut a.output_audio_tokens, b.output_audio_tokens),
        (&mut a.prompt_text_tokens, b.prompt_text_tokens),
        (&mut a.prompt_image_tokens, b.prompt_image_tokens),
        (&mut a.cached_text_tokens, b.cached_text_tokens),
        (&mut a.cached_image_tokens, b.cached_image_tokens),
        (&mut a.output_text_tokens, b.output_text_tokens),
        (&mut a.search_queries, b.search_queries),
    ];
    for (x, y) in pairs {
        *x = x.saturating_add(y);
    }
    a.grounded |= b.grounded;
}
