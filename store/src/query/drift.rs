//! Correlates a drift detector's table (a sibling system writing into the same file) with what
//! the gateway saw inside each drift window: breached metric snapshots and the slowest and
//! costliest traces.
//!
//! The table belongs to the detector: the gateway only reads it, never creates or alters it
//! (the reader runs with `PRAGMA query_only`). Its name, columns and time unit come from the
//! `[drift]` section of `gateway.toml`, carried by [`DriftQuery`]; the defaults read the layout
//! `drift_snapshots (feature, score, threshold, drifted, window_start_unix_nano,
//! window_end_unix_nano)`. A table (or view) lacking a mapped column yields
//! [`QueryError::Incompatible`] naming the column and its `[drift]` key; an absent table gives an
//! empty report with an explanation.

use super::drift_units::to_ns;
use super::{MetricSnapshot, QueryError, QueryResult, Reader};
use rusqlite::params;
use serde::{Deserialize, Serialize};

/// Time units a detector may use for its window columns (`[drift] time_unit`).
pub const TIME_UNITS: [&str; 5] = ["s", "ms", "us", "ns", "iso8601"];

/// Which drift rows to correlate, and how the detector's table is read (`[drift]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DriftQuery {
    /// Rows whose window ends after this (unix nanos).
    pub since: i64,
    /// Rows whose window starts before this (unix nanos).
    pub until: i64,
    /// Most drift rows, newest window first.
    pub limit: u32,
    /// Traces kept per ranking (slowest, costliest).
    pub top: u32,
    /// Only rows whose drifted flag is set (ignored without `drifted_column`).
    pub drifted_only: bool,
    /// The detector's table or view. Default `drift_snapshots`.
    pub table: String,
    /// Column of the window start. Default `window_start_unix_nano`.
    pub window_start_column: String,
    /// Column of the window end (exclusive). Default `window_end_unix_nano`.
    pub window_end_column: String,
    /// Unit of both window columns: one of [`TIME_UNITS`]. Default `ns`.
    pub time_unit: String,
    /// Column naming the drifted feature. Default `feature`.
    pub feature_column: String,
    /// Column of the drift score (PSI, KS, ...). Default `score`.
    pub score_column: String,
    /// Column of the model the row is about; when set, a row is correlated only with traces and
    /// snapshots of that model (a null model matches all). Default none.
    pub model_column: Option<String>,
    /// Column of the drifted flag (0/1, true/false). Default `drifted`.
    pub drifted_column: Option<String>,
    /// Column of the score's threshold. Default: `threshold` when the table has it.
    pub threshold_column: Option<String>,
    /// Column of the row id. Default: `id` when the table has it, else the rowid (null for a
    /// view).
    pub id_column: Option<String>,
}

impl Default for DriftQuery {
    fn default() -> Self {
        Self {
            since: i64::MIN,
            until: i64::MAX,
            limit: 50,
            top: 5,
            drifted_only: true,
            table: "drift_snapshots".into(),
            window_start_column: "window_start_unix_nano".into(),
            window_end_column: "window_end_unix_nano".into(),
            time_unit: "ns".into(),
            feature_column: "feature".into(),
            score_column: "score".into(),
            model_column: None,
            drifted_column: Some("drifted".into()),
            threshold_column: None,
            id_column: None,
        }
    }
}

/// One row of the detector's table, times converted to unix nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftSnapshot {
    /// Row id (the id column, else the rowid; null for a view without an id column).
    pub id: Option<i64>,
    /// The feature that drifted.
    pub feature: Option<String>,
    /// The model the row is about, when `[drift] model_column` is set.
    pub model: Option<String>,
    /// Drift score.
    pub score: Option<f64>,
    /// Threshold of the score, if any.
    pub threshold: Option<f64>,
    /// The drifted flag; null when `[drift] drifted_column` is not set.
    pub drifted: Option<bool>,
    /// Start of the window, unix nanos (converted from `[drift] time_unit`).
    pub window_start_unix_nano: Option<i64>,
    /// End of the window (exclusive), unix nanos.
    pub window_end_unix_nano: Option<i64>,
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
    /// The detector's table that was read (`[drift] table`).
    pub table: String,
    /// Whether that table (or view) exists in the database.
    pub table_found: bool,
    /// Why the report is empty when it cannot be otherwise (no table), and how to connect one.
    pub explanation: Option<String>,
    /// Doubts about the data, e.g. window values that do not look like `[drift] time_unit`.
    pub warnings: Vec<String>,
    /// Drift rows, newest window first.
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
    span_id: Option<String>,
    llm_span_id: Option<String>,
    request_index: Option<i64>,
}

