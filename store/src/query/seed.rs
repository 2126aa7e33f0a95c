//! A writer of metric snapshots outside the gateway's span exporter, for tests, fixtures and
//! benchmarks; the gateway's own plugins write snapshots through their own path. Nothing here
//! writes a table the gateway does not own (a test that needs a sibling's `drift_snapshots`
//! creates and fills it itself).

use crate::{Result, Store, sqlite_err};
use rusqlite::params;

/// A metric snapshot to insert.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewMetricSnapshot {
    /// The trace the value belongs to.
    pub trace_id: String,
    /// Metric name.
    pub metric: String,
    /// The value.
    pub value: f64,
    /// The threshold, if any.
    pub threshold: Option<f64>,
    /// The value crossed the threshold.
    pub breached: bool,
    /// Model of the trace.
    pub model: Option<String>,
    /// When it was taken, unix nanos.
    pub created_at_unix_nano: i64,
}

/// Inserts metric snapshots in one transaction.
pub fn insert_metric_snapshots(store: &Store, rows: &[NewMetricSnapshot]) -> Result<()> {
    let err = |e| sqlite_err(store.path(), e);
    let tx = store.connection().unchecked_transaction().map_err(err)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO metric_snapshots (trace_id, metric, value, threshold, breached, model,
                    created_at_unix_nano) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(err)?;
        for s in rows {
            stmt.execute(params![
                s.trace_id,
                s.metric,
                s.value,
                s.threshold,
                s.breached,
                s.model,
                s.created_at_unix_nano
            ])
            .map_err(err)?;
        }
    }
    tx.commit().map_err(err)
}
