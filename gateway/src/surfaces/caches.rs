//! Context caching: `POST /{v}/cachedContents` (create), `PATCH /{v}/cachedContents/{id}` (a
//! new `ttl` / `expireTime`), `DELETE /{v}/cachedContents/{id}`; `GET` and listings are free.
//!
//! The create is billed as input tokens: the CachedContent's `usageMetadata.totalTokenCount` at
//! the model's input rate (the served model is the answer's `model`). Storage is billed apart,
//! per token-hour while the cache lives: each create, PATCH and DELETE that succeeded puts a
//! cache event on its LLM span (`gateway.cache.event`, `.name`, `.tokens`, `.at_unix_nano`,
//! `.create_unix_nano`, `.expire_unix_nano`; the cost plugin adds the storage rate), and the
//! store keeps the cache's storage intervals from those spans: a create opens one that ends at
//! `expireTime`, a PATCH closes it at `updateTime` and opens the next, a DELETE closes it at the
//! gateway's clock. A PATCH or DELETE of a cache whose create the store never saw is flagged
//! there. Failed calls (a bad or negative `ttl` answers 400) record nothing and cost nothing.

use super::caches_wire::{CachedContent, CreateRequest, unix_nanos};
use super::{AnswerCtx, PathParts, Surface, route};
use crate::observe::Observed;
use crate::payload::ResponseSummary;
use crate::route::{Framing, Route};
use gateway_plugin_sdk::semconv as sc;
use gateway_plugin_sdk::{Metering, RequestInfo, Usage};
use opentelemetry::KeyValue;
use std::time::{SystemTime, UNIX_EPOCH};

/// The context-cache surface.
pub struct Caches;

const COLLECTION: &str = "cachedContents";

