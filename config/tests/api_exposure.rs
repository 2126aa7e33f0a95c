//! `[api]` exposure rules: a non-loopback `listen` needs a `token` or
//! `allow_unauthenticated = true`; `allowed_hosts` and `allowed_origins` are checked for syntax.

#![allow(clippy::unwrap_used)]

use gateway_config::{Config, ConfigError};

fn load_text(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path)
}

#[test]
fn a_public_listen_without_a_token_is_refused_naming_the_keys() {
    for listen in ["0.0.0.0:8081", "[::]:8081", "192.168.1.10:8081"] {
        let e = load_text(&format!("[api]\nlisten = \"{listen}\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid config: api.token:"), "{e}");
        assert!(
            e.contains("[api] token") && e.contains("allow_unauthenticated = true"),
            "{e}"
        );
    }
}

#[test]
fn a_token_allow_unauthenticated_or_loopback_is_accepted() {
    for text in [
        "[api]\nlisten = \"0.0.0.0:8081\"\ntoken = \"s3cret\"\n",
        "[api]\nlisten = \"0.0.0.0:8081\"\nallow_unauthenticated = true\n",
        "[api]\nlisten = \"127.0.0.1:8081\"\n",
        "[api]\nlisten = \"[::1]:8081\"\n",
    ] {
        let c = load_text(text);
        assert!(c.is_ok(), "{text}: {:?}", c.err());
    }
    let c = load_text("[api]\nlisten = \"127.0.0.1:8081\"\n").unwrap();
    assert!(c.api.allowed_hosts.is_empty() && c.api.allowed_origins.is_empty());
    assert!(!c.api.allow_unauthenticated);
}

#[test]
fn allow_lists_are_checked() {
    let ok = load_text(
        "[api]\nallowed_hosts = [\"gateway.internal:8081\", \"gw\", \"[fd00::1]:80\"]\n\
         allowed_origins = [\"https://grafana.example.com\", \"http://10.0.0.5:3000\"]\n",
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
    for (key, value) in [
        ("allowed_hosts", "http://gateway.internal"),
        ("allowed_hosts", "gateway.internal/x"),
        ("allowed_hosts", "*"),
        ("allowed_hosts", "gw:99999"),
        ("allowed_origins", "*"),
        ("allowed_origins", "grafana.example.com"),
        ("allowed_origins", "https://grafana.example.com/"),
        ("allowed_origins", "ftp://grafana.example.com"),
    ] {
        let e = load_text(&format!("[api]\n{key} = [\"{value}\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("api.{key}")) && e.contains(value),
            "{e}"
        );
    }
}
