//! Deterministic token accounting and reply text (rules in the crate doc).

use serde::Serialize;
use serde_json::Value;

use crate::extras::{self, Media, SEARCH_TOOL_TOKENS};
use crate::tier::Tier;
use crate::util::field;

/// Thought tokens reported by thinking models.
pub(crate) const THOUGHT_TOKENS: u64 = 7;
/// Words appended after the echoed prompt snippet.
const REPLY_TAIL: [&str; 3] = ["(deterministic", "fake-gemini", "reply)"];
/// Characters of the last user text echoed in the reply.
const SNIPPET_CHARS: usize = 40;

/// Whitespace-separated words in `s`.
pub(crate) fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Thinking models: the name contains `2.5` or `3`.
pub(crate) fn is_thinking_model(model: &str) -> bool {
    model.contains("2.5") || model.contains('3')
}

/// Text parts of a `Content` (or a bare string) joined with spaces.
pub(crate) fn content_text(content: &Value) -> String {
    if let Some(s) = content.as_str() {
        return s.to_string();
    }
    let parts = match content.get("parts") {
        Some(Value::Array(parts)) => parts.as_slice(),
        Some(single @ Value::Object(_)) => std::slice::from_ref(single),
        _ => &[],
    };
    parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `contents` of a request as a list (a single object is accepted too).
fn contents_of(req: &Value) -> &[Value] {
    match req.get("contents") {
        Some(Value::Array(items)) => items.as_slice(),
        Some(one @ Value::Object(_)) => std::slice::from_ref(one),
        _ => &[],
    }
}

/// What the fake derives from a generate / countTokens request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prompt {
    /// `promptTokenCount` (>= 1).
    pub prompt_tokens: u64,
    /// `cachedContentTokenCount` (0 = absent).
    pub cached_tokens: u64,
    /// `thoughtsTokenCount` (0 = absent).
    pub thoughts_tokens: u64,
    /// Text of the last user turn.
    pub last_user_text: String,
    /// Google Search grounding was asked for (tools).
    pub grounded: bool,
    /// A non-text output modality was asked for (`responseModalities`).
    pub media: Option<Media>,
    /// The service tier that serves the request.
    pub tier: Tier,
    /// Thinking used the whole output budget (`generationConfig.maxOutputTokens` no more than
    /// the thoughts): the answer has no text, no `candidatesTokenCount` and finish reason
    /// `MAX_TOKENS`, and the thoughts are the budget.
    pub exhausted: bool,
}

impl Prompt {
    /// The words of the reply (none when thinking used the whole budget).
    pub fn reply_words(&self) -> Vec<String> {
        if self.exhausted {
            Vec::new()
        } else {
            reply_words(&self.last_user_text)
        }
    }
}

/// Whether thinking is switched off: `thinkingBudget` 0 or `thinkingLevel`
/// `minimal` in `generationConfig.thinkingConfig` (either spelling), or
/// `generation_config.thinking_level: "minimal"` (Interactions).
pub(crate) fn thinking_disabled(req: &Value) -> bool {
    let Some(config) = field(req, "generationConfig", "generation_config") else {
        return false;
    };
    let thinking = field(config, "thinkingConfig", "thinking_config");
    let budget_zero = thinking
        .and_then(|t| field(t, "thinkingBudget", "thinking_budget"))
        .is_some_and(|b| b.as_i64() == Some(0));
    let minimal = [thinking, Some(config)]
        .into_iter()
        .flatten()
        .filter_map(|c| field(c, "thinkingLevel", "thinking_level"))
        .any(|l| {
            l.as_str()
                .is_some_and(|l| l.eq_ignore_ascii_case("minimal"))
        });
    budget_zero || minimal
}

/// A model that can think but does not unless asked: Gemini 2.5 Flash-Lite's
/// default thinking budget is 0.
pub(crate) fn thinks_only_when_asked(model: &str) -> bool {
    model.contains("2.5-flash-lite")
}

/// Whether `model` thinks for a request (or Live setup) shaped like `req`: a
/// thinking model unless the request turns thinking off; a model that
/// [thinks only when asked](thinks_only_when_asked) when the request sets a
/// `thinkingBudget` other than 0 (−1 is dynamic).
pub(crate) fn thinks(model: &str, req: &Value) -> bool {
    if thinks_only_when_asked(model) {
        return field(req, "generationConfig", "generation_config")
            .and_then(|c| field(c, "thinkingConfig", "thinking_config"))
            .and_then(|t| field(t, "thinkingBudget", "thinking_budget"))
            .and_then(Value::as_i64)
            .is_some_and(|b| b != 0);
    }
    is_thinking_model(model) && !thinking_disabled(req)
}

