//! Correlates a drift detector's table (a sibling system writing into the same file) with what
//! the gateway saw inside each drift window: the LLM calls (spans) on which a metric breached,
//! and the slowest and costliest traces.
//!
//! The table belongs to the detector: the gateway only reads it, never creates or alters it
//! (the reader runs with `PRAGMA query_only`). Its name, columns and time unit come from the
//! `[drift]` section of `gateway.toml`, carried by [`DriftQuery`]; the defaults read the layout
//! `drift_snapshots (feature, score, threshold, drifted, window_start_unix_nano,
//! window_end_unix_nano)`. A table (or view) lacking a mapped column yields
//! [`QueryError::Incompatible`] naming the column and its `[drift]` key; an absent table gives an
//! empty report with an explanation.
//!
//! Nothing is capped silently: windows come in pages, ascending by [`DriftCursor`] (window
//! start, id, end, feature, model), with `has_more` and the cursor of the next page; each
//! window lists at most [`DriftQuery::spans`] breached spans and says how many there are.
//!
//! A breached span is an LLM call (`spans` row, `gateway.step = llm_call`) that starts inside the
//! window and that at least one breached `metric_snapshots` row names (`llm_span_id`): one entry
//! per span, with each breached row as one of its `breaches`. A metric row is written when its
//! call ends, so only rows created at or after the window start are read. Breached rows created
//! inside the window that name no stored LLM span (rows older than schema version 6, requests
//! without an LLM call, spans dropped) are counted per window, not listed.

use super::drift_units::to_ns;
use super::{QueryError, QueryResult, Reader};
use rusqlite::named_params;
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
    /// Most drift rows (windows) in one page.
    pub limit: u32,
    /// Most breached spans listed per window (the others are counted: `spans_total`).
    pub spans: u32,
    /// Only windows after this one in the ascending order of pages (the `next` of the previous
    /// page); `None`: from the first.
    pub after: Option<DriftCursor>,
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
            spans: 20,
            after: None,
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

/// The key a window without an id sorts by (the smallest id but one): views without an id column.
pub const NO_ID: i64 = i64::MIN + 1;

/// Where a page of windows ends: the key of its last window. Pages are in ascending order of
/// (window start, id, window end, feature, model), which is unique per row even for a view
/// without an id column (`id` is then [`NO_ID`]; a null feature or model is `""`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftCursor {
    /// Start of the window, unix nanos.
    pub window_start_unix_nano: i64,
    /// Id of the row, [`NO_ID`] when it has none.
    pub id: i64,
    /// End of the window, unix nanos.
    pub window_end_unix_nano: i64,
    /// The feature as text, `""` when null.
    pub feature: String,
    /// The model as text, `""` when null.
    pub model: String,
}

impl DriftCursor {
    /// The opaque text form handed to clients: the five parts joined by `.`, the feature and
    /// the model in hex (UTF-8 bytes), so that any text survives a URL.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}.{}.{}",
            self.window_start_unix_nano,
            self.id,
            self.window_end_unix_nano,
            hex::encode(&self.feature),
            hex::encode(&self.model)
        )
    }

    /// Parses [`DriftCursor::encode`]'s output; `None` when malformed.
    pub fn decode(s: &str) -> Option<Self> {
        fn unhex(h: &str) -> Option<String> {
            if h.len() > 4096 {
                return None;
            }
            String::from_utf8(hex::decode(h).ok()?).ok()
        }
        let mut parts = s.split('.');
        let start = parts.next()?.parse().ok()?;
        let id = parts.next()?.parse().ok()?;
        let end = parts.next()?.parse().ok()?;
        let feature = unhex(parts.next()?)?;
        let model = unhex(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            window_start_unix_nano: start,
            id,
            window_end_unix_nano: end,
            feature,
            model,
        })
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
    /// Cost in USD; null when unpriced, or when the call has no cost of its own (metered on a
    /// later call, free, or no usage reported): `unpriced` tells the two apart.
    #[serde(serialize_with = "super::money::opt_usd")]
    pub cost_usd: Option<f64>,
    /// No price was known for the call's model (the `traces.unpriced` flag).
    pub unpriced: bool,
    /// Model.
    pub model: Option<String>,
    /// `ok`, `error` or `cancelled`.
    pub status: String,
}

