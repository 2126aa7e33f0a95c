//! `GET /api/metric-snapshots` (the alert feed, with an id cursor) and
//! `GET /api/correlations/drift` (reads the drift detector's table as `[drift]` maps it).
//!
//! The `[drift]` mapping of a database is installed with [`configure_drift`] (at startup and on
//! every reload); until then, and for databases never configured, the defaults apply.

use crate::error::{AppError, ErrorBody};
use crate::params::{self, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use gateway_config::DriftConfig;
use gateway_store::query::{
    DriftQuery, DriftReport, MetricSnapshot, QueryError, Reader, SnapshotFilter,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// The `[drift]` mapping in force per database file (keyed by the path as configured).
fn mappings() -> &'static RwLock<HashMap<PathBuf, DriftQuery>> {
    static MAPPINGS: OnceLock<RwLock<HashMap<PathBuf, DriftQuery>>> = OnceLock::new();
    MAPPINGS.get_or_init(Default::default)
}

/// The drift query (mapping only; range and limits at their defaults) of a `[drift]` section.
pub fn drift_query(config: &DriftConfig) -> DriftQuery {
    DriftQuery {
        table: config.table.trim().to_owned(),
        window_start_column: config.window_start_column.trim().to_owned(),
        window_end_column: config.window_end_column.trim().to_owned(),
        time_unit: config.time_unit.clone(),
        feature_column: config.feature_column.trim().to_owned(),
        score_column: config.score_column.trim().to_owned(),
        model_column: DriftConfig::optional(&config.model_column),
        drifted_column: DriftConfig::optional(&config.drifted_column),
        threshold_column: DriftConfig::optional(&config.threshold_column),
        id_column: DriftConfig::optional(&config.id_column),
        ..DriftQuery::default()
    }
}

/// Checks `[drift]` against the detector's table in the database at `db_path` (reading only;
/// the file and the table may not exist yet, which is fine) and, when it fits, makes it the
/// mapping of `GET /api/correlations/drift` for that database. Call at startup (an error
/// should stop it) and on every reload (an error keeps the previous mapping). Returns whether
/// the table was found; the error names each missing column and its `[drift]` key.
pub fn configure_drift(db_path: &Path, config: &DriftConfig) -> Result<bool, String> {
    config
        .check()
        .map_err(|(key, message)| format!("invalid config: {key}: {message}"))?;
    let q = drift_query(config);
    let found = match Reader::open(db_path, Duration::from_secs(5)) {
        Ok(reader) => match reader.check_drift_mapping(&q) {
            Ok(found) => found,
            Err(e @ QueryError::Incompatible { .. }) => {
                return Err(format!("[drift] does not fit the database's table: {e}"));
            }
            Err(e) => {
                tracing::warn!(error = %e, "Cannot check [drift] against the database now; it is checked on every request.");
                false
            }
        },
        Err(_) => false,
    };
    if let Ok(mut m) = mappings().write() {
        m.insert(db_path.to_path_buf(), q);
    }
    Ok(found)
}

/// The correlation SQL of `[drift]` for the database at `db_path`, as the drift endpoint runs
/// it, with a header naming its parameters (what `api --drift-sql` prints). Reads only; without
/// the database or the table, the id and threshold columns are as configured (unset: the rowid
/// and null). Errors name an invalid key or a mapped column the table lacks.
pub fn drift_sql(db_path: &Path, config: &DriftConfig) -> Result<String, String> {
    config
        .check()
        .map_err(|(key, message)| format!("invalid config: {key}: {message}"))?;
    let q = drift_query(config);
    let sql = match Reader::open(db_path, Duration::from_secs(5)) {
        Ok(reader) => reader
            .drift_sql(&q)
            .map_err(|e| format!("[drift] does not fit the database's table: {e}"))?,
        _ => q.correlation_sql(),
    };
    let parameters: String = DriftQuery::PARAMETERS
        .iter()
        .map(|(name, what)| format!("-- {name}: {what}\n"))
        .collect();
    Ok(format!(
        "-- The drift correlation of [drift] (table {table}): one page of drift rows in\n\
         -- ascending order, each with the breached LLM spans and the slowest and costliest\n\
         -- traces of its window.\n{parameters}{sql};\n",
        table = q.table
    ))
}

/// The mapping in force for `db_path` (the defaults when none was configured).
fn mapping_of(db_path: &Path) -> DriftQuery {
    mappings()
        .read()
        .ok()
        .and_then(|m| m.get(db_path).cloned())
        .unwrap_or_default()
}

/// Filters of the snapshot list. Times are unix nanoseconds or RFC 3339.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotParams {
    /// Only breached (true) or not breached (false) snapshots.
    #[param(value_type = Option<bool>)]
    pub breached: Option<String>,
    /// Created at or after.
    #[param(value_type = Option<i64>)]
    pub since: Option<String>,
    /// Created before.
    #[param(value_type = Option<i64>)]
    pub until: Option<String>,
    /// Exact metric name.
    pub metric: Option<String>,
    /// Exact trace id.
    pub trace_id: Option<String>,
    /// Alert-feed cursor: only rows with a greater id, in ascending id order. Start with 0,
    /// then pass the `next_after_id` of the previous answer. Without it: newest first.
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after_id: Option<String>,
    /// Most rows: default 100, values above 1000 are capped to 1000 (the answer's `limit`
    /// says which applied; `has_more` says whether rows were left out).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub limit: Option<String>,
}

