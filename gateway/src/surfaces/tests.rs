//! Classification of every surface's paths.

use super::*;
use gateway_plugin_sdk::Metering;

fn c(method: &str, path: &str, query: Option<&str>) -> Route {
    classify(method, path, query)
}

#[test]
fn every_path_has_a_surface_and_a_metering_class() {
    let cases = [
        (
            "POST",
            "/v1beta/models/gemini-3.8-flash:generateContent",
            "generate_content",
            Metering::Metered,
        ),
        (
            "POST",
            "/v1/models/gemini-3.8-flash:streamGenerateContent",
            "generate_content",
            Metering::Metered,
        ),
        (
            "POST",
            "/v1beta/models/gemini-3.8-flash:countTokens",
            "count_tokens",
            Metering::Free,
        ),
        (
            "POST",
            "/v1beta/models/gemini-embedding-2:embedContent",
            "embeddings",
            Metering::Metered,
        ),
        (
            "POST",
            "/v1beta/models/gemini-embedding-2:batchEmbedContents",
            "embeddings",
            Metering::Metered,
        ),
        (
            "POST",
            "/v1beta/models/gemini-3.8-flash:batchGenerateContent",
            "batches",
            Metering::Deferred,
        ),
        ("GET", "/v1beta/batches/abc", "batches", Metering::Free),
        (
            "POST",
            "/v1beta/interactions",
            "interactions",
            Metering::Metered,
        ),
        (
            "GET",
            "/v1beta/interactions/v1_abc",
            "interactions",
            Metering::Metered,
        ),
        (
            "POST",
            "/v1beta/interactions/v1_abc/cancel",
            "interactions",
            Metering::Free,
        ),
        (
            "DELETE",
            "/v1beta/interactions/v1_abc",
            "interactions",
            Metering::Free,
        ),
        (
            "POST",
            "/v1beta/openai/chat/completions",
            "openai_compat",
            Metering::Metered,
        ),
        (
            "GET",
            "/v1beta/openai/models",
            "openai_compat",
            Metering::Free,
        ),
        ("POST", "/upload/v1beta/files", "files", Metering::Free),
        ("GET", "/v1beta/files/abc", "files", Metering::Free),
        ("GET", "/v1beta/models", "files", Metering::Free),
        ("GET", "/v1beta/cachedContents", "caches", Metering::Free),
        (
            "POST",
            "/v1beta/cachedContents",
            "caches",
            Metering::Metered,
        ),
        (
            "PATCH",
            "/v1beta/cachedContents/c",
            "caches",
            Metering::Free,
        ),
        (
            "DELETE",
            "/v1beta/cachedContents/c",
            "caches",
            Metering::Free,
        ),
        ("GET", "/v1beta/files/f:download", "batches", Metering::Free),
        (
            "POST",
            "/v1beta/somethingNew:doIt",
            "unknown",
            Metering::Unknown,
        ),
        ("GET", "/", "unknown", Metering::Unknown),
    ];
    for (method, path, surface, metering) in cases {
        let r = c(method, path, None);
        assert_eq!(
            (r.surface().name(), r.metering),
            (surface, metering),
            "{method} {path}"
        );
    }
}

#[test]
fn interactions_operations_and_templates() {
    let r = c("POST", "/v1beta/interactions", None);
    assert_eq!(r.operation, Some("generate_content"));
    assert_eq!(r.template, "/v1beta/interactions");
    let r = c("GET", "/v1/interactions/abc", Some("stream=true"));
    assert_eq!((r.operation, r.stream), (Some("fetch_response"), true));
    assert_eq!(r.template, "/v1/interactions/{id}");
}

#[test]
fn tiers_normalise_and_routing_is_not_a_suffix() {
    assert_eq!(normalize_tier("FLEX"), "flex");
    assert_eq!(normalize_tier("SERVICE_TIER_PRIORITY"), "priority");
    assert!(is_routed("gemini-3.7-flash", "gemini-3.8-flash"));
    assert!(!is_routed("gemini-3.8-flash", "gemini-3.8-flash-001"));
    assert!(!is_routed("models/gemini-3.8-flash", "gemini-3.8-flash"));
}