/// The explanation of an empty report without a detector table.
pub fn no_table_explanation(table: &str) -> String {
    format!(
        "No drift table: the database has no table or view named {table}. The gateway never \
         creates it; a drift detector writes it into the same SQLite file. Point [drift] in \
         gateway.toml at the detector's table (table, window_start_column, window_end_column, \
         time_unit = s|ms|us|ns|iso8601, feature_column, score_column, and optionally \
         model_column and drifted_column); see docs/schema.md."
    )
}

/// An SQL identifier, quoted.
pub(super) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `expr` as 0/1 (null stays null): 0, 0.0, '0', 'false', 'f', 'no', 'n' and '' are false.
fn truthy(expr: &str) -> String {
    format!(
        "(CASE WHEN {expr} IS NULL THEN NULL WHEN lower(trim(CAST({expr} AS TEXT))) IN \
         ('0', '0.0', 'false', 'f', 'no', 'n', '') THEN 0 ELSE 1 END)"
    )
}

/// The columns of the detector's table as the correlation reads them.
#[derive(Debug, Clone)]
struct Resolved {
    /// `None`: the rowid; `Some(None)`: null (a view).
    id: Option<Option<String>>,
    threshold: Option<String>,
}

impl DriftQuery {
    /// The correlation SQL of this mapping, with the id and threshold columns as configured
    /// (unset: the rowid and null). Parameters: `?1` since, `?2` until, `?3` top, `?4` limit.
    pub fn correlation_sql(&self) -> String {
        self.sql(&Resolved {
            id: self.id_column.clone().map(Some),
            threshold: self.threshold_column.clone(),
        })
    }

    fn sql(&self, r: &Resolved) -> String {
        let col = |c: &str| format!("src.{}", ident(c));
        let time = |c: &str| to_ns(&col(c), &self.time_unit).unwrap_or_else(|| "NULL".into());
        let id = match &r.id {
            None => "src.rowid".to_owned(),
            Some(None) => "NULL".to_owned(),
            Some(Some(c)) => col(c),
        };
        let opt = |c: &Option<String>| c.as_deref().map_or_else(|| "NULL".to_owned(), col);
        let drifted = self
            .drifted_column
            .as_deref()
            .map_or_else(|| "NULL".to_owned(), |c| truthy(&col(c)));
        let by_model = if self.model_column.is_some() {
            " AND (d.model IS NULL OR model = d.model)"
        } else {
            ""
        };
        let only_drifted = if self.drifted_only && self.drifted_column.is_some() {
            " AND d.drifted = 1"
        } else {
            ""
        };
        format!(
            "WITH gateway_drift_rows AS (
  SELECT {id} AS id, {feature} AS feature, {model} AS model, {score} AS score,
    {threshold} AS threshold, {drifted} AS drifted,
    {start} AS window_start_unix_nano, {end} AS window_end_unix_nano
  FROM {table} AS src)
SELECT d.id, d.feature, d.model, d.score, d.threshold, d.drifted,
    d.window_start_unix_nano, d.window_end_unix_nano,
    (SELECT json_group_array(json_object('id', m.id, 'trace_id', m.trace_id, 'metric', m.metric,
            'value', m.value, 'threshold', m.threshold, 'breached', m.breached, 'model', m.model,
            'created_at_unix_nano', m.created_at_unix_nano, 'span_id', m.span_id,
            'llm_span_id', m.llm_span_id, 'request_index', m.request_index))
       FROM (SELECT * FROM metric_snapshots
             WHERE breached = 1 AND created_at_unix_nano >= d.window_start_unix_nano
               AND created_at_unix_nano < d.window_end_unix_nano{by_model}
             ORDER BY created_at_unix_nano DESC, id DESC LIMIT 100) AS m),
    (SELECT json_group_array(json_object('trace_id', t.trace_id,
            'start_time_unix_nano', t.start_time_unix_nano, 'duration_ms', t.duration_ms,
            'cost_usd', t.cost_usd, 'model', t.model, 'status', t.status))
       FROM (SELECT * FROM traces
             WHERE start_time_unix_nano >= d.window_start_unix_nano
               AND start_time_unix_nano < d.window_end_unix_nano{by_model}
             ORDER BY duration_ms DESC LIMIT ?3) AS t),
    (SELECT json_group_array(json_object('trace_id', t.trace_id,
            'start_time_unix_nano', t.start_time_unix_nano, 'duration_ms', t.duration_ms,
            'cost_usd', t.cost_usd, 'model', t.model, 'status', t.status))
       FROM (SELECT * FROM traces
             WHERE start_time_unix_nano >= d.window_start_unix_nano
               AND start_time_unix_nano < d.window_end_unix_nano AND cost_usd IS NOT NULL{by_model}
             ORDER BY cost_usd DESC LIMIT ?3) AS t)
  FROM gateway_drift_rows AS d
  WHERE d.window_end_unix_nano > ?1 AND d.window_start_unix_nano < ?2{only_drifted}
  ORDER BY d.window_start_unix_nano DESC, d.id DESC
  LIMIT ?4",
            feature = col(&self.feature_column),
            model = opt(&self.model_column),
            score = col(&self.score_column),
            threshold = opt(&r.threshold),
            start = time(&self.window_start_column),
            end = time(&self.window_end_column),
            table = ident(&self.table),
        )
    }
}

