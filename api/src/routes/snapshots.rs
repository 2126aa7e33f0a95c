//! `GET /api/metric-snapshots` and `GET /api/correlations/drift`.

use crate::error::{AppError, ErrorBody};
use crate::params::{self, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use gateway_store::query::{DriftQuery, DriftReport, MetricSnapshot, SnapshotFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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
    /// Most rows: default 100, values above 1000 are capped to 1000.
    #[param(value_type = Option<u32>, minimum = 1)]
    pub limit: Option<String>,
}

/// Metric snapshots, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotList {
    /// The rows.
    pub snapshots: Vec<MetricSnapshot>,
}

/// Rows of `metric_snapshots`, newest first.
#[utoipa::path(
    get,
    path = "/api/metric-snapshots",
    operation_id = "list_metric_snapshots",
    tag = "metrics",
    params(SnapshotParams),
    responses(
        (status = 200, description = "Snapshots, newest first.", body = SnapshotList),
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
    let f = SnapshotFilter {
        breached: params::boolean("breached", p.breached.as_deref())?,
        since: params::time("since", p.since.as_deref())?,
        until: params::time("until", p.until.as_deref())?,
        limit: params::limit("limit", p.limit.as_deref(), 100, 1000)?,
        metric: p.metric,
        trace_id: p.trace_id,
    };
    let snapshots = state.db().run(move |r| r.metric_snapshots(&f)).await?;
    Ok(Json(SnapshotList { snapshots }))
}

/// Range of drift rows to correlate. Times are unix nanoseconds or RFC 3339.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DriftParams {
    /// Drift rows created at or after. Default: the beginning.
    #[param(value_type = Option<i64>)]
    pub since: Option<String>,
    /// Drift rows created before. Default: no end.
    #[param(value_type = Option<i64>)]
    pub until: Option<String>,
    /// Most drift rows: default 50, values above 500 are capped to 500.
    #[param(value_type = Option<u32>, minimum = 1)]
    pub limit: Option<String>,
}

/// Each drift row with the breached snapshots and the 5 slowest and 5 costliest traces of its
/// window.
#[utoipa::path(
    get,
    path = "/api/correlations/drift",
    tag = "metrics",
    params(DriftParams),
    responses(
        (status = 200, description = "Drift rows, newest first, with what happened in each window.", body = DriftReport),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token.", body = ErrorBody),
        (status = 409, description = "drift_snapshots exists without the needed columns (named in the message).", body = ErrorBody),
        (status = 503, description = "The database is missing or locked.", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn drift(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<DriftParams>,
) -> Result<Json<DriftReport>, AppError> {
    let q = DriftQuery {
        since: params::time("since", p.since.as_deref())?.unwrap_or(i64::MIN),
        until: params::time("until", p.until.as_deref())?.unwrap_or(i64::MAX),
        limit: params::limit("limit", p.limit.as_deref(), 50, 500)?,
        top: 5,
    };
    Ok(Json(state.db().run(move |r| r.drift_report(&q)).await?))
}
