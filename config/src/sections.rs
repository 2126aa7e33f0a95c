//! The `gateway.toml` sections for plugins and the in-process API.

use serde::Deserialize;
use std::path::PathBuf;

/// `[builtins]`: switches for the built-in plugins (all on by default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltinsConfig {
    /// Token cost (`gateway.cost.*`, `traces.cost_usd`). Default true.
    #[serde(default = "yes")]
    pub token_cost: bool,
    /// Metric snapshots (`metric_snapshots` rows). Default true.
    #[serde(default = "yes")]
    pub metric_snapshots: bool,
    /// SQLite persistence of spans. Default true. Off: nothing is written to `[storage] path`.
    #[serde(default = "yes")]
    pub sqlite: bool,
}

const fn yes() -> bool {
    true
}

impl Default for BuiltinsConfig {
    fn default() -> Self {
        Self {
            token_cost: true,
            metric_snapshots: true,
            sqlite: true,
        }
    }
}

/// One `[[plugins]]` entry: a span plugin loaded from a shared library.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    /// The library (`.so`). Relative paths are tried from the working directory, then from the
    /// directory of the config file.
    pub path: PathBuf,
    /// Set false to keep the entry but not load it. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Free-form table handed to the plugin (as JSON).
    #[serde(default)]
    pub config: toml::Table,
}

/// `[api]`: the REST/WebSocket API and dashboard served in-process.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address of the API and dashboard, e.g. `127.0.0.1:8081`. Omit to run `api` separately.
    pub listen: Option<String>,
    /// When non-empty, required as `Authorization: Bearer <token>` (or `?token=` on the WebSocket).
    #[serde(default)]
    pub token: String,
}

/// `[export]`: where spans and metrics go besides SQLite.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// `[export.otlp]`: OTLP over HTTP/protobuf to a collector or backend.
    pub otlp: Option<OtlpConfig>,
}

/// `[export.otlp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// Base URL of the OTLP/HTTP receiver, e.g. `http://127.0.0.1:4318`; spans go to
    /// `/v1/traces` and metrics to `/v1/metrics` under it.
    pub endpoint: String,
    /// Extra request headers, e.g. an auth header for a hosted backend.
    #[serde(default)]
    pub headers: std::collections::HashMap<String, String>,
    /// Gzip request bodies. Default false.
    #[serde(default)]
    pub gzip: bool,
    /// Export request timeout in ms. Default 10000.
    #[serde(default = "default_otlp_timeout")]
    pub timeout_ms: u64,
    /// Spans waiting for export; independent of SQLite's queue. Default 65536.
    #[serde(default = "default_otlp_queue")]
    pub queue_capacity: usize,
    /// Metrics export interval in ms. Default 10000.
    #[serde(default = "default_otlp_interval")]
    pub metrics_interval_ms: u64,
}

const fn default_otlp_timeout() -> u64 {
    10_000
}
const fn default_otlp_queue() -> usize {
    65_536
}
const fn default_otlp_interval() -> u64 {
    10_000
}
