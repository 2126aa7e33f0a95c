//! Correlates `drift_snapshots` (written by a sibling drift detector) with what the gateway saw
//! inside each drift window: breached metric snapshots and the slowest and costliest traces.
//!
//! The table belongs to the drift detector. When it is absent it is created with the agreed
//! layout; an existing table is never altered. A table with extra columns is read as it is; one
//! that lacks a needed column yields [`QueryError::Incompatible`] naming the columns.

use super::{MetricSnapshot, QueryError, QueryResult, Reader};
use rusqlite::params;
use serde::{Deserialize, Serialize};

/// The layout created when the table is absent.
const CREATE: &str = "CREATE TABLE IF NOT EXISTS drift_snapshots (
    id INTEGER PRIMARY KEY,
    feature TEXT NOT NULL,
    score REAL NOT NULL,
    threshold REAL,
    drifted INTEGER NOT NULL,
    window_start_unix_nano INTEGER NOT NULL,
    window_end_unix_nano INTEGER NOT NULL,
    created_at_unix_nano INTEGER NOT NULL
)";

/// Columns the correlation cannot do without (`id` falls back to the rowid, `threshold` to null).
const REQUIRED: [&str; 6] = [
    "feature",
    "score",
    "drifted",
    "window_start_unix_nano",
    "window_end_unix_nano",
    "created_at_unix_nano",
];

/// Which drift rows to correlate.
#[derive(Debug, Clone)]
pub struct DriftQuery {
    /// Drift rows created at or after (unix nanos).
    pub since: i64,
    /// Drift rows created before (unix nanos).
    pub until: i64,
    /// Most drift rows, newest first.
    pub limit: u32,
    /// Traces kept per ranking (slowest, costliest).
    pub top: u32,
}

/// One row of `drift_snapshots`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftSnapshot {
    /// Row id (the rowid when the table has no `id`).
    pub id: i64,
    /// The feature that drifted.
    pub feature: Option<String>,
    /// Drift score.
    pub score: Option<f64>,
    /// Threshold of the score, if any.
    pub threshold: Option<f64>,
    /// The score crossed the threshold.
    pub drifted: bool,
    /// Start of the compared window, unix nanos.
    pub window_start_unix_nano: Option<i64>,
    /// End of the compared window, unix nanos.
    pub window_end_unix_nano: Option<i64>,
    /// When the detector wrote the row, unix nanos.
    pub created_at_unix_nano: Option<i64>,
}

/// A trace ranked among the worst of a drift window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorstTrace {
    /// Trace id.
    pub trace_id: String,
    /// Start, unix nanos.
    pub start_time_unix_nano: i64,
    /// Wall time in ms.
    pub duration_ms: f64,
    /// Cost in USD, null when unpriced.
    #[serde(serialize_with = "super::money::opt_usd")]
    pub cost_usd: Option<f64>,
    /// Model.
    pub model: Option<String>,
    /// `ok`, `error` or `cancelled`.
    pub status: String,
}

/// One drift row with what happened in its window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftCorrelation {
    /// The drift row.
    pub drift: DriftSnapshot,
    /// Breached metric snapshots created inside the window (newest first, at most 100).
    pub breached_snapshots: Vec<MetricSnapshot>,
    /// Slowest traces that started inside the window.
    pub slowest_traces: Vec<WorstTrace>,
    /// Costliest priced traces that started inside the window.
    pub costliest_traces: Vec<WorstTrace>,
}

/// The correlation of every drift row in range.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftReport {
    /// Drift rows, newest first.
    pub correlations: Vec<DriftCorrelation>,
}

/// A snapshot as `json_object` spells it.
#[derive(Deserialize)]
struct SnapshotJson {
    id: i64,
    trace_id: String,
    metric: String,
    value: f64,
    threshold: Option<f64>,
    breached: i64,
    model: Option<String>,
    created_at_unix_nano: i64,
}