/// A metric that breached on an LLM call: one breached `metric_snapshots` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpanBreach {
    /// The `metric_snapshots` row (`id`).
    pub snapshot_id: i64,
    /// Metric name.
    pub metric: String,
    /// The value.
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: Option<f64>,
    /// When the row was written (the call's end), unix nanos.
    pub created_at_unix_nano: i64,
}

/// An LLM call (span) that started inside a drift window and on which at least one metric
/// breached.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreachedSpan {
    /// Span id (16 hex digits): the `llm_span_id` of the breached rows.
    pub span_id: String,
    /// Trace id.
    pub trace_id: String,
    /// Span name, e.g. `generate_content gemini-2.5-flash`.
    pub name: String,
    /// `gen_ai.operation.name`, e.g. `generate_content`.
    pub operation: Option<String>,
    /// `gen_ai.request.model` of the call (else the breached rows' model).
    pub model: Option<String>,
    /// The request's position in its trace (1 for the first request of a merged trace).
    pub request_index: Option<i64>,
    /// Start of the call, unix nanos.
    pub start_time_unix_nano: i64,
    /// Duration of the call in ms.
    pub duration_ms: f64,
    /// Span status: `unset`, `ok` or `error`.
    pub status_code: String,
    /// `gen_ai.usage.input_tokens`; null when the call reported none.
    pub input_tokens: Option<i64>,
    /// `gen_ai.usage.output_tokens`; null when the call reported none.
    pub output_tokens: Option<i64>,
    /// `gen_ai.usage.cache_read.input_tokens`; null when not reported.
    pub cached_tokens: Option<i64>,
    /// `gen_ai.usage.reasoning.output_tokens`; null when not reported.
    pub reasoning_tokens: Option<i64>,
    /// Cost of the call in USD (`gateway.cost.usd` of its `post_processing` span); null when
    /// unpriced or when the call has no cost of its own (deferred), never 0 for unknown.
    #[serde(serialize_with = "super::money::opt_usd")]
    pub cost_usd: Option<f64>,
    /// No price was known for the call (`gateway.cost.unpriced` of the call or of its
    /// `post_processing` span): tells an unpriced call from one with no cost of its own.
    pub unpriced: bool,
    /// The metrics that breached on this call, one per breached row, by row id.
    pub breaches: Vec<SpanBreach>,
}

/// One drift row with what happened in its window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftCorrelation {
    /// The drift row.
    pub drift: DriftSnapshot,
    /// LLM calls that started inside the window with at least one breached metric: one entry
    /// per call, by start time then span id, at most the report's `spans_limit`.
    pub breached_spans: Vec<BreachedSpan>,
    /// How many such calls the window has (all of them, listed or not).
    pub spans_total: u64,
    /// `spans_total` exceeds the calls listed: the list stops at `spans_limit`.
    pub spans_truncated: bool,
    /// Breached rows created inside the window that name no stored LLM call (written before
    /// schema version 6, a request without an LLM call, or a span no longer stored): counted,
    /// not listed.
    pub unattributed_breaches: u64,
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
    /// Most windows per page that applied (the requested one, capped).
    pub limit: u32,
    /// Most breached spans listed per window that applied (the requested one, capped).
    pub spans_limit: u32,
    /// More windows match after this page: ask again with `after = next`.
    pub has_more: bool,
    /// The cursor after the last window of this page (the given `after` when the page is
    /// empty, null when both are): pass it as `after` for the next page, or later to see only
    /// windows added since.
    pub next: Option<String>,
    /// Drift rows in ascending order of (window start, id, window end, feature, model).
    pub correlations: Vec<DriftCorrelation>,
}

/// A window's breached spans as `json_object` spells them.
#[derive(Deserialize, Default)]
struct SpansJson {
    total: u64,
    spans: Vec<SpanJson>,
}

