//! HTTP handlers, thin: extract and validate parameters, call one store query on the read
//! pool, return JSON.

pub mod health;
pub mod metrics;
pub mod sessions;
pub mod snapshots;
pub mod traces;

use crate::error::AppError;
use axum::http::Uri;

/// 404 for every unknown route.
pub(crate) async fn not_found(uri: Uri) -> AppError {
    AppError::NotFound(format!("no route for {}", uri.path()))
}

/// 405 for a known route with another method.
pub(crate) async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
