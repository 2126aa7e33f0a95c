//! The `gateway.toml` sections for plugins and the in-process API.

use serde::Deserialize;
use std::net::SocketAddr;
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
    /// Extra `Host` values the API answers to, `host[:port]` (no port: any port), e.g.
    /// `gateway.internal:8081`. The listen address and `localhost`, `127.0.0.1`, `[::1]` with
    /// the listen port are always accepted; any other `Host` gets 421 (DNS rebinding). Default
    /// empty.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Other origins whose pages may call the API, `scheme://host[:port]`, e.g.
    /// `https://grafana.example.com` (they also get CORS headers). A request with any other
    /// `Origin` than the API's own gets 403; requests without `Origin` are unaffected. Default
    /// empty.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Allow listening on a non-loopback address with an empty `token` (a loud warning is
    /// logged). Default false: such a configuration is refused.
    #[serde(default)]
    pub allow_unauthenticated: bool,
}

impl ApiConfig {
    /// Refuses to expose the API on `addr` (not loopback) without a token, unless
    /// `allow_unauthenticated`; the message names the keys to set.
    pub fn check_exposure(&self, addr: SocketAddr) -> Result<(), String> {
        if !self.unauthenticated_exposure(addr) || self.allow_unauthenticated {
            return Ok(());
        }
        Err(format!(
            "the API would listen on {addr}, which is not a loopback address, and [api] token is \
             empty: anyone who can reach that port could read every trace. Set [api] token (or \
             listen on 127.0.0.1), or set [api] allow_unauthenticated = true to accept this"
        ))
    }

    /// Whether `addr` is reachable from other machines and no token is set.
    pub fn unauthenticated_exposure(&self, addr: SocketAddr) -> bool {
        self.token.is_empty() && !addr.ip().to_canonical().is_loopback()
    }

    /// Checks the syntax of `allowed_hosts` and `allowed_origins`: `(key, message)` on error.
    pub fn check_allow_lists(&self) -> Result<(), (&'static str, String)> {
        for h in &self.allowed_hosts {
            if !is_host_port(h) {
                return Err((
                    "api.allowed_hosts",
                    format!("{h:?} is not host[:port], e.g. \"gateway.internal:8081\""),
                ));
            }
        }
        for o in &self.allowed_origins {
            let authority = o
                .strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"));
            if !authority.is_some_and(is_host_port) {
                return Err((
                    "api.allowed_origins",
                    format!(
                        "{o:?} is not an origin: write scheme://host[:port] (http or https, no \
                         path, no wildcard), e.g. \"https://grafana.example.com\""
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `name[:port]` or `[ipv6][:port]`: no scheme, path, user info, space or wildcard.
pub(crate) fn is_host_port(s: &str) -> bool {
    let (name_ok, port) = match s.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, port)) => (ip.parse::<std::net::Ipv6Addr>().is_ok(), port),
            None => return false,
        },
        None => {
            let name = s.split(':').next().unwrap_or_default();
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            (ok, &s[name.len()..])
        }
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.parse::<u16>().is_ok());
    name_ok && port_ok
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

/// `[drift]`: how the drift detector's table (in the same SQLite file, owned by the detector)
/// is read by `GET /api/correlations/drift`. The gateway only reads it, never creates or
/// alters it. Checked against the real table at startup and on reload when it exists.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftConfig {
    /// The detector's table or view. Default `drift_snapshots`.
    #[serde(default = "default_drift_table")]
    pub table: String,
    /// Column of the window start. Default `window_start_unix_nano`.
    #[serde(default = "default_window_start")]
    pub window_start_column: String,
    /// Column of the window end (exclusive). Default `window_end_unix_nano`.
    #[serde(default = "default_window_end")]
    pub window_end_column: String,
    /// Unit of both window columns: `s`, `ms`, `us`, `ns` (numbers since 1970) or `iso8601`
    /// (text). Default `ns`.
    #[serde(default = "default_time_unit")]
    pub time_unit: String,
    /// Column naming the drifted feature. Default `feature`.
    #[serde(default = "default_feature")]
    pub feature_column: String,
    /// Column of the drift score. Default `score`.
    #[serde(default = "default_score")]
    pub score_column: String,
    /// Column of the model a row is about; a row is then correlated only with that model's
    /// traffic. Default `""` (none).
    #[serde(default)]
    pub model_column: String,
    /// Column of the drifted flag; only flagged rows are correlated unless the request asks
    /// for all. `""`: no flag, every row counts. Default `drifted`.
    #[serde(default = "default_drifted")]
    pub drifted_column: String,
    /// Column of the score's threshold. Default `""`: `threshold` when the table has it.
    #[serde(default)]
    pub threshold_column: String,
    /// Column of the row id. Default `""`: `id` when the table has it, else the rowid.
    #[serde(default)]
    pub id_column: String,
}

/// Units accepted by `[drift] time_unit`.
pub const DRIFT_TIME_UNITS: [&str; 5] = ["s", "ms", "us", "ns", "iso8601"];

fn default_drift_table() -> String {
    "drift_snapshots".into()
}
fn default_window_start() -> String {
    "window_start_unix_nano".into()
}
fn default_window_end() -> String {
    "window_end_unix_nano".into()
}
fn default_time_unit() -> String {
    "ns".into()
}
fn default_feature() -> String {
    "feature".into()
}
fn default_score() -> String {
    "score".into()
}
fn default_drifted() -> String {
    "drifted".into()
}

impl Default for DriftConfig {
    fn default() -> Self {
        Self {
            table: default_drift_table(),
            window_start_column: default_window_start(),
            window_end_column: default_window_end(),
            time_unit: default_time_unit(),
            feature_column: default_feature(),
            score_column: default_score(),
            model_column: String::new(),
            drifted_column: default_drifted(),
            threshold_column: String::new(),
            id_column: String::new(),
        }
    }
}

impl DriftConfig {
    /// Checks values types cannot express: `(key, message)` on error.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !DRIFT_TIME_UNITS.contains(&self.time_unit.as_str()) {
            return Err((
                "drift.time_unit",
                format!(
                    "{:?} is not a time unit: use one of {}",
                    self.time_unit,
                    DRIFT_TIME_UNITS.join(", ")
                ),
            ));
        }
        let required = [
            ("drift.table", &self.table),
            ("drift.window_start_column", &self.window_start_column),
            ("drift.window_end_column", &self.window_end_column),
            ("drift.feature_column", &self.feature_column),
            ("drift.score_column", &self.score_column),
        ];
        for (key, v) in required {
            if v.trim().is_empty() {
                return Err((key, "must not be empty".into()));
            }
        }
        Ok(())
    }

    /// An optional column: `None` for `""`.
    pub fn optional(column: &str) -> Option<String> {
        Some(column.trim().to_owned()).filter(|c| !c.is_empty())
    }
}
