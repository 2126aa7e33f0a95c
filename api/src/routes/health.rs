//! `GET /healthz` (open, no token) and `GET /metrics` (Prometheus / OpenMetrics text).

use crate::error::ErrorBody;
use crate::live::ensure_started;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Content type of `/metrics`.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Health of the service.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Why the database cannot be used (only when unavailable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// 200 when the database can be opened and read, else 503.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    responses(
        (status = 200, description = "The database is readable.", body = Health),
        (status = 503, description = "The database is missing, locked or not a gateway database, or (inside the gateway) the span pipeline is dropping or cannot write.", body = Health),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Response {
    if let Some(problem) = state.pipeline_health() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".into(),
                message: Some(problem),
            }),
        )
            .into_response();
    }
    match state.db().run(|r| r.check()).await {
        Ok(()) => Json(Health {
            status: "ok".into(),
            message: None,
        })
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".into(),
                message: Some(e.to_string()),
            }),
        )
            .into_response(),
    }
}

/// Counters and histograms of the traces seen since this process started, plus the
/// gateway's own metrics when the API runs inside it.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    responses(
        (status = 200, description = "OpenMetrics text.", body = String, content_type = "application/openmetrics-text"),
        (status = 401, description = "Missing or wrong bearer token.", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    ensure_started(&state);
    let mut out = String::with_capacity(8192);
    state.inner.prom.render(&mut out);
    state.inner.live.render(&mut out);
    crate::otlp::counters().render(&mut out);
    if let Some(extra) = &state.inner.extra_metrics {
        extra.render(&mut out);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    ([(header::CONTENT_TYPE, OPENMETRICS)], out).into_response()
}
