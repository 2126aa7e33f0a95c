//! `gateway.toml`: typed, documented, strict, and the same for every binary.
//!
//! The `gateway` and the standalone `api` both load the file through [`Config::load`]: one set
//! of defaults, one error type ([`ConfigError`]), one validation. Every section rejects unknown
//! keys, so a typo fails at startup with its name; an empty or truncated file is an error, not
//! an all-defaults configuration. Defaults are the values a first run wants; `gateway.toml` at
//! the repository root documents every field.

mod public_url;
mod sections;
mod telemetry;
mod upstream;

pub use gateway_cost::PricingConfig;
pub use gateway_snapshots::ThresholdsConfig;
pub use sections::{
    ApiConfig, BuiltinsConfig, DRIFT_TIME_UNITS, DriftConfig, ExportConfig, OtlpConfig, PluginEntry,
};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
pub use telemetry::{Semconv, TelemetryConfig};
pub use upstream::Upstream;

/// Where the standalone `api` listens when `[api] listen` is absent.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8081";

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key, or a value of the wrong type.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key.
        message: String,
    },
    /// A value is well-typed but unusable.
    #[error("invalid config: {key}: {message}")]
    Invalid {
        /// Dotted key, e.g. `proxy.upstream`.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[proxy]`: where to listen and where Gemini is.
    #[serde(default)]
    pub proxy: ProxyConfig,
    /// `[storage]`: the SQLite file and its writer.
    #[serde(default)]
    pub storage: StorageConfig,
    /// `[capture]`: opt-in prompt and answer capture.
    #[serde(default)]
    pub capture: CaptureConfig,
    /// `[api]`: the API and dashboard in-process.
    #[serde(default)]
    pub api: ApiConfig,
    /// `[builtins]`: switches for the built-in plugins.
    #[serde(default)]
    pub builtins: BuiltinsConfig,
    /// `[pricing]`: USD per 1M tokens, over the shipped table.
    #[serde(default)]
    pub pricing: PricingConfig,
    /// `[thresholds]`: metric thresholds, with per-model overrides.
    #[serde(default)]
    pub thresholds: ThresholdsConfig,
    /// `[export]`: OTLP export next to SQLite.
    #[serde(default)]
    pub export: ExportConfig,
    /// `[drift]`: how the drift detector's table is read (never created or altered).
    #[serde(default)]
    pub drift: DriftConfig,
    /// `[telemetry]`: GenAI naming generation and the OTLP receiver's bounds.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// `[[plugins]]`: span plugins loaded from shared libraries, in order.
    #[serde(default)]
    pub plugins: Vec<PluginEntry>,
    /// Directory of the config file (relative plugin paths are also tried from here).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[proxy]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Address the proxy listens on. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Gemini base URL, `https://` (SNI, verified certificates) or `http://` for local upstreams.
    /// Default `https://generativelanguage.googleapis.com`.
    #[serde(default = "default_upstream")]
    pub upstream: String,
    /// Worker threads of the proxy. Default 2.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Upstream TCP+TLS connect timeout in milliseconds; past it the client gets 502. Default 10000.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Longest silence from the upstream, in milliseconds, before the request fails with 504.
    /// Applies between stream chunks too. Default 600000 (thinking models can be quiet for long).
    #[serde(default = "default_read_timeout_ms")]
    pub read_timeout_ms: u64,
    /// Seconds a client has to send a request header: a connection's first from when it is
    /// accepted, each later one on a kept-alive HTTP/1 connection from its first byte. Past it
    /// the connection is closed without an answer and counted
    /// (`gateway_client_header_timeouts_total`), so that clients trickling header bytes cannot
    /// hold the connection cap. Default 30.
    #[serde(default = "default_header_timeout_seconds")]
    pub header_timeout_seconds: u64,
    /// Bytes of a request or non-streamed response body kept for parsing. Larger bodies still
    /// pass through untouched; only the part beyond the cap is not inspected. Default 8 MiB.
    #[serde(default = "default_max_parse_bytes")]
    pub max_parse_bytes: usize,
    /// The URL clients reach the gateway at, `scheme://host[:port][/prefix]`, e.g. behind a
    /// load balancer `https://gemini-gateway.example.com`. Resumable-upload URLs from the
    /// upstream are rewritten to it verbatim (plus the upload path). Default: none, the URL is
    /// built from the listener's scheme (https with `tls_cert`) and the request's authority
    /// (when it is a valid `host[:port]`, else the address the client connected to).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Seconds in-flight requests get to finish after SIGTERM. Default 10.
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
    /// PEM file of CA certificates trusted for the upstream's TLS certificate, in addition to
    /// the system's roots (e.g. a corporate proxy's or a local test CA). Relative paths are read
    /// from the config file's directory. Read at startup (a restart applies a change). Default:
    /// none, the system's roots only.
    #[serde(default)]
    pub upstream_ca_file: Option<PathBuf>,
    /// PEM certificate chain of the proxy's own listener. With `tls_key`, `listen` speaks TLS
    /// only (HTTP/1.1 and h2 chosen by ALPN). Relative to the config file's directory. Read at
    /// startup. Default: none, plain HTTP.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) matching `tls_cert`. Default: none.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// SQLite file (WAL mode). Default `gateway.db`.
    #[serde(default = "default_db_path")]
    pub path: PathBuf,
    /// Spans that may wait for the writer; beyond it spans are dropped and counted. Default 65536.
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    /// Spans per write transaction at most. Default 4096.
    #[serde(default = "default_batch")]
    pub max_batch: usize,
    /// Milliseconds the writer waits to fill a batch. Default 20.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// Milliseconds a write waits on a lock held by another process. Default 5000.
    #[serde(default = "default_busy_ms")]
    pub busy_timeout_ms: u64,
    /// Days traces and spans are kept; 0 keeps them forever. Default 7.
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
    /// Days `metric_snapshots` rows are kept (their own retention, never shorter than their
    /// traces': each row is also its trace's `gateway.metric` event; with `retention_days = 0`,
    /// as long as their traces, which `max_size_mb` may trim); 0 keeps them. Default 30.
    #[serde(default = "default_metric_retention_days")]
    pub metric_snapshots_retention_days: u64,
    /// Cap on the gateway's live data in MiB (its own tables; a sibling's table in the same file
    /// is not counted); above it the oldest traces go first. Default: no cap.
    pub max_size_mb: Option<u64>,
    /// Seconds between retention passes. Default 300.
    #[serde(default = "default_retention_interval")]
    pub retention_interval_seconds: u64,
}

