//! Reads usage, finish reasons and ids from the events an [`Observer`](crate::observe::Observer)
//! kept. Runs once per request in the logging phase, after the client has its bytes.

use crate::observe::Observed;
use gateway_plugin_sdk::Usage;
use serde::Deserialize;
use serde::de::IgnoredAny;

/// What the response said about the call.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ResponseSummary {
    /// Final usage, if the response carried any.
    pub usage: Option<Usage>,
    /// The usage of each separately billed call that `usage` sums (a batch job's responses);
    /// empty when `usage` is one call's.
    pub usage_parts: Vec<Usage>,
    /// When the billed work was made, if the answer says and it was not made by this request
    /// (a background interaction or a batch job metered on a later poll): the date its prices
    /// are taken at.
    pub work_created_at: Option<std::time::SystemTime>,
    /// One finish reason per candidate (or choice).
    pub finish_reasons: Vec<String>,
    /// `responseId` / `id`.
    pub response_id: Option<String>,
    /// `modelVersion` / `model`.
    pub response_model: Option<String>,
    /// A Gemini error object in the body (`error.status`, or the code).
    pub error_status: Option<String>,
    /// `promptFeedback.blockReason`: the prompt was blocked and nothing was generated.
    pub block_reason: Option<String>,
    /// Why the body could not be read, if it could not.
    pub parse_error: Option<String>,
    /// Answer text, when capture is on.
    pub output_text: Option<String>,
    /// The service tier that served the call, lowercase.
    pub service_tier: Option<String>,
    /// The surface's verdict on billing, when the answer changes the route's (a background
    /// interaction is deferred, a repeated poll is free).
    pub metering: Option<gateway_plugin_sdk::Metering>,
    /// Surface-specific attributes of the LLM span.
    pub llm_attrs: Vec<opentelemetry::KeyValue>,
    /// Child spans of the LLM span (Interactions steps).
    pub steps: Vec<crate::surfaces::StepSpan>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Doc {
    #[serde(rename = "usageMetadata", alias = "usage_metadata")]
    usage_metadata: Option<GeminiUsage>,
    usage: Option<OpenAiUsage>,
    candidates: Option<Vec<Candidate>>,
    choices: Option<Vec<Choice>>,
    #[serde(rename = "modelVersion", alias = "model_version")]
    model_version: Option<String>,
    model: Option<String>,
    #[serde(rename = "responseId", alias = "response_id")]
    response_id: Option<String>,
    id: Option<String>,
    error: Option<ErrorBody>,
    /// `promptFeedback`: sent (in the first event of a stream) only when the prompt was blocked
    /// and no candidate was generated. Any JSON: an unexpected shape is ignored rather than
    /// failing the whole answer's reading.
    #[serde(rename = "promptFeedback", alias = "prompt_feedback")]
    prompt_feedback: Option<serde_json::Value>,
}

