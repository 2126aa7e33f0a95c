//! Rows of `metric_snapshots`: the feed of the alerting engine.
//!
//! Ids are never reused (the table is `AUTOINCREMENT`, schema version 5), and the gateway's
//! writer is the table's only writer, so committed ids only grow: a reader that asks for
//! `id > N` in ascending id order and remembers the last id it saw sees every row exactly
//! once, whatever retention deletes meanwhile.

use super::{QueryResult, Reader};
use rusqlite::Row;
use rusqlite::types::Value;
use serde::Serialize;

const COLUMNS: &str = "id, trace_id, metric, value, threshold, breached, model, \
    created_at_unix_nano, span_id, llm_span_id, request_index";

/// One metric value a plugin emitted for a trace, with its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricSnapshot {
    /// Row id.
    pub id: i64,
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
    /// When the snapshot was taken, unix nanos.
    pub created_at_unix_nano: i64,
    /// The span that carried the value: the trace's `post_processing` span. The LLM span is
    /// its sibling (same parent) with `gateway.step = "llm_call"`. Null for rows written before
    /// schema version 5.
    pub span_id: Option<String>,
    /// The LLM call (span) the value measures. Null for rows written before schema version 6
    /// and for requests without an LLM call.
    pub llm_span_id: Option<String>,
    /// The request's position in its trace: 1 for the first gateway request folded into the
    /// trace, 2 for the next (several requests share a trace when the client sent one
    /// `traceparent`). Null for rows written before schema version 6.
    pub request_index: Option<i64>,
}

pub(crate) fn snapshot_at(r: &Row<'_>, o: usize) -> rusqlite::Result<MetricSnapshot> {
    Ok(MetricSnapshot {
        id: r.get(o)?,
        trace_id: r.get(o + 1)?,
        metric: r.get(o + 2)?,
        value: r.get(o + 3)?,
        threshold: r.get(o + 4)?,
        breached: r.get::<_, i64>(o + 5)? != 0,
        model: r.get(o + 6)?,
        created_at_unix_nano: r.get(o + 7)?,
        span_id: r.get(o + 8)?,
        llm_span_id: r.get(o + 9)?,
        request_index: r.get(o + 10)?,
    })
}

/// Filters of the snapshot list.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    /// Only breached (`true`) or not breached (`false`) rows.
    pub breached: Option<bool>,
    /// Created at or after (unix nanos).
    pub since: Option<i64>,
    /// Created before (unix nanos).
    pub until: Option<i64>,
    /// Exact metric name.
    pub metric: Option<String>,
    /// Exact trace id.
    pub trace_id: Option<String>,
    /// Cursor of the alert feed: only rows with a greater id, returned in ascending id order
    /// (without it: newest first).
    pub after_id: Option<i64>,
    /// Most rows returned.
    pub limit: u32,
}

impl Reader {
    /// Snapshots matching `f`: newest (highest id) first, or in ascending id order after
    /// `f.after_id`.
    pub fn metric_snapshots(&self, f: &SnapshotFilter) -> QueryResult<Vec<MetricSnapshot>> {
        let mut sql = format!("SELECT {COLUMNS} FROM metric_snapshots WHERE 1");
        // `breached` as a literal, not a parameter: the two `breached` indexes hold breached rows
        // only (migration 13), and SQLite uses a partial index only when the query's own terms
        // imply its `WHERE`. Other rows are read along the rowid, newest (highest id) first or
        // ascending from a cursor.
        sql.push_str(match f.breached {
            None => "",
            Some(true) => " AND breached = 1",
            Some(false) => " AND breached = 0",
        });
        let mut args: Vec<Value> = Vec::new();
        let mut push = |clause: &str, v: Value| {
            sql.push_str(clause);
            args.push(v);
        };
        if let Some(v) = f.since {
            push(" AND created_at_unix_nano >= ?", Value::Integer(v));
        }
        if let Some(v) = f.until {
            push(" AND created_at_unix_nano < ?", Value::Integer(v));
        }
        if let Some(v) = &f.metric {
            push(" AND metric = ?", Value::Text(v.clone()));
        }
        if let Some(v) = &f.trace_id {
            push(" AND trace_id = ?", Value::Text(v.clone()));
        }
        let order = match f.after_id {
            Some(after) => {
                push(" AND id > ?", Value::Integer(after));
                " ORDER BY id LIMIT ?"
            }
            // Newest first by id, the order rows were written in: a walk back from the end of
            // the table (or of the feed's index) that stops at the limit, where ordering by
            // `created_at_unix_nano` sorted every matching row first. The two orders differ
            // only among rows of one batch.
            None => " ORDER BY id DESC LIMIT ?",
        };
        push(order, Value::Integer(i64::from(f.limit)));
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| snapshot_at(r, 0))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// All snapshots of one trace, oldest first.
    pub fn trace_snapshots(&self, trace_id: &str) -> QueryResult<Vec<MetricSnapshot>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM metric_snapshots WHERE trace_id = ?1
             ORDER BY created_at_unix_nano, id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([trace_id], |r| snapshot_at(r, 0))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }
}
