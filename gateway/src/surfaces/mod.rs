//! One module per Gemini surface. Each owns recognising its requests, reading usage, the served
//! model and tier from its answers (unary and streamed), and its span names and attributes.
//!
//! [`SURFACES`] is the registry: [`classify`] asks each surface in order and the first that
//! recognises the path wins; [`unknown`] takes everything else. Adding a surface means adding a
//! module that implements [`Surface`] and listing it here. Every route is classified
//! [`Metering::Metered`], [`Metering::Free`], [`Metering::Deferred`] or [`Metering::Unknown`].

mod batch_files;
mod batches;
mod batches_wire;
mod caches;
mod caches_wire;
mod count_tokens;
mod embeddings;
mod files;
mod generate_content;
mod interactions;
mod interactions_steps;
mod interactions_wire;
mod live;
mod live_spans;
mod live_wire;
pub(crate) mod once;
mod openai_compat;
mod unknown;

use crate::observe::Observed;
use crate::payload::ResponseSummary;
use crate::route::{Framing, Route};
use gateway_plugin_sdk::{Metering, RequestInfo};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

pub use interactions::StepSpan;
pub use live::LiveSession;
pub(crate) use live_spans::{
    client_bytes as live_client_bytes, finish as finish_live, server_bytes as live_server_bytes,
    upgraded as live_upgraded,
};

/// Name of the OpenAI-compatible surface.
pub const OPENAI_COMPAT: &str = "openai_compat";

/// The parts of a request path the surfaces match on.
#[derive(Debug, Clone, Copy)]
pub struct PathParts<'a> {
    /// HTTP method, uppercase.
    pub method: &'a str,
    /// The whole path, without query.
    pub path: &'a str,
    /// The raw query, if any.
    pub query: Option<&'a str>,
    /// `v1beta` in `/v1beta/models/...` (empty for `/`).
    pub version: &'a str,
    /// What follows the version: `models/gemini-3.8-flash:generateContent`.
    pub rest: &'a str,
}

impl<'a> PathParts<'a> {
    /// Splits `path` into version and rest.
    pub fn new(method: &'a str, path: &'a str, query: Option<&'a str>) -> Self {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let (version, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        Self {
            method,
            path,
            query,
            version,
            rest,
        }
    }

    /// `collection/{name}:{method}` split into its three parts, when the path has that shape.
    pub fn model_method(&self) -> Option<(&'a str, &'a str, &'a str)> {
        let (resource, method) = self.rest.rsplit_once(':')?;
        let (collection, name) = resource.split_once('/')?;
        if name.is_empty() || (name.contains('/') && collection != "tunedModels") {
            return None;
        }
        Some((collection, name, method))
    }
}

/// What a surface knows when it reads an answer.
#[derive(Debug, Clone, Copy)]
pub struct AnswerCtx<'a> {
    /// The route as classified.
    pub route: &'a Route,
    /// The request path, without query (ids of resources the answer does not name).
    pub path: &'a str,
    /// The parsed request.
    pub info: &'a RequestInfo,
    /// The tier from the response header `x-gemini-service-tier`, lowercase.
    pub header_tier: Option<&'a str>,
    /// The status the upstream answered with.
    pub upstream_status: Option<u16>,
    /// The request body as kept for parsing (empty when over the cap).
    pub body: &'a [u8],
    /// Wall-clock start of the LLM call (for step spans of unary answers).
    pub llm_start: SystemTime,
    /// Wall-clock end of the LLM call.
    pub llm_end: SystemTime,
}

/// A Gemini surface.
pub trait Surface: Send + Sync + 'static {
    /// Short name, stored as `gateway.surface`.
    fn name(&self) -> &'static str;

    /// Recognises a request by method and path; `None` when the path is not this surface's.
    fn classify(&self, parts: &PathParts<'_>) -> Option<Route>;

    /// The JSON key whose presence marks an event that carries usage.
    fn usage_needle(&self) -> &'static [u8] {
        b"\"usageMetadata\""
    }

    /// Events kept in full with their arrival time (bounded), e.g. Interactions steps.
    fn keep_event(&self, _payload: &[u8]) -> bool {
        false
    }

    /// Fills request fields only this surface's body has.
    fn refine_request(&self, _body: &[u8], _info: &mut RequestInfo) {}

    /// Reads usage, the served model and tier, finish reasons and ids from the answer.
    fn summarize(&self, observed: &Observed, answer: &AnswerCtx<'_>) -> ResponseSummary {
        let mut s = crate::payload::summarize(observed);
        crate::payload::apply_grounding(observed, &mut s);
        s.service_tier = s
            .service_tier
            .take()
            .or_else(|| answer.header_tier.map(str::to_owned));
        s
    }

    /// Name of the LLM span when the request names no model.
    fn llm_span_name(&self, info: &RequestInfo, route: &Route) -> String {
        match (&info.operation, &info.model) {
            (Some(op), Some(m)) => format!("{op} {m}"),
            (Some(op), None) => op.clone(),
            _ => route.template.clone(),
        }
    }
}

