//! The retention thread: every `retention_interval_seconds` it deletes traces, spans and metric
//! snapshots past their retention (and the oldest traces beyond `max_size_mb`) on its own
//! connection, in small transactions that never hold the write lock for long.

use crate::config::StorageConfig;
use gateway_store::{RetentionPolicy, Store, StoreOptions};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAY_NANOS: i64 = 86_400 * 1_000_000_000;

/// The policy for `storage` at time `now`.
pub fn policy(storage: &StorageConfig, now: SystemTime) -> RetentionPolicy {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let before = |days: u64| (days > 0).then(|| now - days as i64 * DAY_NANOS);
    RetentionPolicy {
        traces_before_unix_nano: before(storage.retention_days),
        metrics_before_unix_nano: before(storage.metric_snapshots_retention_days),
        max_size_bytes: storage.max_size_mb.map(|mb| mb * 1024 * 1024),
        batch: 500,
    }
}

/// Starts the retention thread (nothing to do when every limit is off).
pub fn start(storage: StorageConfig) -> std::io::Result<()> {
    if storage.retention_days == 0
        && storage.metric_snapshots_retention_days == 0
        && storage.max_size_mb.is_none()
    {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("retention".into())
        .spawn(move || {
            let interval = Duration::from_secs(storage.retention_interval_seconds.max(1));
            loop {
                std::thread::sleep(interval);
                let opts = StoreOptions {
                    busy_timeout: Duration::from_millis(storage.busy_timeout_ms),
                };
                let result = Store::open(&storage.path, &opts)
                    .and_then(|mut s| s.enforce_retention(&policy(&storage, SystemTime::now())));
                match result {
                    Ok(r) if r.traces + r.orphan_spans + r.metrics > 0 => tracing::info!(
                        traces = r.traces,
                        spans = r.spans,
                        orphan_spans = r.orphan_spans,
                        metric_snapshots = r.metrics,
                        cache_intervals = r.cache_intervals,
                        pages_freed = r.pages_freed,
                        "Retention pass deleted old rows."
                    ),
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "Retention pass failed; it will run again.")
                    }
                }
            }
        })
        .map(|_| ())
}
