//! Token counters of an interaction and its snake_case `usage` object
//! (`total_*_tokens`, `*_tokens_by_modality`, `grounding_tool_count`).

use serde::Serialize;

use crate::extras::Media;

/// `{"modality": "text", "tokens": N}` (Interactions spell modalities lowercase).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ModalityTokens {
    modality: &'static str,
    tokens: u64,
}

/// `{"type": "google_search", "count": N}`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GroundingToolCount {
    #[serde(rename = "type")]
    kind: &'static str,
    count: u64,
}

/// An Interaction's `usage`.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Usage {
    #[serde(skip_serializing_if = "Option::is_none")]
    total_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_thought_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_cached_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_tool_use_tokens: Option<u64>,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    input_tokens_by_modality: Vec<ModalityTokens>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    output_tokens_by_modality: Vec<ModalityTokens>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cached_tokens_by_modality: Vec<ModalityTokens>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_use_tokens_by_modality: Vec<ModalityTokens>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    grounding_tool_count: Vec<GroundingToolCount>,
}

/// Token counters of a whole interaction, a prefix of it, or one step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Input tokens (input + system instruction).
    pub input: u64,
    /// Cached part of `input`.
    pub cached: u64,
    /// Thought tokens.
    pub thought: u64,
    /// Text output tokens (reply words, or a function call).
    pub text_out: u64,
    /// Image / audio output tokens.
    pub media_out: u64,
    /// Which medium `media_out` counts.
    pub media: Option<Media>,
    /// Tool-use (retrieved search content) tokens.
    pub tool_use: u64,
    /// Non-empty search queries executed.
    pub searches: u64,
}

fn modality(name: &'static str, tokens: u64) -> Option<ModalityTokens> {
    (tokens > 0).then_some(ModalityTokens {
        modality: name,
        tokens,
    })
}

impl Counts {
    /// Field-wise sum.
    pub fn add(self, o: Counts) -> Counts {
        Counts {
            input: self.input + o.input,
            cached: self.cached + o.cached,
            thought: self.thought + o.thought,
            text_out: self.text_out + o.text_out,
            media_out: self.media_out + o.media_out,
            media: self.media.or(o.media),
            tool_use: self.tool_use + o.tool_use,
            searches: self.searches + o.searches,
        }
    }

    /// input + output + thought + tool use (cached is part of input).
    pub fn total(&self) -> u64 {
        self.input + self.text_out + self.media_out + self.thought + self.tool_use
    }

    /// Usage with every `total_*` field (0 included): the interaction's usage
    /// and the cumulative usage of stream events.
    pub fn usage(&self) -> Usage {
        self.render(true)
    }

    /// Usage of one step: only its non-zero `total_*` fields.
    pub fn step_usage(&self) -> Usage {
        self.render(false)
    }

    fn render(&self, all: bool) -> Usage {
        let n = |v: u64| (all || v > 0).then_some(v);
        let media = self.media.map_or("image", Media::lower);
        let output = [
            modality("text", self.text_out),
            modality(media, self.media_out),
        ];
        let grounding = (self.searches > 0).then_some(GroundingToolCount {
            kind: "google_search",
            count: self.searches,
        });
        Usage {
            total_input_tokens: n(self.input),
            total_output_tokens: n(self.text_out + self.media_out),
            total_thought_tokens: n(self.thought),
            total_cached_tokens: n(self.cached),
            total_tool_use_tokens: n(self.tool_use),
            total_tokens: self.total(),
            input_tokens_by_modality: modality("text", self.input).into_iter().collect(),
            output_tokens_by_modality: output.into_iter().flatten().collect(),
            cached_tokens_by_modality: modality("text", self.cached).into_iter().collect(),
            tool_use_tokens_by_modality: modality("text", self.tool_use).into_iter().collect(),
            grounding_tool_count: grounding.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn full_and_step_usage() {
        let c = Counts {
            input: 4,
            cached: 2,
            text_out: 3,
            media_out: 1290,
            media: Some(Media::Image),
            ..Counts::default()
        };
        let v = serde_json::to_value(c.usage()).expect("json");
        assert_eq!(v["total_thought_tokens"], 0);
        assert_eq!(v["total_output_tokens"], 1293);
        assert_eq!(v["total_tokens"], 1297);
        assert_eq!(
            v["output_tokens_by_modality"],
            json!([{"modality": "text", "tokens": 3}, {"modality": "image", "tokens": 1290}])
        );
        assert_eq!(v["cached_tokens_by_modality"][0]["tokens"], 2);
        let step = Counts {
            thought: 7,
            ..Counts::default()
        };
        let v = serde_json::to_value(step.step_usage()).expect("json");
        assert_eq!(v, json!({"total_thought_tokens": 7, "total_tokens": 7}));
    }
}
