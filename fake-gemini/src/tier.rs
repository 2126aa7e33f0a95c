//! Service tiers (`flex | standard | priority`): what a request asks for,
//! what serves it, and where the answer says so.

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::errors::ApiError;
use crate::util::field;

/// Response header naming the tier that served a model call.
pub(crate) const TIER_HEADER: &str = "x-gemini-service-tier";
/// Request knob: `1` serves a `priority` request at `standard`.
const DOWNGRADE_KNOB: &str = "x-fake-tier-downgrade";

/// A service tier, spelled on the wire as the SDK's enums spell it
/// (`flex`, `standard`, `priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Tier {
    /// 50% off, best effort.
    Flex,
    /// The default.
    #[default]
    Standard,
    /// Paid fast lane; over its limit it is served at standard.
    Priority,
}

impl Tier {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Flex => "flex",
            Tier::Standard => "standard",
            Tier::Priority => "priority",
        }
    }

    /// Parse a requested tier, case-insensitively; the proto spelling
    /// (`SERVICE_TIER_FLEX`) and `unspecified` / `default` / `auto` (=
    /// standard) are accepted too.
    pub fn parse(s: &str) -> Option<Tier> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.strip_prefix("service_tier_").unwrap_or(&lower) {
            "flex" => Some(Tier::Flex),
            "standard" | "unspecified" | "default" | "auto" | "" => Some(Tier::Standard),
            "priority" => Some(Tier::Priority),
            _ => None,
        }
    }
}

impl Serialize for Tier {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The tier that serves a request: `serviceTier` / `service_tier` of `body`
/// (default standard), with `priority` downgraded to `standard` when the
/// request carries `x-fake-tier-downgrade: 1`. An unknown value is a 400.
pub(crate) fn served_tier(body: &Value, headers: &HeaderMap) -> Result<Tier, ApiError> {
    let asked = match field(body, "serviceTier", "service_tier") {
        None => Tier::Standard,
        Some(v) => Tier::parse(v.as_str().unwrap_or("?")).ok_or_else(|| {
            ApiError::new(
                400,
                format!(
                    "Invalid value at 'service_tier' \
                     (type.googleapis.com/google.ai.generativelanguage.v1beta.ServiceTier), {v}"
                ),
            )
        })?,
    };
    let downgrade = headers
        .get(DOWNGRADE_KNOB)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches!(v.trim(), "1" | "true"));
    Ok(if asked == Tier::Priority && downgrade {
        Tier::Standard
    } else {
        asked
    })
}

/// Set the `x-gemini-service-tier` header of `resp`.
pub(crate) fn set_header(resp: &mut Response, tier: Tier) {
    resp.headers_mut()
        .insert(TIER_HEADER, HeaderValue::from_static(tier.as_str()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_and_downgrade() {
        let mut h = HeaderMap::new();
        let t = |body: Value, h: &HeaderMap| served_tier(&body, h).map_err(|e| e.code());
        assert_eq!(t(json!({}), &h), Ok(Tier::Standard));
        assert_eq!(t(json!({"serviceTier": "FLEX"}), &h), Ok(Tier::Flex));
        assert_eq!(
            t(json!({"service_tier": "priority"}), &h),
            Ok(Tier::Priority)
        );
        let proto = json!({"service_tier": "SERVICE_TIER_PRIORITY"});
        assert_eq!(t(proto, &h), Ok(Tier::Priority));
        assert_eq!(t(json!({"serviceTier": "gold"}), &h), Err(400));
        assert_eq!(t(json!({"serviceTier": 3}), &h), Err(400));
        h.insert(DOWNGRADE_KNOB, HeaderValue::from_static("1"));
        assert_eq!(
            t(json!({"serviceTier": "priority"}), &h),
            Ok(Tier::Standard)
        );
        assert_eq!(t(json!({"serviceTier": "flex"}), &h), Ok(Tier::Flex));
        assert_eq!(serde_json::to_value(Tier::Flex).ok(), Some(json!("flex")));
    }
}