fn nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Surface for Caches {
    fn name(&self) -> &'static str {
        "caches"
    }

    fn classify(&self, p: &PathParts<'_>) -> Option<Route> {
        let rest = p.rest.strip_prefix(COLLECTION)?;
        let id = match rest.strip_prefix('/') {
            Some(id) if !id.is_empty() && !id.contains(['/', ':']) => Some(id),
            None if rest.is_empty() => None,
            _ => return None,
        };
        let template = match id {
            Some(_) => format!("/{}/{COLLECTION}/{{id}}", p.version),
            None => format!("/{}/{COLLECTION}", p.version),
        };
        let (metering, op) = match (p.method, id) {
            ("POST", None) => (Metering::Metered, Some(sc::OP_CREATE_CACHE)),
            ("PATCH", Some(_)) => (Metering::Free, Some(sc::OP_UPDATE_CACHE)),
            ("DELETE", Some(_)) => (Metering::Free, Some(sc::OP_DELETE_CACHE)),
            _ => (Metering::Free, None),
        };
        let mut r = route(&Caches, metering, template);
        r.operation = op;
        if op.is_none() {
            // Reads and listings: metadata only, not inspected.
            r.framing = Framing::Opaque;
        }
        Some(r)
    }

    fn refine_request(&self, body: &[u8], info: &mut RequestInfo) {
        if info.operation.as_deref() != Some(sc::OP_CREATE_CACHE) {
            return;
        }
        if let Ok(CreateRequest { model: Some(m) }) = serde_json::from_slice(body) {
            info.model = Some(m.strip_prefix("models/").unwrap_or(&m).to_owned());
        }
    }

    fn summarize(&self, observed: &Observed, answer: &AnswerCtx<'_>) -> ResponseSummary {
        let base = crate::payload::summarize(observed);
        let mut s = ResponseSummary {
            error_status: base.error_status,
            service_tier: answer.header_tier.map(str::to_owned),
            ..ResponseSummary::default()
        };
        let event = match answer.route.operation {
            Some(sc::OP_CREATE_CACHE) => "create",
            Some(sc::OP_UPDATE_CACHE) => "update",
            Some(sc::OP_DELETE_CACHE) => "delete",
            _ => return s,
        };
        let ok = answer
            .upstream_status
            .is_some_and(|c| (200..300).contains(&c));
        if !ok || s.error_status.is_some() {
            return s;
        }
        let now = nanos(answer.llm_end);
        let mut attrs = vec![KeyValue::new(sc::GATEWAY_CACHE_EVENT, event)];
        if event == "delete" {
            // The answer is `{}`: the cache is the one the path names.
            let id = answer.path.rsplit('/').next().unwrap_or_default();
            attrs.push(KeyValue::new(
                sc::GATEWAY_CACHE_NAME,
                format!("{COLLECTION}/{}", crate::route::percent_decode(id)),
            ));
            attrs.push(KeyValue::new(sc::GATEWAY_CACHE_AT, now));
            s.llm_attrs = attrs;
            return s;
        }
        let doc = observed
            .usage_event
            .as_ref()
            .or(observed.last_event.as_ref());
        let cache = match doc.map(|d| serde_json::from_slice::<CachedContent>(d)) {
            Some(Ok(c)) if c.name.is_some() => c,
            Some(Err(e)) => {
                s.parse_error = Some(format!("invalid CachedContent in response: {e}"));
                return s;
            }
            _ => {
                s.parse_error = Some("the answer names no cachedContents resource".into());
                return s;
            }
        };
        let tokens = cache.tokens();
        s.response_model = cache.model();
        if event == "create" {
            // Creating a cache bills its tokens as input.
            s.usage = tokens.map(|n| Usage {
                prompt_tokens: n,
                total_tokens: n,
                ..Usage::default()
            });
        }
        let created = unix_nanos(cache.create_time.as_deref());
        let at = match event {
            "create" => created,
            _ => unix_nanos(cache.update_time.as_deref()),
        }
        .unwrap_or(now);
        attrs.push(KeyValue::new(
            sc::GATEWAY_CACHE_NAME,
            cache.name.clone().unwrap_or_default(),
        ));
        attrs.push(KeyValue::new(sc::GATEWAY_CACHE_AT, at));
        if let Some(c) = created {
            attrs.push(KeyValue::new(sc::GATEWAY_CACHE_CREATED, c));
        }
        match tokens {
            Some(n) => attrs.push(KeyValue::new(
                sc::GATEWAY_CACHE_TOKENS,
                i64::try_from(n.min(super::MAX_TOKENS)).unwrap_or(i64::MAX),
            )),
            None => attrs.push(KeyValue::new(
                sc::GATEWAY_CACHE_UNPRICED_REASON,
                "no usageMetadata.totalTokenCount in the answer",
            )),
        }
        match unix_nanos(cache.expire_time.as_deref()) {
            Some(e) => attrs.push(KeyValue::new(sc::GATEWAY_CACHE_EXPIRE, e)),
            None => attrs.push(KeyValue::new(
                sc::GATEWAY_CACHE_UNPRICED_REASON,
                "no readable expireTime in the answer",
            )),
        }
        s.llm_attrs = attrs;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surfaces::classify;

    #[test]
    fn routes_are_classified() {
        let r = classify("POST", "/v1beta/cachedContents", None);
        assert_eq!(r.surface().name(), "caches");
        assert_eq!(
            (r.operation, r.metering),
            (Some(sc::OP_CREATE_CACHE), Metering::Metered)
        );
        let r = classify(
            "PATCH",
            "/v1beta/cachedContents/abc",
            Some("updateMask=ttl"),
        );
        assert_eq!(r.operation, Some(sc::OP_UPDATE_CACHE));
        assert_eq!(r.template, "/v1beta/cachedContents/{id}");
        let r = classify("DELETE", "/v1/cachedContents/abc", None);
        assert_eq!(r.operation, Some(sc::OP_DELETE_CACHE));
        let r = classify("GET", "/v1beta/cachedContents", None);
        assert_eq!((r.operation, r.framing), (None, Framing::Opaque));
        assert_eq!(r.metering, Metering::Free);
        let r = classify("GET", "/v1beta/cachedContentsX", None);
        assert_ne!(r.surface().name(), "caches");
    }
}
