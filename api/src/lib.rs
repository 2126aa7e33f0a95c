//! REST and WebSocket API over the gateway's SQLite database.
//!
//! [`app`] builds the axum router; [`serve`] runs it on a listener until a shutdown future
//! completes. Both are used by the `api` binary and, in-process, by the gateway. Handlers are
//! thin: they validate parameters ([`params`]) and call one query of
//! [`gateway_store::query`] on a pooled read connection in `spawn_blocking`, so SQLite never
//! blocks the runtime. All SQL lives in the store crate.
//!
//! | Route | What |
//! |---|---|
//! | `GET /api/traces` | filtered, keyset-paginated trace summaries |
//! | `GET /api/traces/{trace_id}` | one trace, spans in waterfall order, metric snapshots |
//! | `GET /api/sessions/{id}` | a session's, conversation's or Interactions chain's traces in time order, with running totals |
//! | `GET /api/metrics/latency` | exact p50/p95/p99 of duration and TTFT |
//! | `GET /api/metrics/cost` | cost, unpriced counts, tokens, groups and series |
//! | `GET /api/metric-snapshots` | rows of `metric_snapshots` |
//! | `GET /api/correlations/drift` | a page of drift windows, each with its breached LLM spans (counted when cut) and worst traces |
//! | `GET /api/live` | WebSocket: snapshot, then new traces and stats |
//! | `GET /api/openapi.json` | the OpenAPI document |
//! | `GET /metrics` | Prometheus metrics |
//! | `GET /healthz` | 200 or 503 |
//! | `POST /v1/traces` | OTLP/HTTP receiver for the application's own spans ([`otlp`]) |
//! | any other path | a dashboard file (`ui/dist`, `index.html` at `/`), else 404 |
//!
//! A known path with another method is 405.
//!
//! Every route, the dashboard included, first passes the Host and Origin checks of `guard`
//! (421 / 403), then the token check of [`auth`] (401).
//!
//! See `docs/api.md` for the contract, the percentile method and the benchmarks, and
//! `docs/security.md` for the threat model.

pub mod auth;
mod dashboard;
mod db;
pub mod error;
mod guard;
pub mod live;
mod metric_events;
pub mod openapi;
pub mod otlp;
pub mod params;
mod prom;
pub mod routes;
pub mod state;
pub mod time;
pub mod waterfall;

pub use error::AppError;
pub use state::{ApiOptions, AppState, ExtraMetrics};

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::middleware;
use axum::routing::get;
use std::future::Future;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The router of every route, with Host/Origin checks, auth, logging and (for
/// `allowed_origins`) CORS. Outermost first: logging, Host/Origin, CORS, auth.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/api/traces", get(routes::traces::list))
        .route("/api/traces/{trace_id}", get(routes::traces::detail))
        .route("/api/sessions/{id}", get(routes::sessions::get))
        .route("/api/metrics/latency", get(routes::metrics::latency))
        .route("/api/metrics/cost", get(routes::metrics::cost))
        .route("/api/metric-snapshots", get(routes::snapshots::list))
        .route("/api/correlations/drift", get(routes::snapshots::drift))
        .route("/api/live", get(live::live_handler))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/metrics", get(routes::health::metrics))
        .route("/healthz", get(routes::health::healthz))
        .route("/v1/traces", axum::routing::post(otlp::receive))
        .fallback(dashboard::serve)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    // Only the listed origins, never a reflected one.
    let origins: Vec<HeaderValue> = state
        .inner
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    if !origins.is_empty() {
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    router
        .layer(middleware::from_fn_with_state(state.clone(), guard::check))
        .layer(middleware::from_fn(auth::log_requests))
        .with_state(state)
}

/// Serves [`app`] on `listener` until `shutdown` completes, then closes WebSockets and waits
/// for in-flight requests. Starts the live tailer, so `/metrics` counts from now on. The
/// listener's address is the one the Host check accepts; a non-loopback address without a
/// token is logged as a warning (the configuration allowed it with `allow_unauthenticated`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let bound = listener.local_addr()?;
    let _ = state.inner.listen.set(bound);
    if state.inner.token.is_none() && !bound.ip().to_canonical().is_loopback() {
        tracing::warn!(
            %bound,
            "SECURITY: the API listens on a non-loopback address WITHOUT a token \
             ([api] allow_unauthenticated = true): anyone who can reach this port can read every \
             trace (users, sessions, models, cost). Set [api] token or listen on 127.0.0.1."
        );
    }
    live::ensure_started(&state);
    let closing = state.inner.closing.clone();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = closing.send(true);
        })
        .await
}