impl Reader {
    /// Whether the detector's table is a view, and its columns (lowercase); `None` when absent.
    fn drift_table(&self, table: &str) -> QueryResult<Option<(bool, Vec<String>)>> {
        let kind: Option<String> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT type FROM sqlite_master WHERE type IN ('table', 'view')
                     AND name = ?1 COLLATE NOCASE",
                )
                .map_err(|e| self.err(e))?;
            let mut rows = stmt.query([table]).map_err(|e| self.err(e))?;
            match rows.next().map_err(|e| self.err(e))? {
                Some(r) => Some(r.get(0).map_err(|e| self.err(e))?),
                None => None,
            }
        };
        let Some(kind) = kind else {
            return Ok(None);
        };
        // `table_xinfo`, not `table_info`: generated columns (virtual or stored) are columns a
        // detector may map; for a view both list the view's columns.
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM pragma_table_xinfo(?1)")
            .map_err(|e| self.err(e))?;
        let cols = stmt
            .query_map([table], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?
            .map(|c| c.map(|c| c.to_ascii_lowercase()))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(Some((kind == "view", cols)))
    }

    /// Checks the `[drift]` mapping of `q` against the detector's table, reading only: `false`
    /// when the table is absent (not an error: the detector may create it later),
    /// [`QueryError::Incompatible`] naming each mapped column the table lacks and its key.
    pub fn check_drift_mapping(&self, q: &DriftQuery) -> QueryResult<bool> {
        Ok(self.resolve_drift(q)?.is_some())
    }

    fn resolve_drift(&self, q: &DriftQuery) -> QueryResult<Option<Resolved>> {
        if to_ns("x", &q.time_unit).is_none() {
            return Err(QueryError::Incompatible {
                table: q.table.clone(),
                missing: vec![format!(
                    "a known time unit ([drift] time_unit is {:?}; use one of {})",
                    q.time_unit,
                    TIME_UNITS.join(", ")
                )],
            });
        }
        let Some((view, cols)) = self.drift_table(&q.table)? else {
            return Ok(None);
        };
        let has = |c: &str| cols.iter().any(|have| have.eq_ignore_ascii_case(c));
        let wanted = [
            (Some(&q.window_start_column), "window_start_column"),
            (Some(&q.window_end_column), "window_end_column"),
            (Some(&q.feature_column), "feature_column"),
            (Some(&q.score_column), "score_column"),
            (q.model_column.as_ref(), "model_column"),
            (q.drifted_column.as_ref(), "drifted_column"),
            (q.threshold_column.as_ref(), "threshold_column"),
            (q.id_column.as_ref(), "id_column"),
        ];
        let missing: Vec<String> = wanted
            .iter()
            .filter_map(|(c, key)| {
                c.filter(|c| !has(c))
                    .map(|c| format!("{c} ([drift] {key})"))
            })
            .collect();
        if !missing.is_empty() {
            return Err(QueryError::Incompatible {
                table: q.table.clone(),
                missing,
            });
        }
        let id = match &q.id_column {
            Some(c) => Some(Some(c.clone())),
            None if has("id") => Some(Some("id".to_owned())),
            None if view => Some(None),
            None => None,
        };
        let threshold = q
            .threshold_column
            .clone()
            .or_else(|| has("threshold").then(|| "threshold".to_owned()));
        Ok(Some(Resolved { id, threshold }))
    }

    /// The correlation SQL of `q` as [`Reader::drift_report`] runs it on this database: the id
    /// and threshold columns resolved against the detector's table when it exists (else as
    /// configured, see [`DriftQuery::correlation_sql`]). Parameters: `?1` since, `?2` until,
    /// `?3` traces per ranking, `?4` most drift rows. A table lacking a mapped column is
    /// [`QueryError::Incompatible`].
    pub fn drift_sql(&self, q: &DriftQuery) -> QueryResult<String> {
        Ok(match self.resolve_drift(q)? {
            Some(resolved) => q.sql(&resolved),
            None => q.correlation_sql(),
        })
    }

    /// Drift rows in range, each with the breached snapshots and worst traces of its window.
    /// Reads only: without the detector's table the report is empty, with an explanation.
    pub fn drift_report(&self, q: &DriftQuery) -> QueryResult<DriftReport> {
        let mut report = DriftReport {
            table: q.table.clone(),
            table_found: false,
            explanation: None,
            warnings: Vec::new(),
            correlations: Vec::new(),
        };
        let Some(resolved) = self.resolve_drift(q)? else {
            report.explanation = Some(no_table_explanation(&q.table));
            return Ok(report);
        };
        report.table_found = true;
        let sql = q.sql(&resolved);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![q.since, q.until, q.top, q.limit], |r| {
                let drift = DriftSnapshot {
                    id: r.get(0)?,
                    feature: text(r.get_ref(1)?),
                    model: text(r.get_ref(2)?),
                    score: real(r.get_ref(3)?),
                    threshold: real(r.get_ref(4)?),
                    drifted: r.get::<_, Option<i64>>(5)?.map(|v| v != 0),
                    window_start_unix_nano: r.get(6)?,
                    window_end_unix_nano: r.get(7)?,
                };
                let json: [Option<String>; 3] = [r.get(8)?, r.get(9)?, r.get(10)?];
                Ok((drift, json))
            })
            .map_err(|e| self.err(e))?;
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
                    span_id: s.span_id,
                    llm_span_id: s.llm_span_id,
                    request_index: s.request_index,
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
            report.correlations.push(DriftCorrelation {
                drift,
                breached_snapshots,
                slowest_traces,
                costliest_traces,
            });
        }
        report.warnings = self.drift_unit_warnings(q)?;
        Ok(report)
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