/// Longest block reason kept, in characters (the enum's longest is 26).
const MAX_BLOCK_REASON: usize = 64;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiUsage {
    prompt_token_count: u64,
    cached_content_token_count: u64,
    candidates_token_count: u64,
    thoughts_token_count: u64,
    tool_use_prompt_token_count: u64,
    total_token_count: u64,
    #[serde(alias = "promptTokenDetails")]
    prompt_tokens_details: Vec<ModalityCount>,
    cache_tokens_details: Vec<ModalityCount>,
    candidates_tokens_details: Vec<ModalityCount>,
    service_tier: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ModalityCount {
    modality: String,
    token_count: u64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OpenAiUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: Option<OpenAiPromptDetails>,
    completion_tokens_details: Option<OpenAiCompletionDetails>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OpenAiPromptDetails {
    cached_tokens: u64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OpenAiCompletionDetails {
    reasoning_tokens: u64,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Candidate {
    finish_reason: Option<String>,
    content: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Choice {
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorBody {
    code: Option<i64>,
    status: Option<String>,
}

impl GeminiUsage {
    fn into_usage(self) -> Usage {
        let of = |v: &[ModalityCount], name: &str| {
            v.iter()
                .filter(|m| m.modality.eq_ignore_ascii_case(name))
                .fold(0u64, |a, m| a.saturating_add(m.token_count))
        };
        let audio = |v: &[ModalityCount]| of(v, "AUDIO");
        Usage {
            output_image_tokens: of(&self.candidates_tokens_details, "IMAGE"),
            output_audio_tokens: of(&self.candidates_tokens_details, "AUDIO"),
            prompt_tokens: self.prompt_token_count,
            cached_tokens: self.cached_content_token_count,
            candidates_tokens: self.candidates_token_count,
            thoughts_tokens: self.thoughts_token_count,
            tool_use_prompt_tokens: self.tool_use_prompt_token_count,
            total_tokens: self.total_token_count,
            prompt_audio_tokens: audio(&self.prompt_tokens_details),
            cached_audio_tokens: audio(&self.cache_tokens_details),
            prompt_text_tokens: of(&self.prompt_tokens_details, "TEXT"),
            prompt_image_tokens: of(&self.prompt_tokens_details, "IMAGE"),
            cached_text_tokens: of(&self.cache_tokens_details, "TEXT"),
            cached_image_tokens: of(&self.cache_tokens_details, "IMAGE"),
            output_text_tokens: of(&self.candidates_tokens_details, "TEXT"),
            ..Usage::default()
        }
    }
}

impl OpenAiUsage {
    /// OpenAI counts reasoning inside `completion_tokens`; Gemini's OpenAI-compatible endpoint
    /// may count it beside (`total_tokens` = prompt + completion + reasoning, as its native
    /// usage does). The total tells which: either way the output is the answer plus the
    /// reasoning, once.
    fn into_usage(self) -> Usage {
        let reasoning = self
            .completion_tokens_details
            .map_or(0, |d| d.reasoning_tokens);
        let beside = reasoning > 0
            && self
                .prompt_tokens
                .checked_add(self.completion_tokens)
                .and_then(|n| n.checked_add(reasoning))
                == Some(self.total_tokens);
        let candidates = if beside {
            self.completion_tokens
        } else {
            self.completion_tokens.saturating_sub(reasoning)
        };
        Usage {
            prompt_tokens: self.prompt_tokens,
            cached_tokens: self.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
            candidates_tokens: candidates,
            thoughts_tokens: reasoning,
            total_tokens: self.total_tokens,
            ..Usage::default()
        }
    }
}

/// Parses one payload, tolerating an array wrapper (`[{...}]`, as errors of the array stream
/// and the OpenAI-compatible endpoint come).
fn parse_doc(payload: &[u8]) -> Result<Doc, serde_json::Error> {
    let trimmed = payload.trim_ascii_start();
    if trimmed.starts_with(b"[") {
        let mut docs: Vec<Doc> = serde_json::from_slice(trimmed)?;
        Ok(docs.pop().unwrap_or_default())
    } else {
        serde_json::from_slice(trimmed)
    }
}

fn apply(summary: &mut ResponseSummary, doc: Doc) {
    if let Some(u) = doc.usage_metadata {
        if let Some(t) = &u.service_tier {
            summary.service_tier = Some(crate::surfaces::normalize_tier(t));
        }
        summary.usage = Some(u.into_usage());
    } else if let Some(u) = doc.usage {
        summary.usage = Some(u.into_usage());
    }
    let reasons: Vec<String> = match (doc.candidates, doc.choices) {
        (Some(c), _) => c.into_iter().filter_map(|c| c.finish_reason).collect(),
        (None, Some(c)) => c.into_iter().filter_map(|c| c.finish_reason).collect(),
        _ => Vec::new(),
    };
    if !reasons.is_empty() {
        summary.finish_reasons = reasons;
    }
    if let Some(m) = doc.model_version.or(doc.model) {
        summary.response_model = Some(m);
    }
    if let Some(id) = doc.response_id.or(doc.id) {
        summary.response_id = Some(id);
    }
    if let Some(e) = doc.error {
        summary.error_status = e.status.or(e.code.map(|c| c.to_string()));
    }
    let feedback = doc.prompt_feedback.as_ref();
    let reason = feedback.and_then(|f| f.get("blockReason").or_else(|| f.get("block_reason")));
    if let Some(serde_json::Value::String(r)) = reason {
        let r: String = r.chars().take(MAX_BLOCK_REASON).collect();
        // No candidate was generated: the block reason is why generation ended, for the span
        // and for the completion hooks alike.
        if summary.finish_reasons.is_empty() {
            summary.finish_reasons = vec![r.clone()];
        }
        summary.block_reason = Some(r);
    }
}

/// Summarises an observed body.
pub fn summarize(observed: &Observed) -> ResponseSummary {
    let mut summary = ResponseSummary::default();
    if let Some(ev) = &observed.usage_event {
        if observed.truncated {
            match usage_from_tail(ev) {
                Some(u) => summary.usage = Some(u),
                None => summary.parse_error = Some("response larger than max_parse_bytes".into()),
            }
        } else {
            match parse_doc(ev) {
                Ok(doc) => apply(&mut summary, doc),
                Err(e) => summary.parse_error = Some(format!("invalid JSON in response: {e}")),
            }
        }
    }
    if let Some(ev) = &observed.last_event {
        match parse_doc(ev) {
            Ok(doc) => apply(&mut summary, doc),
            Err(e) if summary.parse_error.is_none() && !observed.truncated => {
                summary.parse_error = Some(format!("invalid JSON in response: {e}"))
            }
            Err(_) => {}
        }
    }
    if let Some(e) = observed
        .error_event
        .as_ref()
        .and_then(|ev| parse_doc(ev).ok())
        .and_then(|doc| doc.error)
    {
        summary.error_status = e.status.or(e.code.map(|c| c.to_string()));
    }
    summary
}

/// Adds Google Search grounding to the usage: the executed, non-empty `webSearchQueries` of the
/// last event that lists them (3.x bills per query, 2.5 per grounded prompt).
pub fn apply_grounding(observed: &Observed, summary: &mut ResponseSummary) {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct GDoc {
        candidates: Vec<GCandidate>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct GCandidate {
        #[serde(alias = "grounding_metadata")]
        grounding_metadata: Option<GMeta>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct GMeta {
        #[serde(alias = "web_search_queries")]
        web_search_queries: Vec<String>,
    }
    let Some(usage) = summary.usage.as_mut() else {
        return;
    };
    // Gemini sends `groundingMetadata` with the final candidate: the last usage event or the
    // last event (kept events, when a surface keeps any, come first in time).
    let candidates = [&observed.last_event, &observed.usage_event]
        .into_iter()
        .flatten()
        .chain(observed.kept.iter().rev().map(|(_, ev)| ev));
    let Some(doc) = candidates
        .filter(|ev| {
            crate::observe::framer::finder!(b"\"webSearchQueries\"")
                .find(ev)
                .is_some()
        })
        .find_map(|ev| parse_doc_as::<GDoc>(ev))
    else {
        return;
    };
    let metas: Vec<GMeta> = doc
        .candidates
        .into_iter()
        .filter_map(|c| c.grounding_metadata)
        .collect();
    if metas.is_empty() {
        return;
    }
    usage.grounded = true;
    usage.search_queries = metas
        .iter()
        .flat_map(|m| &m.web_search_queries)
        .filter(|q| !q.trim().is_empty())
        .count() as u64;
}

fn parse_doc_as<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Option<T> {
    let trimmed = payload.trim_ascii_start();
    if trimmed.starts_with(b"[") {
        serde_json::from_slice::<Vec<T>>(trimmed).ok()?.pop()
    } else {
        serde_json::from_slice(trimmed).ok()
    }
}

/// Finds `"usageMetadata": {...}` in the tail of a large document and parses that object alone.
fn usage_from_tail(tail: &[u8]) -> Option<Usage> {
    let key = memchr::memmem::rfind(tail, b"\"usageMetadata\"")?;
    let after = &tail[key + b"\"usageMetadata\"".len()..];
    let open = memchr::memchr(b'{', after)?;
    let obj = balanced_object(&after[open..])?;
    serde_json::from_slice::<GeminiUsage>(obj)
        .ok()
        .map(GeminiUsage::into_usage)
}

/// The prefix of `s` (starting at `{`) up to its matching `}`.
fn balanced_object(s: &[u8]) -> Option<&[u8]> {
    let (mut depth, mut in_str, mut esc) = (0u32, false, false);
    for (i, &b) in s.iter().enumerate() {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(&s[..=i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Concatenates the answer text of captured events, up to `max` bytes.
pub fn captured_text(observed: &Observed, max: usize) -> Option<String> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct TextDoc {
        candidates: Vec<TextCandidate>,
        choices: Vec<TextChoice>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct TextCandidate {
        content: TextContent,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct TextContent {
        parts: Vec<TextPart>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct TextPart {
        text: Option<String>,
        thought: bool,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct TextChoice {
        message: Option<TextMessage>,
        delta: Option<TextMessage>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct TextMessage {
        content: Option<String>,
    }
    if observed.captured.is_empty() {
        return None;
    }
    let mut out = String::new();
    for ev in &observed.captured {
        let Ok(doc) = serde_json::from_slice::<TextDoc>(ev) else {
            continue;
        };
        let texts = doc
            .candidates
            .into_iter()
            .take(1)
            .flat_map(|c| c.content.parts)
            .filter(|p| !p.thought)
            .filter_map(|p| p.text)
            .chain(
                doc.choices
                    .into_iter()
                    .take(1)
                    .filter_map(|c| c.message.or(c.delta).and_then(|m| m.content)),
            );
        for t in texts {
            out.push_str(&t);
        }
    }
    Some(crate::request::truncate_utf8(out, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary_of(body: &str) -> ResponseSummary {
        summarize(&Observed {
            usage_event: Some(body.as_bytes().to_vec()),
            events: 1,
            ..Observed::default()
        })
    }

    #[test]
    fn a_blocked_prompt_gives_its_reason_and_its_usage() {
        let s = summary_of(
            r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7}}"#,
        );
        assert_eq!(s.block_reason.as_deref(), Some("SAFETY"));
        assert_eq!(s.finish_reasons, ["SAFETY"]);
        assert_eq!(s.usage.map(|u| u.prompt_tokens), Some(7));
        assert!(s.parse_error.is_none());
    }

    #[test]
    fn a_hostile_block_reason_is_bounded_or_ignored_and_the_usage_kept() {
        let long = "X".repeat(100_000);
        let s = summary_of(&format!(
            r#"{{"promptFeedback":{{"blockReason":"{long}"}},"usageMetadata":{{"promptTokenCount":3}}}}"#
        ));
        assert_eq!(s.block_reason.map(|r| r.len()), Some(MAX_BLOCK_REASON));
        for odd in [
            r#"{"blockReason":17}"#,
            r#"{"blockReason":null}"#,
            r#"{"blockReason":{"a":1}}"#,
            r#"{"blockReason":["SAFETY"]}"#,
            "5",
            r#""SAFETY""#,
            "[]",
        ] {
            let s = summary_of(&format!(
                r#"{{"promptFeedback":{odd},"usageMetadata":{{"promptTokenCount":3}}}}"#
            ));
            assert_eq!(s.block_reason, None, "{odd}");
            assert_eq!(s.usage.map(|u| u.prompt_tokens), Some(3), "{odd}");
            assert!(s.parse_error.is_none(), "{odd}");
        }
    }
}