/// `[capture]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// Store prompt and answer text on spans. Default false: no content is stored.
    #[serde(default)]
    pub content: bool,
    /// Bytes kept per captured field (prompt, system instruction, answer). Default 16384.
    #[serde(default = "default_capture_bytes")]
    pub max_bytes: usize,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_upstream() -> String {
    "https://generativelanguage.googleapis.com".into()
}
const fn default_threads() -> usize {
    2
}
const fn default_connect_timeout_ms() -> u64 {
    10_000
}
const fn default_read_timeout_ms() -> u64 {
    600_000
}
const fn default_header_timeout_seconds() -> u64 {
    30
}
const fn default_max_parse_bytes() -> usize {
    8 << 20
}
const fn default_grace() -> u64 {
    10
}
fn default_db_path() -> PathBuf {
    "gateway.db".into()
}
const fn default_queue() -> usize {
    65_536
}
const fn default_batch() -> usize {
    4_096
}
const fn default_linger_ms() -> u64 {
    20
}
const fn default_busy_ms() -> u64 {
    5_000
}
const fn default_retention_days() -> u64 {
    7
}
const fn default_metric_retention_days() -> u64 {
    30
}
const fn default_retention_interval() -> u64 {
    300
}
const fn default_capture_bytes() -> usize {
    16_384
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            upstream: default_upstream(),
            threads: default_threads(),
            connect_timeout_ms: default_connect_timeout_ms(),
            read_timeout_ms: default_read_timeout_ms(),
            header_timeout_seconds: default_header_timeout_seconds(),
            max_parse_bytes: default_max_parse_bytes(),
            public_url: None,
            shutdown_grace_seconds: default_grace(),
            upstream_ca_file: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            path: default_db_path(),
            queue_capacity: default_queue(),
            max_batch: default_batch(),
            linger_ms: default_linger_ms(),
            busy_timeout_ms: default_busy_ms(),
            retention_days: default_retention_days(),
            metric_snapshots_retention_days: default_metric_retention_days(),
            max_size_mb: None,
            retention_interval_seconds: default_retention_interval(),
        }
    }
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            content: false,
            max_bytes: default_capture_bytes(),
        }
    }
}

