//! Parses a request body into [`RequestInfo`], accepting camelCase and snake_case at every level.
//!
//! The body is forwarded untouched whatever happens here: a parse failure is only recorded.

use crate::route::Route;
use gateway_plugin_sdk::{GenerationParams, RequestInfo};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Body<'a> {
    #[serde(alias = "system_instruction", borrow)]
    system_instruction: Option<&'a RawValue>,
    #[serde(borrow)]
    contents: Option<Vec<Content<'a>>>,
    #[serde(alias = "generation_config")]
    generation_config: Option<GenConfig>,
    #[serde(alias = "cached_content")]
    cached_content: Option<IgnoredAny>,
    #[serde(alias = "service_tier")]
    service_tier: Option<String>,
    #[serde(alias = "generate_content_request", borrow)]
    generate_content_request: Option<Box<Body<'a>>>,
    // OpenAI-compatible fields.
    model: Option<String>,
    stream: Option<bool>,
    #[serde(borrow)]
    messages: Option<Vec<&'a RawValue>>,
    temperature: Option<f64>,
    #[serde(rename = "top_p")]
    top_p: Option<f64>,
    #[serde(rename = "max_tokens", alias = "max_completion_tokens")]
    max_tokens: Option<i64>,
    stop: Option<StopSeq>,
    seed: Option<i64>,
    n: Option<i64>,
    #[serde(rename = "presence_penalty")]
    presence_penalty: Option<f64>,
    #[serde(rename = "frequency_penalty")]
    frequency_penalty: Option<f64>,
    #[serde(rename = "reasoning_effort")]
    reasoning_effort: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StopSeq {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Content<'a> {
    #[serde(borrow)]
    parts: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GenConfig {
    temperature: Option<f64>,
    #[serde(alias = "top_p")]
    top_p: Option<f64>,
    #[serde(alias = "top_k")]
    top_k: Option<f64>,
    #[serde(alias = "max_output_tokens")]
    max_output_tokens: Option<i64>,
    #[serde(alias = "stop_sequences")]
    stop_sequences: Option<Vec<String>>,
    seed: Option<i64>,
    #[serde(alias = "candidate_count")]
    candidate_count: Option<i64>,
    #[serde(alias = "presence_penalty")]
    presence_penalty: Option<f64>,
    #[serde(alias = "frequency_penalty")]
    frequency_penalty: Option<f64>,
    #[serde(alias = "response_mime_type")]
    response_mime_type: Option<String>,
    #[serde(alias = "response_modalities")]
    response_modalities: Option<Vec<String>>,
    #[serde(alias = "thinking_config")]
    thinking_config: Option<ThinkingConfig>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ThinkingConfig {
    #[serde(alias = "thinking_budget")]
    thinking_budget: Option<i64>,
    #[serde(alias = "thinking_level")]
    thinking_level: Option<String>,
    #[serde(alias = "include_thoughts")]
    include_thoughts: Option<bool>,
}

/// Prompt text kept when capture is on.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CapturedPrompt {
    /// `contents` (or `messages`) as JSON, truncated.
    pub messages: Option<String>,
    /// `systemInstruction` as JSON, truncated.
    pub system: Option<String>,
}

/// Parses `body` for `route`. `capture_max` > 0 also returns the prompt text.
pub fn parse(route: &Route, body: &[u8], capture_max: usize) -> (RequestInfo, CapturedPrompt) {
    let mut info = RequestInfo {
        model: route.model.clone(),
        operation: route.operation.map(str::to_owned),
        stream: route.stream,
        body_bytes: body.len() as u64,
        ..RequestInfo::default()
    };
    let mut captured = CapturedPrompt::default();
    if body.is_empty() || route.upload {
        return (info, captured);
    }
    let parsed: Body<'_> = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => {
            info.parse_error = Some(format!("request body is not valid JSON: {e}"));
            return (info, captured);
        }
    };
    let body = match parsed.generate_content_request {
        Some(inner) if parsed.contents.is_none() => *inner,
        _ => parsed,
    };
    info.service_tier = body
        .service_tier
        .as_deref()
        .map(crate::surfaces::normalize_tier);
    if route.is_openai() {
        if let Some(m) = &body.model {
            info.model = Some(m.strip_prefix("models/").unwrap_or(m).to_owned());
        }
        info.stream = body.stream.unwrap_or(false);
        info.contents = body.messages.as_ref().map_or(0, |m| m.len() as u32);
        info.parts = info.contents;
        info.system_instruction = body.messages.as_ref().is_some_and(|m| {
            m.iter().any(|raw| {
                raw.get().contains("\"role\":\"system\"")
                    || raw.get().contains("\"role\": \"system\"")
            })
        });
        info.generation = GenerationParams {
            temperature: body.temperature,
            top_p: body.top_p,
            max_output_tokens: body.max_tokens,
            stop_sequences: match body.stop {
                Some(StopSeq::One(s)) => vec![s],
                Some(StopSeq::Many(v)) => v,
                None => Vec::new(),
            },
            seed: body.seed,
            candidate_count: body.n,
            presence_penalty: body.presence_penalty,
            frequency_penalty: body.frequency_penalty,
            thinking_level: body.reasoning_effort,
            ..GenerationParams::default()
        };
        if capture_max > 0 {
            captured.messages = body
                .messages
                .as_ref()
                .map(|m| truncate_utf8(raw_list_json(m), capture_max));
        }
        return (info, captured);
    }
    if let Some(contents) = &body.contents {
        info.contents = contents.len() as u32;
        info.parts = contents
            .iter()
            .map(|c| c.parts.as_ref().map_or(0, |p| p.len() as u32))
            .sum();
    }
    info.system_instruction = body.system_instruction.is_some();
    info.cached_content = body.cached_content.is_some();
    if let Some(g) = body.generation_config {
        let thinking = g.thinking_config.unwrap_or_default();
        info.generation = GenerationParams {
            temperature: g.temperature,
            top_p: g.top_p,
            top_k: g.top_k,
            max_output_tokens: g.max_output_tokens,
            stop_sequences: g.stop_sequences.unwrap_or_default(),
            seed: g.seed,
            candidate_count: g.candidate_count,
            presence_penalty: g.presence_penalty,
            frequency_penalty: g.frequency_penalty,
            response_mime_type: g.response_mime_type,
            response_modalities: g.response_modalities.unwrap_or_default(),
            thinking_budget: thinking.thinking_budget,
            thinking_level: thinking.thinking_level,
            include_thoughts: thinking.include_thoughts,
        };
    }
    if capture_max > 0 {
        captured.system = body
            .system_instruction
            .map(|raw| truncate_utf8(raw.get().to_owned(), capture_max));
        captured.messages = body.contents.as_ref().map(|c| {
            let parts: Vec<&RawValue> = c
                .iter()
                .flat_map(|c| c.parts.iter().flatten().copied())
                .collect();
            truncate_utf8(raw_list_json(&parts), capture_max)
        });
    }
    (info, captured)
}

