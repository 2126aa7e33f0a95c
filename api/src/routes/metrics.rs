//! `GET /api/metrics/latency` (exact percentiles) and `GET /api/metrics/cost` (totals, groups
//! and a time series).

use crate::error::{AppError, ErrorBody};
use crate::params::{self, ApiQuery};
use crate::state::AppState;
use crate::time::now_unix_nano;
use axum::Json;
use axum::extract::State;
use gateway_store::query::{CostGroupBy, CostQuery, CostReport, LatencyQuery, LatencyReport};
use serde::Deserialize;
use utoipa::IntoParams;

/// Most points a cost series may have.
pub const MAX_POINTS: i64 = 10_000;

/// Window of the latency percentiles.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LatencyParams {
    /// Window ending now (or at `until`): a number and a unit (ms, s, m, h, d, w). Default 1h.
    #[param(pattern = "^[1-9][0-9]{0,5}(ms|s|m|h|d|w)$", example = "1h")]
    pub window: Option<String>,
    /// Start of the window instead of `window` (unix nanos, or RFC 3339).
    #[param(value_type = Option<i64>)]
    pub since: Option<String>,
    /// End of the window (unix nanos, or RFC 3339). Default now.
    #[param(value_type = Option<i64>)]
    pub until: Option<String>,
    /// Only this model.
    pub model: Option<String>,
    /// `model`: also report each model in `groups`.
    #[param(value_type = Option<String>, pattern = "^model$")]
    pub group_by: Option<String>,
}

/// Exact (nearest-rank) p50/p95/p99 of trace duration and time to first token.
#[utoipa::path(
    get,
    path = "/api/metrics/latency",
    tag = "metrics",
    params(LatencyParams),
    responses(
        (status = 200, description = "Percentiles; null when the window has no value.", body = LatencyReport),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token.", body = ErrorBody),
        (status = 503, description = "The database is missing or locked.", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn latency(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<LatencyParams>,
) -> Result<Json<LatencyReport>, AppError> {
    let (since, until) = params::window(
        p.window.as_deref(),
        p.since.as_deref(),
        p.until.as_deref(),
        "1h",
        now_unix_nano(),
    )?;
    let group_by_model = params::one_of("group_by", p.group_by.as_deref(), &["model"])?.is_some();
    let q = LatencyQuery {
        since,
        until,
        model: p.model,
        group_by_model,
    };
    Ok(Json(state.db().run(move |r| r.latency(&q)).await?))
}

/// Window, bucket and grouping of the cost report.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CostParams {
    /// Window ending now (or at `until`): a number and a unit (ms, s, m, h, d, w). Default 24h.
    #[param(pattern = "^[1-9][0-9]{0,5}(ms|s|m|h|d|w)$", example = "24h")]
    pub window: Option<String>,
    /// Start of the window instead of `window` (unix nanos, or RFC 3339).
    #[param(value_type = Option<i64>)]
    pub since: Option<String>,
    /// End of the window (unix nanos, or RFC 3339). Default now.
    #[param(value_type = Option<i64>)]
    pub until: Option<String>,
    /// Width of a series point (same syntax as `window`). Default 1h; at most 10,000 points.
    #[param(pattern = "^[1-9][0-9]{0,5}(ms|s|m|h|d|w)$", example = "1h")]
    pub bucket: Option<String>,
    /// `model`, `user_id` or `session_id`: fill `groups`.
    #[param(value_type = Option<String>, pattern = "^(model|user_id|session_id)$")]
    pub group_by: Option<String>,
    /// Only this model.
    pub model: Option<String>,
}

/// Cost of priced traces, unpriced counts, tokens, per group and per time bucket.
#[utoipa::path(
    get,
    path = "/api/metrics/cost",
    tag = "metrics",
    params(CostParams),
    responses(
        (status = 200, description = "Totals, groups (costliest first) and series (oldest first).", body = CostReport),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token.", body = ErrorBody),
        (status = 503, description = "The database is missing or locked.", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn cost(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<CostParams>,
) -> Result<Json<CostReport>, AppError> {
    let (since, until) = params::window(
        p.window.as_deref(),
        p.since.as_deref(),
        p.until.as_deref(),
        "24h",
        now_unix_nano(),
    )?;
    let bucket_ns = params::duration("bucket", p.bucket.as_deref(), "1h")?;
    let first = since.div_euclid(bucket_ns) * bucket_ns;
    // Points the series has: buckets from `first` up to (not including) `until`, as the store
    // counts them.
    let points = (until - first - 1).div_euclid(bucket_ns) + 1;
    if points > MAX_POINTS {
        return Err(AppError::param(
            "bucket",
            format!("the window would need more than {MAX_POINTS} points; use a wider bucket"),
        ));
    }
    let group_by = match params::one_of(
        "group_by",
        p.group_by.as_deref(),
        &["model", "user_id", "session_id"],
    )? {
        Some("model") => Some(CostGroupBy::Model),
        Some("user_id") => Some(CostGroupBy::UserId),
        Some(_) => Some(CostGroupBy::SessionId),
        None => None,
    };
    let q = CostQuery {
        since,
        until,
        bucket_ns,
        group_by,
        model: p.model,
    };
    Ok(Json(state.db().run(move |r| r.cost(&q)).await?))
}
