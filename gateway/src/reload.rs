//! Live reload: on SIGHUP or when the config file changes, the reloadable part of the
//! configuration (pricing, thresholds, capture, the plugin list and built-in switches,
//! `max_parse_bytes`) is rebuilt and swapped in atomically. Connections are untouched; requests
//! in flight finish under the configuration they started with. A bad file is rejected with a
//! log line naming the problem and the running configuration stays.

use crate::config::Config;
use crate::proxy::Runtime;
use arc_swap::ArcSwap;
use signal_hook::consts::SIGHUP;
use signal_hook::iterator::Signals;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Settings that only take effect after a restart, as `(key, value)` for comparison.
fn restart_only(c: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("proxy.listen", c.proxy.listen.clone()),
        ("proxy.upstream", c.proxy.upstream.clone()),
        ("proxy.threads", c.proxy.threads.to_string()),
        (
            "proxy.connect_timeout_ms",
            c.proxy.connect_timeout_ms.to_string(),
        ),
        ("proxy.read_timeout_ms", c.proxy.read_timeout_ms.to_string()),
        (
            "proxy.header_timeout_seconds",
            c.proxy.header_timeout_seconds.to_string(),
        ),
        (
            "proxy.upstream_ca_file",
            format!("{:?}", c.proxy.upstream_ca_file),
        ),
        ("proxy.tls_cert", format!("{:?}", c.proxy.tls_cert)),
        ("proxy.tls_key", format!("{:?}", c.proxy.tls_key)),
        ("storage", format!("{:?}", c.storage)),
        ("api", format!("{:?}", c.api.listen)),
        ("builtins.sqlite", c.builtins.sqlite.to_string()),
    ]
}

/// Re-reads `path` and swaps the runtime. Returns whether the new configuration is live.
pub fn reload(path: &Path, last: &mut Config, runtime: &ArcSwap<Runtime>) -> bool {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(error) => {
            tracing::error!(%error, "Configuration reload rejected; the running configuration stays.");
            return false;
        }
    };
    // Only a changed [drift] section is applied again (the demo maps its own detector table in
    // memory, which the file does not name).
    let drift_changed = format!("{:?}", config.drift) != format!("{:?}", last.drift);
    if drift_changed
        && let Err(error) =
            gateway_api::routes::snapshots::configure_drift(&config.storage.path, &config.drift)
    {
        tracing::error!(%error, "Configuration reload rejected ([drift]); the running configuration stays.");
        return false;
    }
    let current = runtime.load_full();
    let next = match crate::plugins::runtime(&config, Some(&current)) {
        Ok(rt) => rt,
        Err(error) => {
            tracing::error!(%error, "Configuration reload rejected; the running configuration stays.");
            return false;
        }
    };
    for ((key, old), (_, new)) in restart_only(last).iter().zip(restart_only(&config)) {
        if *old != new {
            tracing::warn!(
                key,
                "This setting changed but only takes effect after a restart."
            );
        }
    }
    let plugins = next.plugins.len();
    runtime.store(Arc::new(next));
    *last = config;
    tracing::info!(plugins, "Configuration reloaded.");
    true
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Watches for SIGHUP and for changes of `path` (polled every 500 ms) on a background thread.
/// A changed file is reloaded once its modification time has held still for one poll, so an
/// editor still writing it is not read half-way; an empty or cut file is rejected anyway.
pub fn watch(path: PathBuf, runtime: Arc<ArcSwap<Runtime>>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGHUP])?;
    let mut last = Config::load(&path).map_err(std::io::Error::other)?;
    let mut stamp = modified(&path);
    let mut settling = None;
    std::thread::Builder::new()
        .name("config-reload".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let hup = signals.pending().next().is_some();
                let now = modified(&path);
                let settled = now != stamp && settling == Some(now);
                if hup || settled {
                    stamp = now;
                    settling = None;
                    reload(&path, &mut last, &runtime);
                } else if now != stamp {
                    settling = Some(now);
                }
            }
        })?;
    Ok(())
}
