//! The context-cache wire types as far as metering needs them (camelCase, as the google-genai
//! SDK's `_CachedContent_from_mldev` reads them): a `CachedContent` is
//! `{name: "cachedContents/{id}", model: "models/…", createTime, updateTime, expireTime,
//! usageMetadata: {totalTokenCount}}`. Times are RFC 3339; they become unix nanoseconds here,
//! capped at `i64::MAX` (year 2262): a TTL of years is kept, never wrapped around.

use serde::Deserialize;

/// A `CachedContent` as create, PATCH and GET answer it.
#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct CachedContent {
    pub name: Option<String>,
    pub model: Option<String>,
    pub create_time: Option<String>,
    pub update_time: Option<String>,
    pub expire_time: Option<String>,
    pub usage_metadata: Option<CacheUsage>,
}

/// `CachedContentUsageMetadata`: only the total is billed for storage.
#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct CacheUsage {
    pub total_token_count: Option<serde_json::Value>,
}

/// The create request: the model it names.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct CreateRequest {
    pub model: Option<String>,
}

impl CachedContent {
    /// `totalTokenCount` (an int, or an int64 sent as a string).
    pub fn tokens(&self) -> Option<u64> {
        let v = self.usage_metadata.as_ref()?.total_token_count.as_ref()?;
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    }

    /// The model without `models/`.
    pub fn model(&self) -> Option<String> {
        let m = self.model.as_deref()?;
        Some(m.strip_prefix("models/").unwrap_or(m).to_owned())
    }
}

/// Unix nanoseconds of an RFC 3339 time, capped at `i64::MAX`; `None` when unreadable or
/// before 1970.
pub fn unix_nanos(t: Option<&str>) -> Option<i64> {
    let n = gateway_cost::parse_timestamp(t?)?;
    (n >= 0).then(|| i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_cached_content() {
        let c: CachedContent = serde_json::from_str(
            r#"{"name":"cachedContents/a","model":"models/gemini-3.8-flash",
                "createTime":"2026-12-01T00:00:00Z","expireTime":"9999-12-31T23:59:59Z",
                "usageMetadata":{"totalTokenCount":"42"}}"#,
        )
        .expect("json");
        assert_eq!(c.tokens(), Some(42));
        assert_eq!(c.model().as_deref(), Some("gemini-3.8-flash"));
        assert_eq!(unix_nanos(c.expire_time.as_deref()), Some(i64::MAX));
        assert_eq!(
            unix_nanos(c.create_time.as_deref()),
            Some(1_796_083_200_000_000_000)
        );
        assert_eq!(unix_nanos(Some("1969-12-31T23:59:59Z")), None);
        assert_eq!(unix_nanos(Some("soon")), None);
    }
}
