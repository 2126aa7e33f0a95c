//! Builds the plugin host from the configuration: built-ins and loaded libraries, in the order
//! their hooks run (token cost first so others can read the cost, metric snapshots last so it
//! sees every metric).

use crate::config::Config;
use gateway_cost::TokenCostPlugin;
use gateway_plugin_host::{LoadError, PluginHost, load};
use gateway_plugin_sdk::SpanPlugin;
use gateway_snapshots::MetricSnapshotsPlugin;
use std::path::PathBuf;
use std::sync::Arc;

/// Plugin kind of a library loaded from `[[plugins]]` (the `kind` label on `/metrics`).
pub const LIBRARY: &str = "library";

fn locate(config: &Config, path: &PathBuf) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.clone();
    }
    let beside = config.base_dir.join(path);
    if beside.exists() {
        beside
    } else {
        path.clone()
    }
}

/// The reloadable runtime for `config`: settings and every configured plugin. Any failure is
/// a startup (or reload) error naming the file. `previous` carries the cost counters
/// (unpriced calls, tier downgrades) over from the configuration being replaced.
pub fn runtime(
    config: &Config,
    previous: Option<&crate::proxy::Runtime>,
) -> Result<crate::proxy::Runtime, LoadError> {
    let mut host = PluginHost::new();
    let mut unpriced = None;
    let mut downgrades = None;
    if config.builtins.token_cost {
        // `Config::validate` already built the price book once; a file that changed since is
        // reported by the next reload, and the shipped table with `models` is used meanwhile.
        let mut plugin = match config.pricing.build_in(&config.base_dir) {
            Ok(book) => TokenCostPlugin::from_book(book),
            Err(error) => {
                tracing::error!(%error, "Pricing rejected; using the shipped table.");
                TokenCostPlugin::new(&config.pricing)
            }
        };
        if let Some(counter) = previous.and_then(|p| p.unpriced.clone()) {
            plugin = plugin.with_unpriced_counter(counter);
        }
        if let Some(counter) = previous.and_then(|p| p.downgrades.clone()) {
            plugin = plugin.with_downgrade_counter(counter);
        }
        unpriced = Some(plugin.unpriced_counter());
        downgrades = Some(plugin.downgrade_counter());
        host.add(Box::new(plugin), "builtin", "token_cost");
    }
    for entry in config.plugins.iter().filter(|e| e.enabled) {
        let path = locate(config, &entry.path);
        let json = serde_json::to_string(&entry.config).unwrap_or_else(|_| "{}".into());
        let plugin = load(&path, &json)?;
        tracing::info!(plugin = plugin.name(), path = %path.display(), "Loaded plugin.");
        host.add(Box::new(plugin), LIBRARY, path.display().to_string());
    }
    if config.builtins.sqlite {
        host.add(
            Box::new(gateway_sqlite::SqlitePersistencePlugin),
            "builtin",
            "sqlite",
        );
    }
    if config.builtins.metric_snapshots {
        let plugin = MetricSnapshotsPlugin::new(config.thresholds.clone());
        host.add(Box::new(plugin), "builtin", "metric_snapshots");
    }
    Ok(crate::proxy::Runtime {
        settings: crate::proxy::ProxySettings {
            max_parse_bytes: config.proxy.max_parse_bytes,
            capture_content: config.capture.content,
            capture_max_bytes: config.capture.max_bytes,
            public_url: config.proxy.public_url.clone(),
            listener_tls: config.proxy.tls_cert.is_some(),
        },
        plugins: Arc::new(host),
        snapshots: config.builtins.metric_snapshots,
        unpriced,
        downgrades,
    })
}
