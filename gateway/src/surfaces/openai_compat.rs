//! The OpenAI-compatible endpoint under `/{version}/openai/`: chat completions and embeddings
//! are metered (model and stream flag from the body, usage from `usage`); its model listings are
//! free.

use super::{OPENAI_COMPAT, PathParts, Surface, route};
use crate::route::Route;
use gateway_plugin_sdk::Metering;
use gateway_plugin_sdk::semconv as sc;

/// The OpenAI-compatible surface.
pub struct OpenAiCompat;

impl Surface for OpenAiCompat {
    fn name(&self) -> &'static str {
        OPENAI_COMPAT
    }

    fn classify(&self, p: &PathParts<'_>) -> Option<Route> {
        let op = p.rest.strip_prefix("openai/")?;
        let (operation, metering, template) = match op.trim_end_matches('/') {
            "chat/completions" => (Some(sc::OP_CHAT), Metering::Metered, op.to_owned()),
            "embeddings" => (Some(sc::OP_EMBEDDINGS), Metering::Metered, op.to_owned()),
            _ => (None, Metering::Free, "{path}".to_owned()),
        };
        let mut r = route(
            &OpenAiCompat,
            metering,
            format!("/{}/openai/{template}", p.version),
        );
        r.operation = operation;
        Some(r)
    }

    fn usage_needle(&self) -> &'static [u8] {
        b"\"usage\""
    }
}
