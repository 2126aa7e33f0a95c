//! `models/{model}:embedContent` and `:batchEmbedContents`. Since 2026 both answer with a
//! top-level `usageMetadata: {promptTokenCount, promptTokenDetails}` (no totalTokenCount), which
//! the SDKs drop and the gateway meters at the model's input rate.

use super::generate_content::path_model;
use super::{PathParts, Surface, route};
use crate::route::Route;
use gateway_plugin_sdk::Metering;
use gateway_plugin_sdk::semconv as sc;

/// The embeddings surface.
pub struct Embeddings;

impl Surface for Embeddings {
    fn name(&self) -> &'static str {
        "embeddings"
    }

    fn classify(&self, p: &PathParts<'_>) -> Option<Route> {
        let (collection, name, method) = p.model_method()?;
        if !matches!(method, "embedContent" | "batchEmbedContents") {
            return None;
        }
        let mut r = route(
            &Embeddings,
            Metering::Metered,
            format!("/{}/{collection}/{{model}}:{method}", p.version),
        );
        r.model = Some(path_model(collection, name));
        r.operation = Some(sc::OP_EMBEDDINGS);
        Some(r)
    }
}
