//! The Batch API: `:batchGenerateContent` and `:asyncBatchEmbedContent` create a job whose usage
//! arrives later (`GET batches/{id}`), so the create is deferred and the job resources are free
//! here. Metering the finished job belongs to this module.

use super::generate_content::path_model;
use super::{PathParts, Surface, route};
use crate::route::Route;
use gateway_plugin_sdk::Metering;
use gateway_plugin_sdk::semconv as sc;

/// The batch surface.
pub struct Batches;

impl Surface for Batches {
    fn name(&self) -> &'static str {
        "batches"
    }

    fn classify(&self, p: &PathParts<'_>) -> Option<Route> {
        if let Some((collection, name, method)) = p.model_method() {
            let op = match method {
                "batchGenerateContent" => sc::OP_GENERATE_CONTENT,
                "asyncBatchEmbedContent" => sc::OP_EMBEDDINGS,
                _ => return None,
            };
            let mut r = route(
                &Batches,
                Metering::Deferred,
                format!("/{}/{collection}/{{model}}:{method}", p.version),
            );
            r.model = Some(path_model(collection, name));
            r.operation = Some(op);
            return Some(r);
        }
        let rest = p.rest;
        if rest == "batches" || rest.starts_with("batches/") {
            let template = if rest.contains(':') {
                format!(
                    "/{}/batches/{{id}}:{}",
                    p.version,
                    rest.rsplit(':').next().unwrap_or("")
                )
            } else {
                crate::route::generic_template(p.version, rest)
            };
            return Some(route(&Batches, Metering::Free, template));
        }
        None
    }
}