/// A breached span as `json_object` spells it.
#[derive(Deserialize)]
struct SpanJson {
    span_id: String,
    trace_id: String,
    name: String,
    operation: Option<serde_json::Value>,
    model: Option<serde_json::Value>,
    request_index: Option<i64>,
    start_time_unix_nano: i64,
    end_time_unix_nano: i64,
    status_code: String,
    input_tokens: Option<serde_json::Value>,
    output_tokens: Option<serde_json::Value>,
    cached_tokens: Option<serde_json::Value>,
    reasoning_tokens: Option<serde_json::Value>,
    cost_usd: Option<serde_json::Value>,
    #[serde(default)]
    unpriced: bool,
    breaches: Vec<SpanBreach>,
}

/// A JSON attribute value as text (null stays null).
fn json_text(v: Option<serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// A JSON attribute value as an integer count (null, or not a number, is null).
fn json_count(v: Option<serde_json::Value>) -> Option<i64> {
    match v? {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A JSON attribute value as a number (null, or not a number, is null).
fn json_real(v: Option<serde_json::Value>) -> Option<f64> {
    match v? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
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
    /// The named parameters of the correlation SQL, each with what it means (what `api
    /// --drift-sql` prints above the query). Unbound parameters are NULL in SQLite, so a first page
    /// by hand binds all but the `:after_*` ones.
    pub const PARAMETERS: [(&str, &str); 10] = [
        (":since", "windows ending after this (unix ns)"),
        (":until", "windows starting before this (unix ns)"),
        (
            ":limit",
            "most windows (the API asks one more than its page, to know whether more follow)",
        ),
        (":spans", "most breached spans listed per window"),
        (":top", "traces per ranking (slowest, costliest)"),
        (
            ":after_start",
            "NULL for the first page; else the last row's window_start_unix_nano",
        ),
        (":after_id", "the last row's key_id"),
        (":after_end", "the last row's window_end_unix_nano"),
        (":after_feature", "the last row's key_feature"),
        (":after_model", "the last row's key_model"),
    ];

    /// The correlation SQL of this mapping, with the id and threshold columns as configured
    /// (unset: the rowid and null). Named parameters: see [`DriftQuery::PARAMETERS`].
    pub fn correlation_sql(&self) -> String {
        self.sql(&Resolved {
            id: self.id_column.clone().map(Some),
            threshold: self.threshold_column.clone(),
        })
    }

    /// `cursor`, when it is a [`DriftCursor::encode`] output (for [`DriftQuery::after`]).
    pub fn parse_after(cursor: &str) -> Option<DriftCursor> {
        DriftCursor::decode(cursor)
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
            " AND k.drifted = 1"
        } else {
            ""
        };
        format!(
            "WITH gateway_drift_rows AS (
  SELECT {id} AS id, {feature} AS feature, {model} AS model, {score} AS score,
    {threshold} AS threshold, {drifted} AS drifted,
    {start} AS window_start_unix_nano, {end} AS window_end_unix_nano
  FROM {table} AS src),
gateway_drift_keys AS (
  SELECT r.*, COALESCE(r.id, {no_id}) AS key_id,
    COALESCE(CAST(r.feature AS TEXT), '') AS key_feature,
    COALESCE(CAST(r.model AS TEXT), '') AS key_model
  FROM gateway_drift_rows AS r),
gateway_drift_page AS (
  SELECT * FROM gateway_drift_keys AS k
  WHERE k.window_end_unix_nano > :since AND k.window_start_unix_nano < :until{only_drifted}
    AND (:after_start IS NULL OR (k.window_start_unix_nano, k.key_id, k.window_end_unix_nano,
        k.key_feature, k.key_model) > (:after_start, :after_id, :after_end, :after_feature,
        :after_model))
  ORDER BY k.window_start_unix_nano, k.key_id, k.window_end_unix_nano, k.key_feature, k.key_model
  LIMIT :limit)
SELECT d.id, d.feature, d.model, d.score, d.threshold, d.drifted,
    d.window_start_unix_nano, d.window_end_unix_nano, d.key_id, d.key_feature, d.key_model,
    (SELECT json_object('total', COUNT(*),
            'spans', json_group_array(json(p.span)) FILTER (WHERE p.n <= :spans))
       FROM (SELECT ROW_NUMBER() OVER (ORDER BY s.start_time_unix_nano, s.span_id) AS n,
               json_object('span_id', s.span_id, 'trace_id', s.trace_id, 'name', s.name,
                 'operation', json_extract(s.attributes, '$.\"gen_ai.operation.name\"'),
                 'model', COALESCE(json_extract(s.attributes, '$.\"gen_ai.request.model\"'), b.model),
                 'request_index', b.request_index,
                 'start_time_unix_nano', s.start_time_unix_nano,
                 'end_time_unix_nano', s.end_time_unix_nano, 'status_code', s.status_code,
                 'input_tokens', json_extract(s.attributes, '$.\"gen_ai.usage.input_tokens\"'),
                 'output_tokens', json_extract(s.attributes, '$.\"gen_ai.usage.output_tokens\"'),
                 'cached_tokens',
                 json_extract(s.attributes, '$.\"gen_ai.usage.cache_read.input_tokens\"'),
                 'reasoning_tokens',
                 json_extract(s.attributes, '$.\"gen_ai.usage.reasoning.output_tokens\"'),
                 'cost_usd', COALESCE(json_extract(s.attributes, '$.\"gateway.cost.usd\"'),
                   json_extract(c.attributes, '$.\"gateway.cost.usd\"')),
                 'unpriced', json(iif(COALESCE(
                   json_extract(s.attributes, '$.\"gateway.cost.unpriced\"'),
                   json_extract(c.attributes, '$.\"gateway.cost.unpriced\"'), 0), 'true', 'false')),
                 'breaches', json(b.breaches)) AS span
             FROM (SELECT m.trace_id, m.llm_span_id, MAX(m.span_id) AS carrier_span_id,
                     MAX(m.model) AS model, MAX(m.request_index) AS request_index,
                     json_group_array(json_object('snapshot_id', m.id, 'metric', m.metric,
                       'value', m.value, 'threshold', m.threshold,
                       'created_at_unix_nano', m.created_at_unix_nano)) AS breaches
                   FROM metric_snapshots AS m
                   WHERE m.breached = 1 AND m.llm_span_id IS NOT NULL
                     AND m.created_at_unix_nano >= d.window_start_unix_nano{by_model}
                   GROUP BY m.trace_id, m.llm_span_id) AS b
             JOIN spans AS s ON s.id = (SELECT MIN(x.id) FROM spans AS x
                 WHERE x.trace_id = b.trace_id AND x.span_id = b.llm_span_id)
             LEFT JOIN spans AS c ON c.id = (SELECT MIN(y.id) FROM spans AS y
                 WHERE y.trace_id = b.trace_id AND y.span_id = b.carrier_span_id)
             WHERE s.start_time_unix_nano >= d.window_start_unix_nano
               AND s.start_time_unix_nano < d.window_end_unix_nano) AS p),
    (SELECT COUNT(*) FROM metric_snapshots AS m
       WHERE m.breached = 1 AND m.created_at_unix_nano >= d.window_start_unix_nano
         AND m.created_at_unix_nano < d.window_end_unix_nano{by_model}
         AND NOT EXISTS (SELECT 1 FROM spans AS x
           WHERE x.trace_id = m.trace_id AND x.span_id = m.llm_span_id)),
    (SELECT json_group_array(json_object('trace_id', t.trace_id,
            'start_time_unix_nano', t.start_time_unix_nano, 'duration_ms', t.duration_ms,
            'cost_usd', t.cost_usd, 'unpriced', json(iif(t.unpriced, 'true', 'false')),
            'model', t.model, 'status', t.status))
       FROM (SELECT * FROM traces
             WHERE start_time_unix_nano >= d.window_start_unix_nano
               AND start_time_unix_nano < d.window_end_unix_nano{by_model}
             ORDER BY duration_ms DESC LIMIT :top) AS t),
    (SELECT json_group_array(json_object('trace_id', t.trace_id,
            'start_time_unix_nano', t.start_time_unix_nano, 'duration_ms', t.duration_ms,
            'cost_usd', t.cost_usd, 'unpriced', json(iif(t.unpriced, 'true', 'false')),
            'model', t.model, 'status', t.status))
       FROM (SELECT * FROM traces
             WHERE start_time_unix_nano >= d.window_start_unix_nano
               AND start_time_unix_nano < d.window_end_unix_nano AND cost_usd IS NOT NULL{by_model}
             ORDER BY cost_usd DESC LIMIT :top) AS t)
  FROM gateway_drift_page AS d
  ORDER BY d.window_start_unix_nano, d.key_id, d.window_end_unix_nano, d.key_feature, d.key_model",
            feature = col(&self.feature_column),
            model = opt(&self.model_column),
            score = col(&self.score_column),
            threshold = opt(&r.threshold),
            start = time(&self.window_start_column),
            end = time(&self.window_end_column),
            table = ident(&self.table),
            no_id = NO_ID,
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
    /// configured, see [`DriftQuery::correlation_sql`]). Named parameters: see [`DriftQuery::PARAMETERS`].
    /// A table lacking a mapped column is [`QueryError::Incompatible`].
    pub fn drift_sql(&self, q: &DriftQuery) -> QueryResult<String> {
        Ok(match self.resolve_drift(q)? {
            Some(resolved) => q.sql(&resolved),
            None => q.correlation_sql(),
        })
    }

    /// One page of drift rows in range (ascending, after `q.after`), each with the breached
    /// LLM spans and the worst traces of its window. Reads only: without the detector's table
    /// the report is empty, with an explanation.
    pub fn drift_report(&self, q: &DriftQuery) -> QueryResult<DriftReport> {
        let mut report = DriftReport {
            table: q.table.clone(),
            table_found: false,
            explanation: None,
            warnings: Vec::new(),
            limit: q.limit,
            spans_limit: q.spans,
            has_more: false,
            next: q.after.as_ref().map(DriftCursor::encode),
            correlations: Vec::new(),
        };
        let Some(resolved) = self.resolve_drift(q)? else {
            report.explanation = Some(no_table_explanation(&q.table));
            return Ok(report);
        };
        report.table_found = true;
        let sql = q.sql(&resolved);
        let after = q.after.as_ref();
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(
                named_params! {
                    ":since": q.since,
                    ":until": q.until,
                    // One more window than the page tells whether more follow.
                    ":limit": i64::from(q.limit) + 1,
                    ":spans": q.spans,
                    ":top": q.top,
                    ":after_start": after.map(|a| a.window_start_unix_nano),
                    ":after_id": after.map(|a| a.id),
                    ":after_end": after.map(|a| a.window_end_unix_nano),
                    ":after_feature": after.map(|a| a.feature.as_str()),
                    ":after_model": after.map(|a| a.model.as_str()),
                },
                |r| {
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
                    let key = DriftCursor {
                        window_start_unix_nano: r.get(6)?,
                        id: r.get(8)?,
                        window_end_unix_nano: r.get(7)?,
                        feature: r.get(9)?,
                        model: r.get(10)?,
                    };
                    let unattributed: i64 = r.get(12)?;
                    let json: [Option<String>; 3] = [r.get(11)?, r.get(13)?, r.get(14)?];
                    Ok((drift, key, unattributed, json))
                },
            )
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (drift, key, unattributed, [spans, slow, costly]) = row.map_err(|e| self.err(e))?;
            if report.correlations.len() == q.limit as usize {
                report.has_more = true;
                break;
            }
            let spans: SpansJson = spans
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default();
            let mut breached_spans: Vec<BreachedSpan> =
                spans.spans.into_iter().map(breached_span).collect();
            breached_spans.sort_by(|a, b| {
                (a.start_time_unix_nano, &a.span_id).cmp(&(b.start_time_unix_nano, &b.span_id))
            });
            let mut slowest_traces = parse::<WorstTrace>(slow);
            slowest_traces.sort_by(|a, b| b.duration_ms.total_cmp(&a.duration_ms));
            let mut costliest_traces = parse::<WorstTrace>(costly);
            costliest_traces.sort_by(|a, b| {
                b.cost_usd
                    .unwrap_or(0.0)
                    .total_cmp(&a.cost_usd.unwrap_or(0.0))
            });
            report.next = Some(key.encode());
            report.correlations.push(DriftCorrelation {
                drift,
                spans_truncated: spans.total > breached_spans.len() as u64,
                spans_total: spans.total,
                breached_spans,
                unattributed_breaches: u64::try_from(unattributed).unwrap_or(0),
                slowest_traces,
                costliest_traces,
            });
        }
        report.warnings = self.drift_unit_warnings(q)?;
        Ok(report)
    }
}

/// A span of the correlation JSON, typed; breaches by row id.
fn breached_span(s: SpanJson) -> BreachedSpan {
    let mut breaches = s.breaches;
    breaches.sort_by_key(|b| b.snapshot_id);
    BreachedSpan {
        span_id: s.span_id,
        trace_id: s.trace_id,
        name: s.name,
        operation: json_text(s.operation),
        model: json_text(s.model),
        request_index: s.request_index,
        start_time_unix_nano: s.start_time_unix_nano,
        duration_ms: (s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e6,
        status_code: s.status_code,
        input_tokens: json_count(s.input_tokens),
        output_tokens: json_count(s.output_tokens),
        cached_tokens: json_count(s.cached_tokens),
        reasoning_tokens: json_count(s.reasoning_tokens),
        cost_usd: json_real(s.cost_usd),
        unpriced: s.unpriced,
        breaches,
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
  FROM "drift_snapshots" AS src),
gateway_drift_keys AS (
  SELECT r.*, COALESCE(r.id, -9223372036854775807) AS key_id,
    COALESCE(CAST(r.feature AS TEXT), '') AS key_feature,
    COALESCE(CAST(r.model AS TEXT), '') AS key_model
  FROM gateway_drift_rows AS r),
gateway_drift_page AS (
  SELECT * FROM gateway_drift_keys AS k
  WHERE k.window_end_unix_nano > :since AND k.window_start_unix_nano < :until AND k.drifted = 1
    AND (:after_start IS NULL OR (k.window_start_unix_nano, k.key_id, k.window_end_unix_nano,
        k.key_feature, k.key_model) > (:after_start, :after_id, :after_end, :after_feature,
        :after_model))
  ORDER BY k.window_start_unix_nano, k.key_id, k.window_end_unix_nano, k.key_feature, k.key_model
  LIMIT :limit)
SELECT d.id, d.feature, d.model, d.score, d.threshold, d.drifted,
    d.window_start_unix_nano, d.window_end_unix_nano, d.key_id, d.key_feature, d.key_model,
    (SELECT json_object('total', COUNT(*),
            'spans', json_group_array(json(p.span)) FILTER (WHERE p.n <= :spans))
       FROM (SELECT ROW_NUMBER() OVER (ORDER BY s.start_time_unix_nano, s.span_id) AS n,
               json_object('span_id', s.span_id, 'trace_id', s.trace_id, 'name', s.name,
                 'operation', json_extract(s.attributes, '$."gen_ai.operation.name"'),
                 'model', COALESCE(json_extract(s.attributes, '$."gen_ai.request.model"'), b.model),
                 'request_index', b.request_index,
                 'start_time_unix_nano', s.start_time_unix_nano,
                 'end_time_unix_nano', s.end_time_unix_nano, 'status_code', s.status_code,
                 'input_tokens', json_extract(s.attributes, '$."gen_ai.usage.input_tokens"'),
                 'output_tokens', json_extract(s.attributes, '$."gen_ai.usage.output_tokens"'),
                 'cached_tokens',
                 json_extract(s.attributes, '$."gen_ai.usage.cache_read.input_tokens"'),
                 'reasoning_tokens',
                 json_extract(s.attributes, '$."gen_ai.usage.reasoning.output_tokens"'),
                 'cost_usd', COALESCE(json_extract(s.attributes, '$."gateway.cost.usd"'),
                   json_extract(c.attributes, '$."gateway.cost.usd"')),
                 'unpriced', json(iif(COALESCE(
                   json_extract(s.attributes, '$."gateway.cost.unpriced"'),
                   json_extract(c.attributes, '$."gateway.cost.unpriced"'), 0), 'true', 'false')),
                 'breaches', json(b.breaches)) AS span
             FROM (SELECT m.trace_id, m.llm_span_id, MAX(m.span_id) AS carrier_span_id,
                     MAX(m.model) AS model, MAX(m.request_index) AS request_index,
                     json_group_array(json_object('snapshot_id', m.id, 'metric', m.metric,
                       'value', m.value, 'threshold', m.threshold,
                       'created_at_unix_nano', m.created_at_unix_nano)) AS breaches
                   FROM metric_snapshots AS m
                   WHERE m.breached = 1 AND m.llm_span_id IS NOT NULL
                     AND m.created_at_unix_nano >= d.window_start_unix_nano
                   GROUP BY m.trace_id, m.llm_span_id) AS b
             JOIN spans AS s ON s.id = (SELECT MIN(x.id) FROM spans AS x
                 WHERE x.trace_id = b.trace_id AND x.span_id = b.llm_span_id)
             LEFT JOIN spans AS c ON c.id = (SELECT MIN(y.id) FROM spans AS y
                 WHERE y.trace_id = b.trace_id AND y.span_id = b.carrier_span_id)
             WHERE s.start_time_unix_nano >= d.window_start_unix_nano
               AND s.start_time_unix_nano < d.window_end_unix_nano) AS p),
    (SELECT COUNT(*) FROM metric_snapshots AS m
       WHERE m.breached = 1 AND m.created_at_unix_nano >= d.window_start_unix_nano
         AND m.created_at_unix_nano < d.window_end_unix_nano
         AND NOT EXISTS (SELECT 1 FROM spans AS x
           WHERE x.trace_id = m.trace_id AND x.span_id = m.llm_span_id)),
    (SELECT json_group_array(json_object('trace_id', t.trace_id,
            'start_time_unix_nano', t.start_time_unix_nano, 'duration_ms', t.duration_ms,
            'cost_usd', t.cost_usd, 'unpriced', json(iif(t.unpriced, 'true', 'false')),
            'model', t.model, 'status', t.status))
       FROM (SELECT * FROM traces
             WHERE start_time_unix_nano >= d.window_start_unix_nano
               AND start_time_unix_nano < d.window_end_unix_nano
             ORDER BY duration_ms DESC LIMIT :top) AS t),
    (SELECT json_group_array(json_object('trace_id', t.trace_id,
            'start_time_unix_nano', t.start_time_unix_nano, 'duration_ms', t.duration_ms,
            'cost_usd', t.cost_usd, 'unpriced', json(iif(t.unpriced, 'true', 'false')),
            'model', t.model, 'status', t.status))
       FROM (SELECT * FROM traces
             WHERE start_time_unix_nano >= d.window_start_unix_nano
               AND start_time_unix_nano < d.window_end_unix_nano AND cost_usd IS NOT NULL
             ORDER BY cost_usd DESC LIMIT :top) AS t)
  FROM gateway_drift_page AS d
  ORDER BY d.window_start_unix_nano, d.key_id, d.window_end_unix_nano, d.key_feature, d.key_model"#;

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
    fn a_cursor_reads_back_what_it_wrote() {
        for (feature, model) in [("prompt_length", ""), ("a.b é \"x\"", "gemini-2.5-flash")] {
            let c = DriftCursor {
                window_start_unix_nano: -5,
                id: NO_ID,
                window_end_unix_nano: 1_700_000_000_000_000_000,
                feature: feature.into(),
                model: model.into(),
            };
            let text = c.encode();
            assert_eq!(text.split('.').count(), 5, "{text}");
            assert_eq!(DriftQuery::parse_after(&text), Some(c));
        }
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.7.",
            "1.2.3.zz.",
            "1.2.3..00.",
            "x.2.3..",
            "1.2.3.ff.",
        ] {
            assert_eq!(DriftCursor::decode(bad), None, "{bad}");
        }
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
