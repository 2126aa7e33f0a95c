//! Request features beyond plain text, shared by generateContent and the
//! Interactions API: Google Search grounding and image / audio output.

use serde::Serialize;
use serde_json::Value;

use crate::tokens::reply_words;
use crate::util::field;

/// Tokens of retrieved search content fed back to the model (tool-use input).
pub(crate) const SEARCH_TOOL_TOKENS: u64 = 12;
/// Output tokens of one generated image.
pub(crate) const IMAGE_TOKENS: u64 = 1290;
/// Output tokens of one generated audio clip (10 s at 25 tokens per second).
pub(crate) const AUDIO_TOKENS: u64 = 250;
/// A 1×1 PNG, the fake's generated image.
pub(crate) const TINY_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
/// 8 bytes of silence, the fake's generated audio.
pub(crate) const TINY_AUDIO: &str = "AAAAAAAAAAA=";

/// A non-text output modality asked with `responseModalities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Media {
    /// `IMAGE`.
    Image,
    /// `AUDIO`.
    Audio,
}

impl Media {
    /// Output tokens of the generated item.
    pub fn tokens(self) -> u64 {
        match self {
            Media::Image => IMAGE_TOKENS,
            Media::Audio => AUDIO_TOKENS,
        }
    }

    /// `MediaModality` spelling of generateContent (`IMAGE`).
    pub fn modality(self) -> &'static str {
        match self {
            Media::Image => "IMAGE",
            Media::Audio => "AUDIO",
        }
    }

    /// Interactions spelling (`image`).
    pub fn lower(self) -> &'static str {
        match self {
            Media::Image => "image",
            Media::Audio => "audio",
        }
    }
}

/// The first IMAGE or AUDIO entry of `generationConfig.responseModalities`,
/// `generation_config.response_modalities` or a top-level
/// `response_modalities` (Interactions), case-insensitively.
pub(crate) fn media_output(req: &Value) -> Option<Media> {
    let from_config = field(req, "generationConfig", "generation_config")
        .and_then(|g| field(g, "responseModalities", "response_modalities"));
    let list = from_config.or_else(|| field(req, "responseModalities", "response_modalities"))?;
    list.as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|m| match m.to_ascii_uppercase().as_str() {
            "IMAGE" => Some(Media::Image),
            "AUDIO" => Some(Media::Audio),
            _ => None,
        })
}

/// The request's `tools` as a list.
pub(crate) fn tools(req: &Value) -> &[Value] {
    req.get("tools")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Whether a tool is Google Search: `{"googleSearch": {}}`,
/// `{"google_search": {}}` or (Interactions) `{"type": "google_search"}`.
pub(crate) fn is_google_search(tool: &Value) -> bool {
    field(tool, "googleSearch", "google_search").is_some()
        || tool.get("type").and_then(Value::as_str) == Some("google_search")
}

/// Whether the request enables Google Search grounding.
pub(crate) fn wants_search(req: &Value) -> bool {
    tools(req).iter().any(is_google_search)
}

/// The two (non-empty) web search queries "executed" for `last_user_text`:
/// the reply's echoed snippet (or `fake gemini`) and the same + ` explained`.
pub(crate) fn search_queries(last_user_text: &str) -> [String; 2] {
    let words = reply_words(last_user_text);
    // Drop `Echo:` and the fixed three-word tail.
    let snippet = words
        .get(1..words.len().saturating_sub(3))
        .map(|w| w.join(" "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "fake gemini".to_string());
    [snippet.clone(), format!("{snippet} explained")]
}

#[derive(Serialize)]
struct Web {
    uri: String,
    title: String,
}

#[derive(Serialize)]
struct GroundingChunk {
    web: Web,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchEntryPoint {
    rendered_content: String,
}

/// `candidates[].groundingMetadata` of a grounded generateContent answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroundingMetadata {
    search_entry_point: SearchEntryPoint,
    grounding_chunks: Vec<GroundingChunk>,
    web_search_queries: Vec<String>,
}

impl GroundingMetadata {
    /// Two queries and one empty query (`""`, which Gemini does not bill),
    /// one web chunk per query and a search entry point.
    pub fn new(last_user_text: &str) -> GroundingMetadata {
        let queries = search_queries(last_user_text);
        GroundingMetadata {
            search_entry_point: SearchEntryPoint {
                rendered_content: entry_point_html(&queries),
            },
            grounding_chunks: (1..=queries.len())
                .map(|i| GroundingChunk {
                    web: Web {
                        uri: format!(
                            "https://vertexaisearch.cloud.google.com/grounding-api-redirect/fake-{i}"
                        ),
                        title: format!("example{i}.com"),
                    },
                })
                .collect(),
            web_search_queries: queries.into_iter().chain([String::new()]).collect(),
        }
    }
}

/// The HTML search-suggestion chips (`renderedContent` / `search_suggestions`).
pub(crate) fn entry_point_html(queries: &[String]) -> String {
    let chips: String = queries
        .iter()
        .map(|q| format!("<a class=\"chip\">{}</a>", q.replace('<', "&lt;")))
        .collect();
    format!("<div class=\"fake-search-entry\">{chips}</div>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_features() {
        let req = json!({"tools": [{"googleSearch": {}}],
            "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}});
        assert!(wants_search(&req));
        assert_eq!(media_output(&req), Some(Media::Image));
        let req = json!({"tools": [{"type": "google_search"}], "response_modalities": ["audio"]});
        assert!(wants_search(&req));
        assert_eq!(media_output(&req), Some(Media::Audio));
        assert!(!wants_search(
            &json!({"tools": [{"functionDeclarations": []}]})
        ));
        assert_eq!(media_output(&json!({})), None);
    }

    #[test]
    fn grounding_has_two_queries_and_an_empty_one() {
        let v = serde_json::to_value(GroundingMetadata::new("rust  async")).expect("json");
        assert_eq!(
            v["webSearchQueries"],
            json!(["rust async", "rust async explained", ""])
        );
        assert_eq!(search_queries("")[0], "fake gemini");
    }
}