/// Thought tokens of `model` for `req` (see [`THOUGHT_TOKENS`]).
pub(crate) fn thoughts_for(model: &str, req: &Value) -> u64 {
    if thinks(model, req) {
        THOUGHT_TOKENS
    } else {
        0
    }
}

/// Count the prompt of a `GenerateContentRequest`-shaped body for `model`.
pub(crate) fn analyze(model: &str, req: &Value) -> Prompt {
    let contents = contents_of(req);
    let mut total: u64 = contents.iter().map(|c| words(&content_text(c))).sum();
    if let Some(si) = field(req, "systemInstruction", "system_instruction") {
        total += words(&content_text(si));
    }
    let prompt_tokens = total.max(1);
    let last_user_text = contents
        .iter()
        .rev()
        .filter(|c| {
            c.get("role")
                .and_then(Value::as_str)
                .is_none_or(|r| r == "user")
        })
        .map(content_text)
        .find(|t| !t.trim().is_empty())
        .unwrap_or_default();
    let named = field(req, "cachedContent", "cached_content");
    let cached = named.is_some_and(|c| c.as_str().is_none_or(|s| !s.is_empty()));
    // A live cache of this fake: its tokens join the prompt and are the cached part.
    let stored = named
        .and_then(Value::as_str)
        .and_then(crate::caches::cached_tokens);
    let (prompt_tokens, cached_tokens) = match stored {
        Some(n) => (prompt_tokens.saturating_add(n), n),
        None if cached => (prompt_tokens, prompt_tokens / 2),
        None => (prompt_tokens, 0),
    };
    let thoughts = thoughts_for(model, req);
    let budget = field(req, "generationConfig", "generation_config")
        .and_then(|g| field(g, "maxOutputTokens", "max_output_tokens"))
        .and_then(Value::as_u64);
    let exhausted = thoughts > 0 && budget.is_some_and(|b| b <= thoughts);
    Prompt {
        prompt_tokens,
        cached_tokens,
        thoughts_tokens: if exhausted {
            budget.unwrap_or(thoughts)
        } else {
            thoughts
        },
        last_user_text,
        grounded: extras::wants_search(req),
        media: if exhausted {
            None
        } else {
            extras::media_output(req)
        },
        tier: Tier::Standard,
        exhausted,
    }
}

/// Words of the reply: `Echo: <first 40 chars of the last user text>
/// (deterministic fake-gemini reply)`.
pub(crate) fn reply_words(last_user_text: &str) -> Vec<String> {
    let collapsed = last_user_text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let snippet: String = collapsed.chars().take(SNIPPET_CHARS).collect();
    std::iter::once("Echo:")
        .chain(snippet.split_whitespace())
        .chain(REPLY_TAIL)
        .map(str::to_string)
        .collect()
}

/// Split `words` into `n` pieces whose concatenation is the reply text, each
/// with its cumulative word count. Pads with `more` when `n` exceeds the words.
pub(crate) fn pieces(words: &[String], n: usize) -> Vec<(String, u64)> {
    let n = n.max(1);
    let mut all = words.to_vec();
    while all.len() < n {
        all.push("more".to_string());
    }
    let len = all.len();
    (0..n)
        .map(|i| {
            let (start, end) = (i * len / n, (i + 1) * len / n);
            let joined = all[start..end].join(" ");
            let text = if i == 0 { joined } else { format!(" {joined}") };
            (text, end as u64)
        })
        .collect()
}

/// `{"modality":"TEXT","tokenCount":N}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ModalityCount {
    modality: &'static str,
    token_count: u64,
}

/// One text-modality detail list.
pub(crate) fn text_details(n: u64) -> Vec<ModalityCount> {
    vec![ModalityCount {
        modality: "TEXT",
        token_count: n,
    }]
}

/// Words of every text part of `content`s, minimum 1 (embedding usage).
pub(crate) fn embed_tokens<'a>(contents: impl IntoIterator<Item = &'a Value>) -> u64 {
    contents
        .into_iter()
        .map(|c| words(&content_text(c)))
        .sum::<u64>()
        .max(1)
}

/// `usageMetadata` of a response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Usage {
    prompt_token_count: u64,
    /// Absent (not 0) when nothing was generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    candidates_token_count: Option<u64>,
    total_token_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cached_content_token_count: Option<u64>,
    prompt_tokens_details: Vec<ModalityCount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_tokens_details: Option<Vec<ModalityCount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidates_tokens_details: Option<Vec<ModalityCount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_use_prompt_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_use_prompt_tokens_details: Option<Vec<ModalityCount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thoughts_token_count: Option<u64>,
    service_tier: Tier,
}