/// The registered surfaces, asked in this order.
pub static SURFACES: &[&dyn Surface] = &[
    &generate_content::GenerateContent,
    &count_tokens::CountTokens,
    &embeddings::Embeddings,
    &batches::Batches,
    &caches::Caches,
    &interactions::Interactions,
    &openai_compat::OpenAiCompat,
    &files::Files,
    &live::Live,
];

/// The surface of paths nobody recognises.
pub fn unknown() -> &'static dyn Surface {
    &unknown::Unknown
}

/// Classifies a request: the first registered surface that recognises it, else [`unknown`].
pub fn classify(method: &str, path: &str, query: Option<&str>) -> Route {
    let parts = PathParts::new(method, path, query);
    SURFACES
        .iter()
        .find_map(|s| s.classify(&parts))
        .unwrap_or_else(|| unknown::Unknown.route(&parts))
}

/// A route skeleton for `surface`: JSON framing, no model, no stream.
pub(crate) fn route(surface: &'static dyn Surface, metering: Metering, template: String) -> Route {
    Route {
        model: None,
        operation: None,
        stream: false,
        framing: Framing::Json,
        template,
        surface: crate::route::SurfaceRef(surface),
        metering,
        upload: false,
    }
}

/// When the billed work of a deferred call was made, from the time its answer states (a
/// background interaction's `created`, a batch job's `createTime`, RFC 3339): prices carry
/// dates, and the poll that meters the work may fall on another day's rates. `None` when the
/// time is missing or not a timestamp.
pub fn work_created_at(stated: Option<&str>) -> Option<std::time::SystemTime> {
    let ns = gateway_cost::parse_timestamp(stated?)?;
    let ns = u64::try_from(ns).ok()?;
    std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_nanos(ns))
}

/// Lowercase service tier from any of Gemini's spellings (`FLEX`, `SERVICE_TIER_FLEX`, `flex`).
pub fn normalize_tier(raw: &str) -> String {
    let t = raw.trim().to_ascii_lowercase();
    t.strip_prefix("service_tier_").unwrap_or(&t).to_owned()
}

#[cfg(test)]
mod tests;

static UNMETERED: AtomicU64 = AtomicU64::new(0);
static DECODE_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Counts an answer that carried usage on a path no surface recognises.
pub fn count_unmetered() {
    UNMETERED.fetch_add(1, Ordering::Relaxed);
}

/// Answers with usage on unrecognised paths so far (`gateway_unmetered_usage_total`).
pub fn unmetered() -> u64 {
    UNMETERED.load(Ordering::Relaxed)
}

/// Counts an answer the observer could not fully decode (corrupt, unsupported or a bomb).
pub fn count_decode_error() {
    DECODE_ERRORS.fetch_add(1, Ordering::Relaxed);
}

/// Answers not fully decoded so far (`gateway_response_decode_errors_total`).
pub fn decode_errors() -> u64 {
    DECODE_ERRORS.load(Ordering::Relaxed)
}

/// Whether `served` is another model than `asked` (auto-routing), not just a more precise
/// name of the same one (`gemini-3.8-flash` answered as `gemini-3.8-flash-001` is not routed).
pub fn is_routed(asked: &str, served: &str) -> bool {
    let a = asked.strip_prefix("models/").unwrap_or(asked);
    let s = served.strip_prefix("models/").unwrap_or(served);
    !(s.starts_with(a) || a.starts_with(s))
}

/// Token counts above this are not plausible usage (2^53, the largest integer every consumer
/// of the JSON and the SQLite columns holds exactly).
pub const MAX_TOKENS: u64 = 1 << 53;

/// Refuses implausible usage: a count above [`MAX_TOKENS`] (e.g. a u64::MAX from a broken or
/// hostile upstream) drops the usage and records why, so the call is flagged unpriced instead of
/// being priced at trillions of dollars or stored as a negative count.
pub fn sanity_check(summary: &mut ResponseSummary) {
    let Some(u) = &summary.usage else { return };
    let counts = [
        u.prompt_tokens,
        u.cached_tokens,
        u.candidates_tokens,
        u.thoughts_tokens,
        u.tool_use_prompt_tokens,
        u.total_tokens,
        u.prompt_audio_tokens,
        u.cached_audio_tokens,
        u.output_image_tokens,
        u.output_audio_tokens,
        u.search_queries,
    ];
    if counts.iter().any(|&c| c > MAX_TOKENS) {
        summary.usage = None;
        summary.parse_error = Some(format!(
            "implausible usage: a token count above {MAX_TOKENS} was ignored"
        ));
    }
}
