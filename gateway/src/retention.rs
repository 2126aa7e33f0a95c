//! The retention thread: every `retention_interval_seconds` it deletes traces, spans and metric
//! snapshots past their retention (and the oldest traces beyond `max_size_mb`) on its own
//! connection, in small transactions that never hold the write lock for long.

use crate::config::StorageConfig;
use gateway_store::{RetentionPolicy, Store, StoreOptions};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAY_NANOS: i64 = 86_400 * 1_000_000_000;

/// Windows of 500 spans a pass's sweep for old spans without a `traces` row walks, on from where
/// the last pass stopped (32,000 rows, a few milliseconds): the whole table, over passes.
const SWEEP_WINDOWS: usize = 64;

/// Spans without a `traces` row are left alone for this long after they start: a request's
/// spans can be written a batch before its root, and a Live session's turns have no row until
/// the session ends.
const ORPHAN_GRACE_NANOS: i64 = 3_600 * 1_000_000_000;

/// The policy for `storage` at time `now`.
pub fn policy(storage: &StorageConfig, now: SystemTime) -> RetentionPolicy {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let before = |days: u64| (days > 0).then(|| now - days as i64 * DAY_NANOS);
    let traces = before(storage.retention_days);
    RetentionPolicy {
        traces_before_unix_nano: traces,
        // A metric row is also its trace's `gateway.metric` event (stored only as the row), so
        // rows are kept at least as long as traces.
        metrics_before_unix_nano: before(storage.metric_snapshots_retention_days)
            .zip(traces)
            .map(|(m, t)| m.min(t)),
        max_size_bytes: storage.max_size_mb.map(|mb| mb * 1024 * 1024),
        orphans_before_unix_nano: Some(now - ORPHAN_GRACE_NANOS),
        sweep_after_id: 0,
        sweep_windows: SWEEP_WINDOWS,
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
            // Where the sweep for old spans without a `traces` row goes on from.
            let mut sweep_after_id = 0;
            loop {
                std::thread::sleep(interval);
                let opts = StoreOptions {
                    busy_timeout: Duration::from_millis(storage.busy_timeout_ms),
                };
                let pass = RetentionPolicy {
                    sweep_after_id,
                    ..policy(&storage, SystemTime::now())
                };
                let result =
                    Store::open(&storage.path, &opts).and_then(|mut s| s.enforce_retention(&pass));
                if let Ok(r) = &result {
                    sweep_after_id = r.sweep_next_id;
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000 * 1_000_000_000;

    fn at(retention_days: u64, metric_days: u64) -> RetentionPolicy {
        let storage = StorageConfig {
            retention_days,
            metric_snapshots_retention_days: metric_days,
            ..StorageConfig::default()
        };
        policy(&storage, UNIX_EPOCH + Duration::from_nanos(NOW as u64))
    }

    #[test]
    fn metric_rows_are_kept_at_least_as_long_as_traces() {
        let days = |n: i64| Some(NOW - n * DAY_NANOS);
        // Their own retention when it is the longer one.
        assert_eq!(at(7, 30).metrics_before_unix_nano, days(30));
        // The traces' when the rows' is shorter: they are the traces' metric events.
        assert_eq!(at(7, 1).metrics_before_unix_nano, days(7));
        // Traces kept forever, or rows kept forever: rows kept forever.
        assert_eq!(at(0, 30).metrics_before_unix_nano, None);
        assert_eq!(at(7, 0).metrics_before_unix_nano, None);
        assert_eq!(at(7, 30).traces_before_unix_nano, days(7));
    }

    #[test]
    fn spans_without_a_trace_row_get_an_hour() {
        assert_eq!(
            at(7, 30).orphans_before_unix_nano,
            Some(NOW - ORPHAN_GRACE_NANOS)
        );
    }
}