impl Config {
    /// Reads, parses and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.validate()
    }

    /// Parses TOML text without validating.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let has_content = text.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#')
        });
        if !has_content {
            // An empty file is far more likely a truncated write than a wish for every default.
            return Err(ConfigError::Parse {
                path: PathBuf::new(),
                message: "the file has no settings (empty or truncated); write at least one \
                          section, e.g. [proxy]"
                    .into(),
            });
        }
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })
    }

    /// Checks values that types cannot express.
    pub fn validate(mut self) -> Result<Self, ConfigError> {
        self.proxy
            .listen
            .parse::<SocketAddr>()
            .map_err(|e| ConfigError::Invalid {
                key: "proxy.listen",
                message: format!("{:?} is not ip:port ({e})", self.proxy.listen),
            })?;
        Upstream::parse(&self.proxy.upstream).map_err(|message| ConfigError::Invalid {
            key: "proxy.upstream",
            message,
        })?;
        self.check_tls_files()?;
        if let Some(url) = &self.proxy.public_url {
            self.proxy.public_url =
                Some(
                    public_url::check(url).map_err(|message| ConfigError::Invalid {
                        key: "proxy.public_url",
                        message,
                    })?,
                );
        }
        let positive = [
            ("proxy.threads", self.proxy.threads as u64),
            ("proxy.connect_timeout_ms", self.proxy.connect_timeout_ms),
            ("proxy.read_timeout_ms", self.proxy.read_timeout_ms),
            (
                "proxy.header_timeout_seconds",
                self.proxy.header_timeout_seconds,
            ),
            ("storage.queue_capacity", self.storage.queue_capacity as u64),
            ("storage.max_batch", self.storage.max_batch as u64),
            (
                "storage.retention_interval_seconds",
                self.storage.retention_interval_seconds,
            ),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    message: "must be greater than 0".into(),
                });
            }
        }
        if let Some(otlp) = &self.export.otlp
            && !(otlp.endpoint.starts_with("http://") || otlp.endpoint.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                key: "export.otlp.endpoint",
                message: format!("{:?} must be an http:// URL", otlp.endpoint),
            });
        }
        if let Some(listen) = &self.api.listen {
            let addr = listen
                .parse::<SocketAddr>()
                .map_err(|e| ConfigError::Invalid {
                    key: "api.listen",
                    message: format!("{listen:?} is not ip:port ({e})"),
                })?;
            // No API reachable from other machines without a token, unless asked for.
            self.api
                .check_exposure(addr)
                .map_err(|message| ConfigError::Invalid {
                    key: "api.token",
                    message,
                })?;
        }
        self.api
            .check_allow_lists()
            .map_err(|(key, message)| ConfigError::Invalid { key, message })?;
        self.drift
            .check()
            .map_err(|(key, message)| ConfigError::Invalid { key, message })?;
        // Threshold names must be metrics something emits: the built-in ones, or (only when
        // plugin libraries are configured, whose metric names are known only once loaded) any.
        if self.plugins.iter().all(|p| !p.enabled) {
            let names = self
                .thresholds
                .metrics
                .keys()
                .chain(self.thresholds.models.values().flat_map(|m| m.keys()));
            for name in names {
                if !gateway_snapshots::BUILTIN_METRICS.contains(&name.as_str()) {
                    return Err(ConfigError::Invalid {
                        key: "thresholds",
                        message: format!(
                            "unknown metric {name:?}: the built-in metrics are {:?}; a plugin's \
                             own metrics are accepted once a [[plugins]] entry is configured",
                            gateway_snapshots::BUILTIN_METRICS
                        ),
                    });
                }
            }
        }
        // The whole price book: shipped rows, `models`, `rows`, `file` and `aliases`.
        self.pricing
            .build_in(&self.base_dir)
            .map_err(|message| ConfigError::Invalid {
                key: "pricing",
                message,
            })?;
        if self.storage.path.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                key: "storage.path",
                message: "must not be empty".into(),
            });
        }
        Ok(self)
    }

    /// Where the standalone `api` listens: `[api] listen`, else [`DEFAULT_API_LISTEN`].
    pub fn standalone_api_listen(&self) -> SocketAddr {
        self.api
            .listen
            .as_deref()
            .and_then(|l| l.parse().ok())
            .unwrap_or_else(|| {
                DEFAULT_API_LISTEN
                    .parse()
                    .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8081)))
            })
    }

    /// `path` as read at startup: relative paths are taken from the config file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// `tls_cert` and `tls_key` come together, and every configured TLS file can be opened
    /// (their contents are checked by the gateway at startup).
    fn check_tls_files(&self) -> Result<(), ConfigError> {
        let p = &self.proxy;
        match (&p.tls_cert, &p.tls_key) {
            (Some(_), None) => {
                return Err(ConfigError::Invalid {
                    key: "proxy.tls_key",
                    message: "tls_cert is set but tls_key is not: set both (PEM paths) or neither"
                        .into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: "proxy.tls_cert",
                    message: "tls_key is set but tls_cert is not: set both (PEM paths) or neither"
                        .into(),
                });
            }
            _ => {}
        }
        let files = [
            ("proxy.upstream_ca_file", &p.upstream_ca_file),
            ("proxy.tls_cert", &p.tls_cert),
            ("proxy.tls_key", &p.tls_key),
        ];
        for (key, path) in files {
            if let Some(path) = path {
                let full = self.resolve(path);
                std::fs::File::open(&full).map_err(|e| ConfigError::Invalid {
                    key,
                    message: format!("cannot read {}: {e}", full.display()),
                })?;
            }
        }
        Ok(())
    }

    /// The parsed upstream (valid after [`Config::validate`]), with its CA file resolved.
    pub fn upstream(&self) -> Upstream {
        let mut upstream = Upstream::parse(&self.proxy.upstream).unwrap_or(Upstream {
            host: "generativelanguage.googleapis.com".into(),
            port: 443,
            tls: true,
            ca_file: None,
        });
        upstream.ca_file = self
            .proxy
            .upstream_ca_file
            .as_deref()
            .map(|p| self.resolve(p));
        upstream
    }
}
