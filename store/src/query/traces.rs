//! Trace summaries (filtered, keyset-paginated lists), one trace's spans, and the live tail.

use super::{QueryResult, Reader};
use rusqlite::Row;
use rusqlite::types::Value;
use serde::Serialize;

/// The columns of [`TraceSummary`], in the order `summary_at` reads them.
const SUMMARY: &str = "t.trace_id, t.start_time_unix_nano, t.end_time_unix_nano, t.duration_ms,
    t.model, t.operation, t.stream, t.http_status, t.status, t.error_type, t.input_tokens,
    t.output_tokens, t.cached_tokens, t.reasoning_tokens, t.ttft_ms, t.cost_usd, t.unpriced,
    t.user_id, t.session_id, t.request_count,
    EXISTS (SELECT 1 FROM metric_snapshots m WHERE m.trace_id = t.trace_id AND +m.breached = 1)";

/// One row of `traces`, plus whether any metric snapshot of the trace breached its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceSummary {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// Start, nanoseconds since the Unix epoch.
    pub start_time_unix_nano: i64,
    /// End, nanoseconds since the Unix epoch.
    pub end_time_unix_nano: i64,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// Requested model.
    pub model: Option<String>,
    /// `gen_ai.operation.name`.
    pub operation: Option<String>,
    /// Whether the response was streamed.
    pub stream: bool,
    /// `ok`, `error` or `cancelled`.
    pub status: String,
    /// Status sent to the client.
    pub http_status: Option<i64>,
    /// `error.type`, if any.
    pub error_type: Option<String>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// Cached prompt tokens.
    pub cached_tokens: Option<i64>,
    /// Thinking tokens.
    pub reasoning_tokens: Option<i64>,
    /// Time to the first response chunk in milliseconds.
    pub ttft_ms: Option<f64>,
    /// Cost in USD; null when unpriced or unknown (never shown as 0).
    #[serde(serialize_with = "super::money::opt_usd")]
    pub cost_usd: Option<f64>,
    /// The model had no price.
    pub unpriced: bool,
    /// End user.
    pub user_id: Option<String>,
    /// Session.
    pub session_id: Option<String>,
    /// Gateway requests merged into this trace.
    pub request_count: i64,
    /// A metric snapshot of this trace breached its threshold.
    pub breached: bool,
}

pub(crate) fn summary_at(r: &Row<'_>, o: usize) -> rusqlite::Result<TraceSummary> {
    Ok(TraceSummary {
        trace_id: r.get(o)?,
        start_time_unix_nano: r.get(o + 1)?,
        end_time_unix_nano: r.get(o + 2)?,
        duration_ms: r.get(o + 3)?,
        model: r.get(o + 4)?,
        operation: r.get(o + 5)?,
        stream: r.get::<_, Option<i64>>(o + 6)?.unwrap_or(0) != 0,
        http_status: r.get(o + 7)?,
        status: r.get(o + 8)?,
        error_type: r.get(o + 9)?,
        input_tokens: r.get(o + 10)?,
        output_tokens: r.get(o + 11)?,
        cached_tokens: r.get(o + 12)?,
        reasoning_tokens: r.get(o + 13)?,
        ttft_ms: r.get(o + 14)?,
        cost_usd: r.get(o + 15)?,
        unpriced: r.get::<_, Option<i64>>(o + 16)?.unwrap_or(0) != 0,
        user_id: r.get(o + 17)?,
        session_id: r.get(o + 18)?,
        request_count: r.get(o + 19)?,
        breached: r.get(o + 20)?,
    })
}

/// A keyset position: the list continues strictly after this (newer-first) key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Start of the last trace returned.
    pub start_time_unix_nano: i64,
    /// Id of the last trace returned.
    pub trace_id: String,
}

impl Cursor {
    /// The opaque text form handed to clients.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.start_time_unix_nano, self.trace_id)
    }

    /// Parses [`Cursor::encode`]'s output; `None` when malformed.
    pub fn decode(s: &str) -> Option<Self> {
        let (start, id) = s.split_once('.')?;
        let start = start.parse::<i64>().ok()?;
        let ok = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self {
            start_time_unix_nano: start,
            trace_id: id.to_owned(),
        })
    }
}

/// Filters of the trace list; every field is optional except `limit`.
#[derive(Debug, Clone, Default)]
pub struct TraceFilter {
    /// Exact model.
    pub model: Option<String>,
    /// Exact status (`ok`, `error`, `cancelled`).
    pub status: Option<String>,
    /// Exact user id.
    pub user_id: Option<String>,
    /// Exact session id.
    pub session_id: Option<String>,
    /// Only traces at least this long.
    pub min_duration_ms: Option<f64>,
    /// Only traces costing at least this much (unpriced traces never match).
    pub min_cost_usd: Option<f64>,
    /// Only traces with (`true`) or without (`false`) a breached metric snapshot.
    pub breached: Option<bool>,
    /// Only traces starting at or after this time (unix nanos).
    pub since: Option<i64>,
    /// Only traces starting before this time (unix nanos).
    pub until: Option<i64>,
    /// Continue after this key.
    pub before: Option<Cursor>,
    /// Page size.
    pub limit: u32,
}

/// One page of traces, newest first.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TracePage {
    /// The traces of this page.
    pub traces: Vec<TraceSummary>,
    /// Cursor of the next page (pass as `before`), null on the last page.
    pub next: Option<String>,
}

