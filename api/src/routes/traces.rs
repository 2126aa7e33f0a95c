//! `GET /api/traces` (filtered, keyset-paginated list) and `GET /api/traces/{trace_id}`
//! (summary, waterfall-ordered spans and metric snapshots).

use crate::error::{AppError, ErrorBody};
use crate::params::{self, ApiQuery};
use crate::state::AppState;
use crate::waterfall::{WaterfallSpan, waterfall};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use gateway_store::query::{Cursor, MetricSnapshot, TraceFilter, TracePage, TraceSummary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size; larger `limit` values are capped to it.
pub const MAX_LIMIT: u32 = 500;

/// Filters of the trace list. Times are unix nanoseconds or RFC 3339.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TraceListParams {
    /// Page size: default 50, values above 500 are capped to 500.
    #[param(value_type = Option<u32>, minimum = 1)]
    pub limit: Option<String>,
    /// The `next` cursor of the previous page.
    pub before: Option<String>,
    /// Exact model.
    pub model: Option<String>,
    /// Exact status: `ok`, `error` or `cancelled`.
    pub status: Option<String>,
    /// Exact user id.
    pub user_id: Option<String>,
    /// Exact session id.
    pub session_id: Option<String>,
    /// Only traces lasting at least this many milliseconds.
    #[param(value_type = Option<f64>, minimum = 0)]
    pub min_duration_ms: Option<String>,
    /// Only priced traces costing at least this many USD.
    #[param(value_type = Option<f64>, minimum = 0)]
    pub min_cost_usd: Option<String>,
    /// Only traces with (true) or without (false) a breached metric snapshot.
    #[param(value_type = Option<bool>)]
    pub breached: Option<String>,
    /// Only traces starting at or after this time (unix nanos, or RFC 3339).
    #[param(value_type = Option<i64>)]
    pub since: Option<String>,
    /// Only traces starting before this time (unix nanos, or RFC 3339).
    #[param(value_type = Option<i64>)]
    pub until: Option<String>,
}

impl TraceListParams {
    fn filter(self) -> Result<TraceFilter, AppError> {
        let before = self
            .before
            .as_deref()
            .map(|c| {
                Cursor::decode(c)
                    .ok_or_else(|| AppError::param("before", "not a cursor from a previous page"))
            })
            .transpose()?;
        Ok(TraceFilter {
            limit: params::limit("limit", self.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?,
            min_duration_ms: params::non_negative(
                "min_duration_ms",
                self.min_duration_ms.as_deref(),
            )?,
            min_cost_usd: params::non_negative("min_cost_usd", self.min_cost_usd.as_deref())?,
            breached: params::boolean("breached", self.breached.as_deref())?,
            since: params::time("since", self.since.as_deref())?,
            until: params::time("until", self.until.as_deref())?,
            before,
            model: self.model,
            status: self.status,
            user_id: self.user_id,
            session_id: self.session_id,
        })
    }
}

/// Trace summaries, newest first, one page at a time.
#[utoipa::path(
    get,
    path = "/api/traces",
    operation_id = "list_traces",
    tag = "traces",
    params(TraceListParams),
    responses(
        (status = 200, description = "One page of traces; pass `next` as `before` for the next page.", body = TracePage),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token.", body = ErrorBody),
        (status = 503, description = "The database is missing or locked.", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<TraceListParams>,
) -> Result<Json<TracePage>, AppError> {
    let filter = p.filter()?;
    Ok(Json(state.db().run(move |r| r.list_traces(&filter)).await?))
}

/// A trace with its spans in waterfall order and its metric snapshots.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceDetail {
    /// The trace summary.
    pub trace: TraceSummary,
    /// Spans, each parent before its children, siblings by start.
    pub spans: Vec<WaterfallSpan>,
    /// Metric snapshots of the trace, oldest first.
    pub metric_snapshots: Vec<MetricSnapshot>,
}

/// One trace: summary, waterfall and metric snapshots.
#[utoipa::path(
    get,
    path = "/api/traces/{trace_id}",
    tag = "traces",
    params(("trace_id" = String, Path, description = "32 lowercase hex digits.", pattern = "^[0-9a-f]{32}$")),
    responses(
        (status = 200, description = "The trace.", body = TraceDetail),
        (status = 400, description = "The id is not 32 lowercase hex digits.", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token.", body = ErrorBody),
        (status = 404, description = "No such trace.", body = ErrorBody),
        (status = 503, description = "The database is missing or locked.", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn detail(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<TraceDetail>, AppError> {
    let Path(trace_id) = path.map_err(|e| AppError::param("trace_id", e.body_text()))?;
    params::trace_id(&trace_id)?;
    let id = trace_id.clone();
    let found = state
        .db()
        .run(move |r| {
            // A Live session's row is written when it ends; while it runs, its turns' spans and
            // the provisional summary the live feed sends (status `running`) stand in for it.
            let trace = match r.trace(&id)? {
                Some(trace) => trace,
                None => match r.running_live_session(&id)? {
                    Some(running) => running,
                    None => return Ok(None),
                },
            };
            Ok(Some((trace, r.spans(&id)?, r.trace_snapshots(&id)?)))
        })
        .await?;
    let (trace, mut spans, metric_snapshots) =
        found.ok_or_else(|| AppError::NotFound(format!("no trace {trace_id}")))?;
    crate::metric_events::attach(&mut spans, &metric_snapshots);
    Ok(Json(TraceDetail {
        trace,
        spans: waterfall(spans),
        metric_snapshots,
    }))
}
