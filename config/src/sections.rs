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
fn is_host_port(s: &str) -> bool {
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
