//! Context-cache storage: the rate (USD per 1M token-hours) a cache create or TTL update is
//! stored at, written on the call's LLM span. The storage cost itself accrues over the cache's
//! life (tokens × hours × rate), so it is accounted by the store from these spans, not here.
//!
//! The rate is the `cache_storage_per_hour` of the standard row in force on the day of the
//! event, for the served model (the CachedContent's `model`) when the table knows it, else the
//! requested one. Storage is not a token rate: flex and batch rows never halve it.

use crate::PriceBook;
use gateway_plugin_sdk::prelude::*;
use gateway_plugin_sdk::semconv as sc;

/// Whether `call` opens a storage interval (a cache create or TTL update that succeeded).
pub(crate) fn opens_interval(call: &CompletedCall<'_>) -> bool {
    let op = call.request.info.operation.as_deref();
    matches!(op, Some(sc::OP_CREATE_CACHE | sc::OP_UPDATE_CACHE))
        && call.http_status.is_some_and(|s| s < 400)
        && call.status == "ok"
}

/// Writes the storage rate of `call`'s model on its LLM span, or why there is none.
pub(crate) fn write_rate(book: &PriceBook, call: &CompletedCall<'_>, out: &mut PluginOutput) {
    match rate(book, call) {
        Ok(r) => out.attr(Step::LlmCall, sc::GATEWAY_CACHE_STORAGE_RATE, r),
        Err(why) => out.attr(Step::LlmCall, sc::GATEWAY_CACHE_UNPRICED_REASON, why),
    }
}

fn rate(book: &PriceBook, call: &CompletedCall<'_>) -> Result<f64, String> {
    let requested = call.request.info.model.as_deref().filter(|m| !m.is_empty());
    let served = call.response_model.filter(|m| !m.is_empty());
    let model = served
        .filter(|s| book.key(s).is_some())
        .or(requested)
        .or(served)
        .ok_or("no model in the request or the response")?;
    let resolved = book.try_lookup(model, "standard", call.started_at)?;
    resolved
        .price
        .cache_storage_per_hour
        .ok_or_else(|| format!("no cache storage rate for {}", resolved.model))
}