fn real(v: rusqlite::types::ValueRef<'_>) -> Option<f64> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) => Some(f),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        ValueRef::Null | ValueRef::Blob(_) => None,
    }
}

fn parse<T: for<'de> Deserialize<'de>>(json: Option<String>) -> Vec<T> {
    json.and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}

/// The correlation query of the default `[drift]` mapping (the `drift_snapshots` layout with
/// `id` and `threshold` columns); [`DriftQuery::correlation_sql`] gives it for any mapping.
pub const CORRELATION_SQL: &str = r#"WITH gateway_drift_rows AS (
  SELECT src."id" AS id, src."feature" AS feature, NULL AS model, src."score" AS score,
    src."threshold" AS threshold, (CASE WHEN src."drifted" IS NULL THEN NULL WHEN lower(trim(CAST(src."drifted" AS TEXT))) IN ('0', '0.0', 'false', 'f', 'no', 'n', '') THEN 0 ELSE 1 END) AS drifted,
    CAST(src."window_start_unix_nano" AS INTEGER) AS window_start_unix_nano, CAST(src."window_end_unix_nano" AS INTEGER) AS window_end_unix_nano
  FROM "drift_snapshots" AS src)
SELECT d.id, d.feature, d.model, d.score, d.threshold, d.drifted,
    d.window_start_unix_nano, d.window_end_unix_nano,
    (SELECT json_group_array(json_object('id', m.id, 'trace_id', m.trace_id, 'metric', m.metric,
            'value', m.value, 'threshold', m.threshold, 'breached', m.breached, 'model', m.model,
            'created_at_unix_nano', m.created_at_unix_nano, 'span_id', m.span_id,
            'llm_span_id', m.llm_span_id, 'request_index', m.request_index))
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
  FROM gateway_drift_rows AS d
  WHERE d.window_end_unix_nano > ?1 AND d.window_start_unix_nano < ?2 AND d.drifted = 1
  ORDER BY d.window_start_unix_nano DESC, d.id DESC
  LIMIT ?4"#;

#[cfg(test)]
mod sql_tests {
    use super::*;

    fn default_layout() -> DriftQuery {
        DriftQuery {
            id_column: Some("id".into()),
            threshold_column: Some("threshold".into()),
            ..DriftQuery::default()
        }
    }

    #[test]
    fn the_published_query_is_the_default_mapping() {
        let sql = default_layout().correlation_sql();
        if std::env::var_os("PRINT_DRIFT_SQL").is_some() {
            println!("{sql}");
        }
        assert_eq!(CORRELATION_SQL, sql);
    }

    #[test]
    fn the_schema_doc_shows_the_published_query() {
        let doc = include_str!("../../../docs/schema.md");
        assert!(
            doc.contains(CORRELATION_SQL),
            "docs/schema.md must show the output of `api --drift-sql` for the default mapping"
        );
    }
}
