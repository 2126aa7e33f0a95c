//! Paths no surface recognises. They are forwarded and traced; an answer that still carries a
//! `usageMetadata` is priced when it names a model, and otherwise flagged unpriced and counted
//! as unmetered (`gateway_unmetered_usage_total`), never silently dropped.

use super::{PathParts, Surface, route};
use crate::route::{Route, generic_template};
use gateway_plugin_sdk::Metering;

/// The catch-all surface.
pub struct Unknown;

impl Unknown {
    /// The route of an unrecognised path.
    pub(super) fn route(&self, p: &PathParts<'_>) -> Route {
        let template = if p.version.is_empty() && p.rest.is_empty() {
            p.path.to_owned()
        } else {
            generic_template(p.version, p.rest)
        };
        route(&Unknown, Metering::Unknown, template)
    }
}

impl Surface for Unknown {
    fn name(&self) -> &'static str {
        "unknown"
    }

    fn classify(&self, p: &PathParts<'_>) -> Option<Route> {
        Some(self.route(p))
    }
}
