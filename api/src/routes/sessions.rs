//! `GET /api/sessions/{id}`: every trace of a session on one time line, oldest first, with
//! running totals of tokens, cost and latency. `?kind=` says what the id names: a session
//! (`x-gateway-session-id`, the default), a conversation (`gen_ai.conversation.id`) or an
//! Interactions chain (`previous_interaction_id` links, from an interaction id or a trace id).

use crate::error::{AppError, ErrorBody};
use crate::params::{self, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use gateway_store::query::{Cursor, SessionKind, SessionPage, SessionQuery};
use serde::Deserialize;
use utoipa::IntoParams;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest page size; larger `limit` values are capped to it.
pub const MAX_LIMIT: u32 = 500;
/// Longest id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 1024;

/// What the id names, and the page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionParams {
    /// `session` (default: `x-gateway-session-id`), `conversation` (`gen_ai.conversation.id`
    /// on any span of the trace) or `interaction` (the `previous_interaction_id` chain through
    /// this interaction id, or through the interactions of this trace id).
    #[param(value_type = Option<String>, pattern = "^(session|conversation|interaction)$")]
    pub kind: Option<String>,
    /// Page size: default 100, values above 500 are capped to 500.
    #[param(value_type = Option<u32>, minimum = 1)]
    pub limit: Option<String>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

/// One session: its traces in time order, each with the running totals up to it.
#[utoipa::path(
    get,
    path = "/api/sessions/{id}",
    operation_id = "get_session",
    tag = "traces",
    params(
        ("id" = String, Path, description = "The session id, conversation id, or interaction (or trace) id; at most 1024 bytes."),
        SessionParams,
    ),
    responses(
        (status = 200, description = "One page of the session, oldest first; pass `next` as `after` for the next page. `totals` cover the whole session.", body = SessionPage),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token.", body = ErrorBody),
        (status = 404, description = "No trace belongs to this session.", body = ErrorBody),
        (status = 503, description = "The database is missing or locked.", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    ApiQuery(p): ApiQuery<SessionParams>,
) -> Result<Json<SessionPage>, AppError> {
    let Path(id) = path.map_err(|e| AppError::param("id", e.body_text()))?;
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(AppError::param(
            "id",
            format!("expected 1 to {MAX_ID_BYTES} bytes"),
        ));
    }
    let kind = params::one_of("kind", p.kind.as_deref(), &SessionKind::NAMES)?
        .and_then(SessionKind::parse)
        .unwrap_or(SessionKind::Session);
    let after = p
        .after
        .as_deref()
        .map(|c| {
            Cursor::decode(c)
                .ok_or_else(|| AppError::param("after", "not a cursor from a previous page"))
        })
        .transpose()?;
    let q = SessionQuery {
        kind,
        id,
        after,
        limit: params::limit("limit", p.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?,
    };
    let page = state.db().run(move |r| r.session(&q)).await?;
    if page.totals.traces == 0 {
        return Err(AppError::NotFound(format!(
            "no trace belongs to the {} {:?}",
            kind.as_str(),
            page.id
        )));
    }
    Ok(Json(page))
}
