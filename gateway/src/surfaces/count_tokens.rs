//! `models/{model}:countTokens`: free. Its `totalTokens` is not usage.

use super::generate_content::path_model;
use super::{PathParts, Surface, route};
use crate::observe::Observed;
use crate::payload::ResponseSummary;
use crate::route::Route;
use gateway_plugin_sdk::Metering;
use gateway_plugin_sdk::semconv as sc;

/// The countTokens surface.
pub struct CountTokens;

impl Surface for CountTokens {
    fn name(&self) -> &'static str {
        "count_tokens"
    }

    fn classify(&self, p: &PathParts<'_>) -> Option<Route> {
        let (collection, name, method) = p.model_method()?;
        if method != "countTokens" {
            return None;
        }
        let mut r = route(
            &CountTokens,
            Metering::Free,
            format!("/{}/{collection}/{{model}}:countTokens", p.version),
        );
        r.model = Some(path_model(collection, name));
        r.operation = Some(sc::OP_COUNT_TOKENS);
        Some(r)
    }

    fn summarize(&self, observed: &Observed, _: &super::AnswerCtx<'_>) -> ResponseSummary {
        let mut s = crate::payload::summarize(observed);
        // `cachedContentTokenCount` may come back; nothing here is billed usage.
        s.usage = None;
        s
    }
}
