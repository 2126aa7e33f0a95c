//! The one error type of the API and its JSON rendering.
//!
//! Every failure becomes `{"error": {"code": <status>, "message": "..."}}`. Internal details of
//! 5xx errors are logged here and not sent to clients, except for 503, whose message says why
//! the database is unavailable (missing file, lock held too long).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gateway_store::query::QueryError;
use serde::Serialize;
use utoipa::ToSchema;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A query parameter is malformed or out of range.
    #[error("invalid parameter '{name}': {reason}")]
    BadParam {
        /// The parameter.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The request is malformed in another way.
    #[error("{0}")]
    BadRequest(String),
    /// The bearer token is missing or wrong.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// A page of another origin called the API (the `Origin` header is shown).
    #[error(
        "cross-origin request from {0:?} refused; to let pages of this origin use the API, add \
         {0:?} to [api] allowed_origins"
    )]
    ForbiddenOrigin(String),
    /// The `Host` header names no address of this API (DNS rebinding); the value is shown.
    #[error(
        "Host {0:?} is not an address of this API (DNS rebinding protection); to serve the API \
         under this name, add {0:?} to [api] allowed_hosts"
    )]
    MisdirectedHost(String),
    /// Nothing at this address.
    #[error("{0}")]
    NotFound(String),
    /// The route exists, but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A table of another system has an incompatible layout.
    #[error("{0}")]
    Conflict(String),
    /// The database is missing, busy or unusable; the service keeps running.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected database error (details are logged, not returned).
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// A [`AppError::BadParam`].
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Self::BadParam {
            name,
            reason: reason.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadParam { .. } | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::ForbiddenOrigin(_) => StatusCode::FORBIDDEN,
            Self::MisdirectedHost(_) => StatusCode::MISDIRECTED_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<QueryError> for AppError {
    fn from(e: QueryError) -> Self {
        match e {
            e if e.is_unavailable() => Self::Unavailable(e.to_string()),
            e @ QueryError::Incompatible { .. } => Self::Conflict(e.to_string()),
            e => Self::Internal(e.to_string()),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Status and message of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// The HTTP status code.
    pub code: u16,
    /// What went wrong, naming the parameter for bad input.
    pub message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(detail) => tracing::error!(error = %detail, "Request failed."),
            Self::Unavailable(detail) => tracing::warn!(error = %detail, "Database unavailable."),
            _ => {}
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: status.as_u16(),
                message: self.to_string(),
            },
        };
        let mut res = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}
