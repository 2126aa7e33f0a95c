//! Free resources: uploads and files, models and their listings, tuned models,
//! operations, file-search stores, and the Interactions side resources (agents, environments,
//! triggers, webhooks). None of them reports billed usage; their answers are not parsed.

use super::{PathParts, Surface, route};
use crate::route::{Framing, Route, generic_template};
use gateway_plugin_sdk::Metering;

/// The free-resource surface.
pub struct Files;

const FREE_COLLECTIONS: &[&str] = &[
    "files",
    "models",
    "tunedModels",
    "operations",
    "fileSearchStores",
    "corpora",
    "agents",
    "environments",
    "triggers",
    "webhooks",
    "generatedFiles",
    "authTokens",
];

impl Surface for Files {
    fn name(&self) -> &'static str {
        "files"
    }

    fn classify(&self, p: &PathParts<'_>) -> Option<Route> {
        if p.path.starts_with("/upload/") {
            let mut r = route(&Files, Metering::Free, "/upload/{version}/files".into());
            r.upload = true;
            r.framing = Framing::Opaque;
            return Some(r);
        }
        if p.path.starts_with("/download/") {
            let mut r = route(
                &Files,
                Metering::Free,
                "/download/{version}/files/{id}".into(),
            );
            r.framing = Framing::Opaque;
            return Some(r);
        }
        let collection = p.rest.split(['/', ':']).next().unwrap_or("");
        if !FREE_COLLECTIONS.contains(&collection) {
            return None;
        }
        let mut r = route(&Files, Metering::Free, generic_template(p.version, p.rest));
        // Listings and metadata are small JSON; nothing in them is usage.
        r.framing = Framing::Opaque;
        Some(r)
    }
}
