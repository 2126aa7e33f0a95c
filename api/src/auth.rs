//! Bearer-token check for `/api/*` and `/metrics`, and request logging.
//!
//! `POST /v1/traces` (the OTLP receiver) is guarded like `/api/*`.
//! With a token configured, requests must send `Authorization: Bearer <token>`; the WebSocket
//! (`/api/live`) may pass `?token=` instead, since browsers cannot set headers on it.
//! `/healthz` is always open.

use crate::error::AppError;
use crate::state::AppState;
use axum::extract::{Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::time::Instant;

#[derive(Deserialize)]
struct TokenParam {
    token: Option<String>,
}

/// Compares without an early exit on the first differing byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn guarded(path: &str) -> bool {
    path == "/metrics" || path == "/v1/traces" || path == "/api" || path.starts_with("/api/")
}

/// Rejects guarded requests without the right token with 401.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(token) = state.inner.token.as_deref() else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    if !guarded(path) {
        return next.run(req).await;
    }
    let header_ok = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim().as_bytes(), token.as_bytes()));
    let query_ok = path == "/api/live"
        && Query::<TokenParam>::try_from_uri(req.uri())
            .ok()
            .and_then(|Query(p)| p.token)
            .is_some_and(|t| same(t.as_bytes(), token.as_bytes()));
    if header_ok || query_ok {
        next.run(req).await
    } else {
        AppError::Unauthorized.into_response()
    }
}

/// Logs each request at debug level with its status and time.
pub(crate) async fn log_requests(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let start = Instant::now();
    let res = next.run(req).await;
    tracing::debug!(
        %method,
        path,
        status = res.status().as_u16(),
        elapsed_ms = start.elapsed().as_secs_f64() * 1e3,
        "Handled request."
    );
    res
}