/// Metric snapshots: newest first, or in ascending id order after `after_id`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotList {
    /// The rows.
    pub snapshots: Vec<MetricSnapshot>,
    /// The row limit that applied (the requested one, capped to 1000).
    pub limit: u32,
    /// More rows match than were returned: ask again (with `after_id = next_after_id`).
    pub has_more: bool,
    /// With `after_id`: the cursor of the next poll, the id of the last row returned (the
    /// given `after_id` when no row was). Null without `after_id`.
    pub next_after_id: Option<i64>,
}

/// Rows of `metric_snapshots`: newest first, or, with `after_id`, the alert feed in ascending
/// id order (ids are never reused, so the cursor never skips or repeats a row).
#[utoipa::path(
    get,
    path = "/api/metric-snapshots",
    operation_id = "list_metric_snapshots",
    tag = "metrics",
    params(SnapshotParams),
    responses(
        (status = 200, description = "Snapshots, newest first (ascending ids with after_id), with the limit applied, has_more and the next cursor.", body = SnapshotList),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token.", body = ErrorBody),
        (status = 503, description = "The database is missing or locked.", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<SnapshotParams>,
) -> Result<Json<SnapshotList>, AppError> {
    let after_id = match p.after_id.as_deref() {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| AppError::param("after_id", "expected an integer >= 0"))?,
        ),
    };
    let limit = params::limit("limit", p.limit.as_deref(), 100, 1000)?;
    let f = SnapshotFilter {
        breached: params::boolean("breached", p.breached.as_deref())?,
        since: params::time("since", p.since.as_deref())?,
        until: params::time("until", p.until.as_deref())?,
        after_id,
        // One more row than asked tells whether rows were left out.
        limit: limit + 1,
        metric: p.metric,
        trace_id: p.trace_id,
    };
    let mut snapshots = state.db().run(move |r| r.metric_snapshots(&f)).await?;
    let has_more = snapshots.len() > limit as usize;
    snapshots.truncate(limit as usize);
    let next_after_id = after_id.map(|a| snapshots.last().map_or(a, |s| s.id));
    Ok(Json(SnapshotList {
        snapshots,
        limit,
        has_more,
        next_after_id,
    }))
}

/// Default windows per page.
pub const DRIFT_DEFAULT_LIMIT: u32 = 50;
/// Most windows per page; larger `limit` values are capped to it.
pub const DRIFT_MAX_LIMIT: u32 = 500;
/// Default breached spans listed per window.
pub const DRIFT_DEFAULT_SPANS: u32 = 20;
/// Most breached spans listed per window; larger `spans_limit` values are capped to it.
pub const DRIFT_MAX_SPANS: u32 = 200;

/// Range and page of drift rows to correlate. Times are unix nanoseconds or RFC 3339.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DriftParams {
    /// Drift rows whose window ends after this. Default: the beginning.
    #[param(value_type = Option<i64>)]
    pub since: Option<String>,
    /// Drift rows whose window starts before this. Default: no end.
    #[param(value_type = Option<i64>)]
    pub until: Option<String>,
    /// Also rows whose drifted flag is not set (`[drift] drifted_column`). Default false.
    #[param(value_type = Option<bool>)]
    pub include_stable: Option<String>,
    /// Windows per page: default 50, values above 500 are capped to 500 (the answer's `limit`
    /// says which applied; `has_more` says whether more windows follow).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub limit: Option<String>,
    /// The `next` cursor of the previous page: only windows after it (ascending order).
    /// Without it: from the first window.
    pub after: Option<String>,
    /// Breached spans listed per window: default 20, values above 200 are capped to 200 (the
    /// answer's `spans_limit`; each window's `spans_total` and `spans_truncated` say what was
    /// left out).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub spans_limit: Option<String>,
}

/// One page of drift rows (of the detector's table as `[drift]` maps it), ascending by window
/// start, each with the LLM calls (spans) that started inside its window and on which a metric
/// breached, and the 5 slowest and 5 costliest traces of the window. Never capped silently:
/// `has_more` and `next` page the windows, `spans_total` and `spans_truncated` say what a
/// window's list left out. Reads only: without the table the answer is 200 with no rows,
/// `table_found: false` and an `explanation`.
#[utoipa::path(
    get,
    path = "/api/correlations/drift",
    tag = "metrics",
    params(DriftParams),
    responses(
        (status = 200, description = "One page of drift rows, ascending, with the breached LLM spans and worst traces of each window, the limits applied, has_more and the next cursor; empty with an explanation when the detector's table does not exist.", body = DriftReport),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token.", body = ErrorBody),
        (status = 409, description = "The detector's table lacks a column [drift] maps (the message names it and its key).", body = ErrorBody),
        (status = 503, description = "The database is missing or locked.", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn drift(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<DriftParams>,
) -> Result<Json<DriftReport>, AppError> {
    let after = p
        .after
        .as_deref()
        .map(|c| {
            DriftQuery::parse_after(c)
                .ok_or_else(|| AppError::param("after", "not a cursor from a previous page"))
        })
        .transpose()?;
    let q = DriftQuery {
        since: params::time("since", p.since.as_deref())?.unwrap_or(i64::MIN),
        until: params::time("until", p.until.as_deref())?.unwrap_or(i64::MAX),
        limit: params::limit(
            "limit",
            p.limit.as_deref(),
            DRIFT_DEFAULT_LIMIT,
            DRIFT_MAX_LIMIT,
        )?,
        spans: params::limit(
            "spans_limit",
            p.spans_limit.as_deref(),
            DRIFT_DEFAULT_SPANS,
            DRIFT_MAX_SPANS,
        )?,
        after,
        top: 5,
        drifted_only: !params::boolean("include_stable", p.include_stable.as_deref())?
            .unwrap_or(false),
        ..mapping_of(state.db_path())
    };
    Ok(Json(state.db().run(move |r| r.drift_report(&q)).await?))
}