fn raw_list_json(items: &[&RawValue]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.get());
    }
    out.push(']');
    out
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub fn truncate_utf8(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while cut > 0 && !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::classify;

    #[test]
    fn camel_and_snake_case_give_the_same_info() {
        let route = classify("/v1beta/models/gemini-2.5-flash:generateContent", None);
        let camel = br#"{"contents":[{"role":"user","parts":[{"text":"a"},{"text":"b"}]}],
            "systemInstruction":{"parts":[{"text":"s"}]},
            "generationConfig":{"temperature":0.5,"topP":0.9,"topK":40,"maxOutputTokens":100,
            "stopSequences":["X"],"thinkingConfig":{"thinkingBudget":1024,"includeThoughts":true}}}"#;
        let snake = br#"{"contents":[{"role":"user","parts":[{"text":"a"},{"text":"b"}]}],
            "system_instruction":{"parts":[{"text":"s"}]},
            "generation_config":{"temperature":0.5,"top_p":0.9,"top_k":40,"max_output_tokens":100,
            "stop_sequences":["X"],"thinkingConfig":{"thinking_budget":1024,"include_thoughts":true}}}"#;
        let (a, _) = parse(&route, camel, 0);
        let (b, _) = parse(&route, snake, 0);
        assert_eq!(a.generation, b.generation);
        assert_eq!(a.contents, 1);
        assert_eq!(a.parts, 2);
        assert!(a.system_instruction && b.system_instruction);
        assert_eq!(a.generation.top_k, Some(40.0));
        assert_eq!(a.generation.thinking_budget, Some(1024));
        assert_eq!(a.body_bytes, camel.len() as u64);
    }

    #[test]
    fn malformed_json_is_recorded_not_fatal() {
        let route = classify("/v1beta/models/gemini-2.0-flash:generateContent", None);
        let (info, _) = parse(&route, b"{\"contents\": [", 0);
        assert!(
            info.parse_error
                .as_deref()
                .unwrap_or("")
                .contains("not valid JSON")
        );
        assert_eq!(info.model.as_deref(), Some("gemini-2.0-flash"));
    }

    #[test]
    fn openai_body_gives_model_and_stream() {
        let route = classify("/v1beta/openai/chat/completions", None);
        let body = br#"{"model":"models/gemini-2.0-flash","stream":true,"messages":[{"role":"system","content":"x"},{"role":"user","content":"hi"}],"max_tokens":5,"stop":"END"}"#;
        let (info, cap) = parse(&route, body, 100);
        assert_eq!(info.model.as_deref(), Some("gemini-2.0-flash"));
        assert!(info.stream);
        assert!(info.system_instruction);
        assert_eq!(info.contents, 2);
        assert_eq!(info.generation.stop_sequences, vec!["END".to_string()]);
        assert!(cap.messages.unwrap_or_default().contains("hi"));
    }

    #[test]
    fn count_tokens_wrapper_is_unwrapped() {
        let route = classify("/v1beta/models/gemini-2.0-flash:countTokens", None);
        let body = br#"{"generateContentRequest":{"model":"models/x","contents":[{"parts":[{"text":"a"}]},{"parts":[{"text":"b"}]}]}}"#;
        let (info, _) = parse(&route, body, 0);
        assert_eq!(info.contents, 2);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_utf8("héllo".into(), 2), "h…");
        assert_eq!(truncate_utf8("abc".into(), 3), "abc");
    }
}
