//! The shared state of every handler: the read pool, the token, the Host/Origin allow-lists,
//! the live hub and metrics.

use crate::db::Db;
use crate::guard::AllowLists;
use crate::live::Live;
use crate::prom::Prom;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Extra Prometheus text appended to `GET /metrics`, e.g. the gateway's own counters (span
/// drops, queue depth, plugin errors) when the API runs inside the gateway process.
pub trait ExtraMetrics: Send + Sync {
    /// Appends metric families in the Prometheus/OpenMetrics text format (no `# EOF` line).
    fn render(&self, out: &mut String);

    /// Why the span pipeline is not healthy (recent drops, a writer that cannot write), when
    /// the API runs inside the gateway; `/healthz` answers 503 with it.
    fn health(&self) -> Option<String> {
        None
    }
}

/// How to build an [`AppState`]. Start from [`ApiOptions::new`] and set what differs.
#[derive(Clone)]
pub struct ApiOptions {
    /// The gateway database. It is never created by the API.
    pub db_path: PathBuf,
    /// Bearer token required on `/api/*` and `/metrics`; `None` (or empty) disables auth.
    pub token: Option<String>,
    /// How long a query waits on a lock before answering 503. Default 1 s.
    pub busy_timeout: Duration,
    /// How often the live tailer polls for new traces. Default 250 ms.
    pub poll_interval: Duration,
    /// How often the live feed sends `stats`. Default 2 s.
    pub stats_interval: Duration,
    /// Extra `Host` values answered, `host[:port]` (`[api] allowed_hosts`); the listen
    /// address and loopback names are always accepted. Default empty.
    pub allowed_hosts: Vec<String>,
    /// Other origins whose pages may call the API and get CORS headers, `scheme://host[:port]`
    /// (`[api] allowed_origins`). Default empty: cross-origin requests get 403, no CORS headers.
    pub allowed_origins: Vec<String>,
    /// Prometheus text appended to `/metrics`.
    pub extra_metrics: Option<Arc<dyn ExtraMetrics>>,
    /// Bounds of the OTLP receiver (`[telemetry]`).
    pub otlp: crate::otlp::Limits,
}

impl std::fmt::Debug for ApiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiOptions")
            .field("db_path", &self.db_path)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("busy_timeout", &self.busy_timeout)
            .field("poll_interval", &self.poll_interval)
            .field("stats_interval", &self.stats_interval)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_origins", &self.allowed_origins)
            .field("extra_metrics", &self.extra_metrics.is_some())
            .finish()
    }
}

impl ApiOptions {
    /// Defaults for the database at `db_path`.
    pub fn new(db_path: impl Into<PathBuf>) -> Self {
        Self {
            db_path: db_path.into(),
            token: None,
            busy_timeout: Duration::from_secs(1),
            poll_interval: Duration::from_millis(250),
            stats_interval: Duration::from_secs(2),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            extra_metrics: None,
            otlp: crate::otlp::Limits::default(),
        }
    }

    /// `[storage] path`, and `[api] token`, `allowed_hosts`, `allowed_origins` of `config`.
    pub fn from_config(config: &gateway_config::Config) -> Self {
        let mut opts = Self::new(config.storage.path.clone()).token(config.api.token.clone());
        opts.allowed_hosts = config.api.allowed_hosts.clone();
        opts.allowed_origins = config.api.allowed_origins.clone();
        opts.otlp = crate::otlp::Limits::from(&config.telemetry);
        opts
    }

    /// Sets the bearer token (an empty string disables auth).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into()).filter(|t: &String| !t.is_empty());
        self
    }

    /// Sets the extra metrics source.
    pub fn extra_metrics(mut self, m: Arc<dyn ExtraMetrics>) -> Self {
        self.extra_metrics = Some(m);
        self
    }
}

/// Cheap-to-clone handle to everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub db: Arc<Db>,
    pub token: Option<String>,
    pub live: Live,
    pub prom: Prom,
    pub extra_metrics: Option<Arc<dyn ExtraMetrics>>,
    pub otlp: crate::otlp::Limits,
    pub allow: AllowLists,
    /// CORS allow-list (the configured `allowed_origins`, as given).
    pub cors_origins: Vec<String>,
    /// The bound address, set by [`crate::serve`]; the Host check uses its IP and port.
    pub listen: OnceLock<SocketAddr>,
    pub poll_interval: Duration,
    pub stats_interval: Duration,
    /// Set to `true` when [`crate::serve`] shuts down, to close WebSockets.
    pub closing: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db_path", &self.inner.db.path())
            .field("auth", &self.inner.token.is_some())
            .finish()
    }
}

impl AppState {
    /// The state for `opts`. Nothing is opened yet; the live tailer starts with the first
    /// WebSocket client, `/metrics` scrape, or [`crate::serve`].
    pub fn new(opts: ApiOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                db: Arc::new(Db::new(opts.db_path, opts.busy_timeout)),
                token: opts.token.filter(|t| !t.is_empty()),
                live: Live::default(),
                prom: Prom::default(),
                extra_metrics: opts.extra_metrics,
                otlp: opts.otlp,
                allow: AllowLists::new(&opts.allowed_hosts, &opts.allowed_origins),
                cors_origins: opts.allowed_origins,
                listen: OnceLock::new(),
                poll_interval: opts.poll_interval,
                stats_interval: opts.stats_interval,
                closing: tokio::sync::watch::channel(false).0,
            }),
        }
    }

    /// The state with default options for the database at `db_path`.
    pub fn from_path(db_path: impl Into<PathBuf>) -> Self {
        Self::new(ApiOptions::new(db_path))
    }

    /// Why the gateway's span pipeline is unhealthy, when the API runs inside the gateway.
    pub fn pipeline_health(&self) -> Option<String> {
        self.inner.extra_metrics.as_ref().and_then(|m| m.health())
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        self.inner.db.path()
    }

    pub(crate) fn db(&self) -> &Arc<Db> {
        &self.inner.db
    }
}