/// One stored span, attributes and events parsed from their JSON.
#[derive(Debug, Clone, Serialize)]
pub struct SpanRecord {
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// Parent span id, null for a root.
    pub parent_span_id: Option<String>,
    /// Span name.
    pub name: String,
    /// `server`, `client`, `internal`, `producer` or `consumer`.
    pub kind: String,
    /// Start, unix nanos.
    pub start_time_unix_nano: i64,
    /// End, unix nanos.
    pub end_time_unix_nano: i64,
    /// `unset`, `ok` or `error`.
    pub status_code: String,
    /// Error description.
    pub status_message: Option<String>,
    /// Attribute object.
    pub attributes: serde_json::Value,
    /// Event array (`{name, time_unix_nano, attributes}`).
    pub events: serde_json::Value,
}

impl Reader {
    /// One page of trace summaries, newest first, by keyset on `(start, trace_id)`.
    pub fn list_traces(&self, f: &TraceFilter) -> QueryResult<TracePage> {
        let mut sql = format!("SELECT {SUMMARY} FROM traces t WHERE 1");
        let mut args: Vec<Value> = Vec::new();
        let mut eq = |col: &str, v: &Option<String>, sql: &mut String| {
            if let Some(v) = v {
                sql.push_str(&format!(" AND t.{col} = ?"));
                args.push(Value::Text(v.clone()));
            }
        };
        eq("model", &f.model, &mut sql);
        eq("status", &f.status, &mut sql);
        eq("user_id", &f.user_id, &mut sql);
        eq("session_id", &f.session_id, &mut sql);
        let mut push = |clause: &str, v: Value| {
            sql.push_str(clause);
            args.push(v);
        };
        if let Some(v) = f.min_duration_ms {
            push(" AND t.duration_ms >= ?", Value::Real(v));
        }
        if let Some(v) = f.min_cost_usd {
            push(" AND t.cost_usd >= ?", Value::Real(v));
        }
        if let Some(v) = f.since {
            push(" AND t.start_time_unix_nano >= ?", Value::Integer(v));
        }
        if let Some(v) = f.until {
            push(" AND t.start_time_unix_nano < ?", Value::Integer(v));
        }
        if let Some(c) = &f.before {
            let s = Value::Integer(c.start_time_unix_nano);
            push(" AND t.start_time_unix_nano <= ?", s.clone());
            push(" AND (t.start_time_unix_nano < ?", s);
            push(" OR t.trace_id < ?)", Value::Text(c.trace_id.clone()));
        }
        match f.breached {
            Some(true) => sql.push_str(" AND EXISTS (SELECT 1 FROM metric_snapshots m WHERE m.trace_id = t.trace_id AND +m.breached = 1)"),
            Some(false) => sql.push_str(" AND NOT EXISTS (SELECT 1 FROM metric_snapshots m WHERE m.trace_id = t.trace_id AND +m.breached = 1)"),
            None => {}
        }
        sql.push_str(" ORDER BY t.start_time_unix_nano DESC, t.trace_id DESC LIMIT ?");
        args.push(Value::Integer(i64::from(f.limit) + 1));

        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let mut traces = stmt
            .query_map(rusqlite::params_from_iter(args), |r| summary_at(r, 0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        let next = if traces.len() > f.limit as usize {
            traces.truncate(f.limit as usize);
            traces.last().map(|t| {
                Cursor {
                    start_time_unix_nano: t.start_time_unix_nano,
                    trace_id: t.trace_id.clone(),
                }
                .encode()
            })
        } else {
            None
        };
        Ok(TracePage { traces, next })
    }

    /// One trace's summary, `None` when unknown.
    pub fn trace(&self, trace_id: &str) -> QueryResult<Option<TraceSummary>> {
        let sql = format!("SELECT {SUMMARY} FROM traces t WHERE t.trace_id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query_map([trace_id], |r| summary_at(r, 0))
            .map_err(|e| self.err(e))?;
        rows.next().transpose().map_err(|e| self.err(e))
    }

    /// All spans of a trace, by start time.
    pub fn spans(&self, trace_id: &str) -> QueryResult<Vec<SpanRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT span_id, parent_span_id, name, kind, start_time_unix_nano,
                    end_time_unix_nano, status_code, status_message, attributes, events
                 FROM spans WHERE trace_id = ?1 ORDER BY start_time_unix_nano, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([trace_id], |r| {
                Ok(SpanRecord {
                    span_id: r.get(0)?,
                    parent_span_id: r.get(1)?,
                    name: r.get(2)?,
                    kind: r.get(3)?,
                    start_time_unix_nano: r.get(4)?,
                    end_time_unix_nano: r.get(5)?,
                    status_code: r.get(6)?,
                    status_message: r.get(7)?,
                    attributes: parse_json(r.get::<_, String>(8)?, serde_json::json!({})),
                    events: parse_json(r.get::<_, String>(9)?, serde_json::json!([])),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// Traces whose rowid is above `after`, oldest first, with their rowids (the live tail).
    pub fn traces_after(&self, after: i64, limit: u32) -> QueryResult<Vec<(i64, TraceSummary)>> {
        let sql = format!(
            "SELECT t.rowid, {SUMMARY} FROM traces t WHERE t.rowid > ?1 ORDER BY t.rowid LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params![after, limit], |r| {
                Ok((r.get(0)?, summary_at(r, 1)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// The highest rowid of `traces` (0 when empty): where a new tail starts.
    pub fn max_trace_rowid(&self) -> QueryResult<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(rowid), 0) FROM traces", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }
}

fn parse_json(text: String, fallback: serde_json::Value) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(fallback)
}
