//! `models/{model}:generateContent` and `:streamGenerateContent` (SSE with `alt=sse`, else a JSON
//! array), on `models/` and `tunedModels/`. Usage is the last cumulative `usageMetadata`; the
//! served model is `modelVersion`; the tier is `usageMetadata.serviceTier` or the
//! `x-gemini-service-tier` header; grounding fees come from the
//! `webSearchQueries` of the final candidate.

use super::{PathParts, Surface, route};
use crate::route::{Framing, Route, percent_decode, query_param};
use gateway_plugin_sdk::Metering;
use gateway_plugin_sdk::semconv as sc;

/// The generateContent surface.
pub struct GenerateContent;

/// The model a `collection/{name}` path names.
pub(super) fn path_model(collection: &str, name: &str) -> String {
    match collection {
        "models" => percent_decode(name),
        other => format!("{other}/{}", percent_decode(name)),
    }
}

impl Surface for GenerateContent {
    fn name(&self) -> &'static str {
        "generate_content"
    }

    fn classify(&self, p: &PathParts<'_>) -> Option<Route> {
        let (collection, name, method) = p.model_method()?;
        let stream = match method {
            "generateContent" => false,
            "streamGenerateContent" => true,
            _ => return None,
        };
        let mut r = route(
            &GenerateContent,
            Metering::Metered,
            format!("/{}/{collection}/{{model}}:{method}", p.version),
        );
        r.model = Some(path_model(collection, name));
        r.operation = Some(sc::OP_GENERATE_CONTENT);
        r.stream = stream;
        if stream {
            r.framing = if query_param(p.query, "alt") == Some("sse") {
                Framing::Sse
            } else {
                Framing::JsonArray
            };
        }
        Some(r)
    }
}