impl Usage {
    /// Usage of a blocked prompt: the prompt (and its cached part) only, nothing generated.
    pub fn blocked(prompt: &Prompt) -> Usage {
        let cached = (prompt.cached_tokens > 0).then_some(prompt.cached_tokens);
        Usage {
            prompt_token_count: prompt.prompt_tokens,
            candidates_token_count: None,
            total_token_count: prompt.prompt_tokens,
            cached_content_token_count: cached,
            prompt_tokens_details: text_details(prompt.prompt_tokens),
            cache_tokens_details: cached.map(text_details),
            candidates_tokens_details: None,
            tool_use_prompt_token_count: None,
            tool_use_prompt_tokens_details: None,
            thoughts_token_count: None,
            service_tier: prompt.tier,
        }
    }

    /// Usage for `prompt` after `words` output words; `media_done` adds the
    /// generated image / audio (the last event of a stream).
    pub fn new(prompt: &Prompt, words: u64, media_done: bool) -> Usage {
        let cached = (prompt.cached_tokens > 0).then_some(prompt.cached_tokens);
        let tool_use = prompt.grounded.then_some(SEARCH_TOOL_TOKENS);
        let media = prompt.media.filter(|_| media_done).map_or(0, Media::tokens);
        let candidates = words + media;
        let candidates_details = prompt.media.map(|m| {
            let mut d = text_details(words);
            if media_done {
                d.push(ModalityCount {
                    modality: m.modality(),
                    token_count: m.tokens(),
                });
            }
            d
        });
        Usage {
            prompt_token_count: prompt.prompt_tokens,
            candidates_token_count: (!prompt.exhausted).then_some(candidates),
            total_token_count: prompt.prompt_tokens
                + candidates
                + prompt.thoughts_tokens
                + tool_use.unwrap_or(0),
            cached_content_token_count: cached,
            prompt_tokens_details: text_details(prompt.prompt_tokens),
            cache_tokens_details: cached.map(text_details),
            candidates_tokens_details: candidates_details,
            tool_use_prompt_token_count: tool_use,
            tool_use_prompt_tokens_details: tool_use.map(text_details),
            thoughts_token_count: (prompt.thoughts_tokens > 0).then_some(prompt.thoughts_tokens),
            service_tier: prompt.tier,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flash_lite_2_5_thinks_only_when_asked() {
        let budget =
            |b: i64| json!({"generationConfig": {"thinkingConfig": {"thinkingBudget": b}}});
        let lite = "gemini-2.5-flash-lite";
        assert_eq!(thoughts_for(lite, &json!({})), 0, "default budget 0");
        assert_eq!(thoughts_for(lite, &budget(0)), 0);
        assert_eq!(thoughts_for(lite, &budget(1024)), THOUGHT_TOKENS);
        assert_eq!(thoughts_for(lite, &budget(-1)), THOUGHT_TOKENS, "dynamic");
        let snake = json!({"generation_config": {"thinking_config": {"thinking_budget": 512}}});
        assert_eq!(thoughts_for(lite, &snake), THOUGHT_TOKENS);
        // Thinking models think unless told not to.
        assert_eq!(
            thoughts_for("gemini-3.5-flash-lite", &json!({})),
            THOUGHT_TOKENS
        );
        assert_eq!(thoughts_for("gemini-3.8-flash", &budget(0)), 0);
    }

    #[test]
    fn counts_contents_and_system_instruction() {
        let req = json!({
            "contents": [
                {"role": "user", "parts": [{"text": "hello there"}, {"inlineData": {}}]},
                {"role": "model", "parts": [{"text": "hi"}]},
                {"role": "user", "parts": [{"text": "how  are\nyou"}]}
            ],
            "system_instruction": {"parts": [{"text": "be terse"}]},
            "cached_content": "cachedContents/x",
            "generationConfig": {"thinking_config": {"thinking_budget": 0}}
        });
        let p = analyze("gemini-2.5-flash", &req);
        assert_eq!(p.prompt_tokens, 8);
        assert_eq!(p.cached_tokens, 4);
        assert_eq!(p.thoughts_tokens, 0);
        assert_eq!(p.last_user_text, "how  are\nyou");
        assert_eq!(analyze("gemini-2.5-pro", &json!({})).thoughts_tokens, 7);
        assert_eq!(
            analyze("gemini-2.5-flash-lite", &json!({})).prompt_tokens,
            1
        );
    }

    #[test]
    fn reply_and_pieces() {
        let w = reply_words("how  are\nyou");
        assert_eq!(
            w.join(" "),
            "Echo: how are you (deterministic fake-gemini reply)"
        );
        let p = pieces(&w, 3);
        let text: String = p.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(text, w.join(" "));
        assert_eq!(p.last().map(|x| x.1), Some(7));
        let padded = pieces(&w, 10);
        assert_eq!(padded.len(), 10);
        assert!(padded.windows(2).all(|x| x[0].1 < x[1].1));
    }
}
