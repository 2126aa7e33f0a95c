//! The Interactions API (`/{ver}/interactions`): the `Interaction` resource
//! and its steps here; [`create`] turns a request into one (by the
//! generateContent token rules, see the crate doc), [`api`] serves the
//! endpoints and keeps the store, [`stream`] renders the SSE events and
//! [`usage`] the snake_case `usage` object.

pub(crate) mod api;
pub(crate) mod create;
mod input;
pub(crate) mod stream;
pub(crate) mod usage;

use serde::Serialize;
use serde_json::Value;

use crate::extras::{Media, TINY_AUDIO, TINY_PNG};
use crate::tier::Tier;
pub(crate) use usage::Usage;

/// A content block (`{"type": "text", "text": …}`, image, audio).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Content {
    /// Text.
    Text { text: String },
    /// A generated image.
    Image {
        data: &'static str,
        mime_type: &'static str,
    },
    /// Generated audio.
    Audio {
        data: &'static str,
        mime_type: &'static str,
    },
}

impl Content {
    /// The generated item of medium `m`.
    pub fn media(m: Media) -> Content {
        match m {
            Media::Image => Content::Image {
                data: TINY_PNG,
                mime_type: "image/png",
            },
            Media::Audio => Content::Audio {
                data: TINY_AUDIO,
                mime_type: "audio/wav",
            },
        }
    }
}

/// `GoogleSearchCallArguments`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SearchArgs {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<String>,
}

/// `GoogleSearchResult`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SearchResult {
    pub search_suggestions: String,
}

/// A step of an interaction, tagged by `type`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Step {
    /// The model's (hidden) reasoning; only its signature is shown.
    Thought {
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// The answer.
    ModelOutput {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        content: Vec<Content>,
    },
    /// A Google Search the model ran.
    GoogleSearchCall {
        id: String,
        arguments: SearchArgs,
        #[serde(skip_serializing_if = "Option::is_none")]
        search_type: Option<&'static str>,
    },
    /// What that search returned.
    GoogleSearchResult {
        call_id: String,
        result: Vec<SearchResult>,
    },
    /// A call of a client-side function (status `requires_action`).
    FunctionCall {
        id: String,
        name: String,
        arguments: Value,
    },
}

/// The `Interaction` resource.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Interaction {
    pub id: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub steps: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    pub service_tier: Tier,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_interaction_id: Option<String>,
    pub created: String,
    pub updated: String,
}

impl Interaction {
    /// This interaction as it looks while it runs: `in_progress`, no steps,
    /// no usage.
    pub fn in_progress(&self) -> Interaction {
        Interaction {
            status: "in_progress",
            steps: Vec::new(),
            usage: None,
            updated: self.created.clone(),
            ..self.clone()
        }
    }
}
