//! gateway.toml as both binaries load it: the shipped file, strictness, and the errors that
//! name what is wrong.

#![allow(clippy::unwrap_used)]

use gateway_config::{Config, ConfigError};
use std::path::Path;

fn load_text(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path)
}

#[test]
fn the_shipped_file_is_valid_and_documents_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.proxy.listen, "127.0.0.1:8080");
    assert_eq!(c.standalone_api_listen().to_string(), "127.0.0.1:8081");
    assert_eq!(c.thresholds.metrics.get("latency_ms"), Some(&10_000.0));
}

#[test]
fn an_empty_or_comment_only_file_is_rejected() {
    for text in ["", "\n\n", "# just a comment\n   \n# another\n"] {
        let e = load_text(text).unwrap_err().to_string();
        assert!(e.contains("empty or truncated"), "{e}");
    }
}

#[test]
fn a_file_cut_mid_value_is_rejected() {
    let e = load_text("[proxy]\nlisten = \"127.0.0.1:80")
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid config"), "{e}");
}

#[test]
fn thresholds_reject_unknown_metric_names_unless_plugins_may_emit_them() {
    let e = load_text("[thresholds]\nlatncy_ms = 5\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("latncy_ms") && e.contains("latency_ms"), "{e}");
    let e = load_text("[thresholds.models.\"gemini-3.8-flash\"]\nttft = 5\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"ttft\""), "{e}");
    load_text("[thresholds]\nttft_ms = 5\ncost_usd = 1\n").unwrap();
    // With a plugin library configured, its own metric names are accepted.
    let ok = load_text("[thresholds]\npii_matches = 3\n[[plugins]]\npath = \"libpii_tagger.so\"\n");
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[test]
fn omitting_thresholds_gives_the_documented_defaults() {
    let c = load_text("[proxy]\nlisten = \"127.0.0.1:9\"\n").unwrap();
    assert_eq!(c.thresholds.metrics.get("cost_usd"), Some(&0.05));
    assert_eq!(c.thresholds.metrics.get("ttft_ms"), Some(&2_000.0));
}