/// The correlation query; `{id}` and `{threshold}` name columns of the existing table.
pub const CORRELATION_SQL: &str = "SELECT d.{id}, d.feature, d.score, {threshold}, d.drifted,
    d.window_start_unix_nano, d.window_end_unix_nano, d.created_at_unix_nano,
    (SELECT json_group_array(json_object('id', m.id, 'trace_id', m.trace_id, 'metric', m.metric,
            'value', m.value, 'threshold', m.threshold, 'breached', m.breached, 'model', m.model,
            'created_at_unix_nano', m.created_at_unix_nano))
       FROM (SELECT * FROM metric_snapshots
             WHERE breached = 1 AND created_at_unix_nano >= d.window_start_unix_nano
               AND created_at_unix_nano < d.window_end_unix_nano
             ORDER BY created_at_unix_nano DESC, id DESC LIMIT 100) AS m),
    (SELECT json_group_array(json_object('trace_id', t.trace_id,
            'start_time_unix_nano', t.start_time_unix_nano, 'duration_ms', t.duration_ms,
            'cost_usd', t.cost_usd, 'model', t.model, 'status', t.status))
       FROM (SELECT * FROM traces
             WHERE start_time_unix_nano >= d.window_start_unix_nano
               AND start_time_unix_nano < d.window_end_unix_nano
             ORDER BY duration_ms DESC LIMIT ?3) AS t),
    (SELECT json_group_array(json_object('trace_id', t.trace_id,
            'start_time_unix_nano', t.start_time_unix_nano, 'duration_ms', t.duration_ms,
            'cost_usd', t.cost_usd, 'model', t.model, 'status', t.status))
       FROM (SELECT * FROM traces
             WHERE start_time_unix_nano >= d.window_start_unix_nano
               AND start_time_unix_nano < d.window_end_unix_nano AND cost_usd IS NOT NULL
             ORDER BY cost_usd DESC LIMIT ?3) AS t)
  FROM drift_snapshots AS d
  WHERE d.created_at_unix_nano >= ?1 AND d.created_at_unix_nano < ?2
  ORDER BY d.created_at_unix_nano DESC, d.{id} DESC
  LIMIT ?4";

impl Reader {
    /// Creates `drift_snapshots` with the agreed layout when it is absent; `true` if created.
    pub fn ensure_drift_table(&self) -> QueryResult<bool> {
        if self.has_table("drift_snapshots")? {
            return Ok(false);
        }
        let sql = format!("PRAGMA query_only = OFF; {CREATE}; PRAGMA query_only = ON;");
        let res = self.conn.execute_batch(&sql).map_err(|e| self.err(e));
        if res.is_err() {
            // Never leave a reader writable.
            let _ = self.conn.execute_batch("PRAGMA query_only = ON;");
        }
        res.map(|()| true)
    }

    /// Drift rows in range, each with the breached snapshots and worst traces of its window.
    pub fn drift_report(&self, q: &DriftQuery) -> QueryResult<DriftReport> {
        self.ensure_drift_table()?;
        let mut cols = Vec::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT name FROM pragma_table_info('drift_snapshots')")
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| self.err(e))?;
            for c in rows {
                cols.push(c.map_err(|e| self.err(e))?.to_ascii_lowercase());
            }
        }
        let missing: Vec<String> = REQUIRED
            .iter()
            .filter(|c| !cols.iter().any(|have| have == *c))
            .map(|c| (*c).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(QueryError::Incompatible {
                table: "drift_snapshots".into(),
                missing,
            });
        }
        let has = |c: &str| cols.iter().any(|have| have == c);
        let sql = CORRELATION_SQL
            .replace("{id}", if has("id") { "id" } else { "rowid" })
            .replace(
                "{threshold}",
                if has("threshold") {
                    "d.threshold"
                } else {
                    "NULL"
                },
            );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![q.since, q.until, q.top, q.limit], |r| {
                let drift = DriftSnapshot {
                    id: r.get(0)?,
                    feature: text(r.get_ref(1)?),
                    score: r.get(2)?,
                    threshold: r.get(3)?,
                    drifted: r.get::<_, Option<f64>>(4)?.is_some_and(|v| v != 0.0),
                    window_start_unix_nano: r.get(5)?,
                    window_end_unix_nano: r.get(6)?,
                    created_at_unix_nano: r.get(7)?,
                };
                let json: [Option<String>; 3] = [r.get(8)?, r.get(9)?, r.get(10)?];
                Ok((drift, json))
            })
            .map_err(|e| self.err(e))?;
        let mut correlations = Vec::new();
        for row in rows {
            let (drift, [snaps, slow, costly]) = row.map_err(|e| self.err(e))?;
            let breached_snapshots = parse::<SnapshotJson>(snaps)
                .into_iter()
                .map(|s| MetricSnapshot {
                    id: s.id,
                    trace_id: s.trace_id,
                    metric: s.metric,
                    value: s.value,
                    threshold: s.threshold,
                    breached: s.breached != 0,
                    model: s.model,
                    created_at_unix_nano: s.created_at_unix_nano,
                })
                .collect();
            let mut slowest_traces = parse::<WorstTrace>(slow);
            slowest_traces.sort_by(|a, b| b.duration_ms.total_cmp(&a.duration_ms));
            let mut costliest_traces = parse::<WorstTrace>(costly);
            costliest_traces.sort_by(|a, b| {
                b.cost_usd
                    .unwrap_or(0.0)
                    .total_cmp(&a.cost_usd.unwrap_or(0.0))
            });
            correlations.push(DriftCorrelation {
                drift,
                breached_snapshots,
                slowest_traces,
                costliest_traces,
            });
        }
        Ok(DriftReport { correlations })
    }
}

fn text(v: rusqlite::types::ValueRef<'_>) -> Option<String> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(json: Option<String>) -> Vec<T> {
    json.and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}
