//! `GET /api/live`: the WebSocket endpoint, and the client loop it runs. The snapshot a client
//! gets on connect is the newest trace rows plus the Live sessions running at that moment.
//!
//! [`run_client`] is generic over the sink and stream, so it can be tested without a socket.
//! A client that cannot keep up is never waited on by others: it lags in its own broadcast
//! receiver, is told how many messages it missed, and continues from the newest; a send that
//! stalls past [`SEND_TIMEOUT`] disconnects it.

use super::{SNAPSHOT_TRACES, ensure_started, lagged_message, snapshot_message};
use crate::error::AppError;
use crate::state::AppState;
use crate::time::now_unix_nano;
use axum::extract::State;
use axum::extract::ws::{
    Message, Utf8Bytes, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::response::{IntoResponse, Response};
use futures::{Sink, SinkExt, Stream, StreamExt};
use gateway_store::query::TraceFilter;
use std::future::Future;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};

/// Longest a single send may take before the client is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Live feed of new traces and rolling statistics (WebSocket).
#[utoipa::path(
    get,
    path = "/api/live",
    tag = "live",
    params(("token" = Option<String>, Query, description = "The API token, for clients that cannot send an Authorization header.")),
    responses(
        (status = 101, description = "WebSocket upgrade; then JSON text messages of type snapshot, trace, stats and lagged."),
        (status = 400, description = "Not a WebSocket upgrade request.", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or wrong token.", body = crate::error::ErrorBody),
        (status = 503, description = "Database unavailable.", body = crate::error::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn live_handler(
    State(state): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let ws = ws.map_err(|e| {
        AppError::BadRequest(format!("expected a WebSocket upgrade: {}", e.body_text()))
    })?;
    ensure_started(&state);
    // Subscribe before reading the snapshot so no trace falls between the two.
    let rx = state.inner.live.tx.subscribe();
    let filter = TraceFilter {
        limit: SNAPSHOT_TRACES,
        ..Default::default()
    };
    let mut page = state.db().run(move |r| r.list_traces(&filter)).await?;
    // Live sessions still running, unless their final row is already in the page.
    let running = state.inner.live.running_except(&page.traces);
    if !running.is_empty() {
        page.traces.extend(running);
        page.traces.sort_by(|a, b| {
            (b.start_time_unix_nano, &b.trace_id).cmp(&(a.start_time_unix_nano, &a.trace_id))
        });
    }
    // Cached statistics only while fresh: the tailer computes them only while the feed has
    // subscribers, so after an unwatched stretch they are recomputed here.
    let fresh_after = now_unix_nano()
        .saturating_sub(i64::try_from(state.inner.stats_interval.as_nanos()).unwrap_or(i64::MAX));
    let cached = state
        .inner
        .live
        .stats
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .filter(|s| s.at_unix_nano >= fresh_after);
    let stats = match cached {
        Some(s) => Some(s),
        None => state
            .db()
            .run(|r| r.live_stats(now_unix_nano()))
            .await
            .ok()
            .map(std::sync::Arc::new),
    };
    let snapshot = snapshot_message(&page.traces, stats.as_deref());
    let mut closing = state.inner.closing.subscribe();
    Ok(ws
        .on_upgrade(move |socket| async move {
            let (sink, stream) = socket.split();
            let stop = async move {
                let _ = closing.wait_for(|c| *c).await;
            };
            run_client(sink, stream, rx, snapshot, stop).await;
        })
        .into_response())
}

/// Sends `snapshot`, then every broadcast message, until the client leaves, a send stalls, or
/// `stop` completes (server shutdown), in which case a Close frame is sent.
pub async fn run_client<S, R, E>(
    mut sink: S,
    mut stream: R,
    mut rx: broadcast::Receiver<Utf8Bytes>,
    snapshot: Utf8Bytes,
    stop: impl Future<Output = ()>,
) where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    if send(&mut sink, snapshot).await.is_err() {
        return;
    }
    tokio::pin!(stop);
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let text = match msg {
                    Ok(text) => text,
                    Err(RecvError::Lagged(n)) => lagged_message(n),
                    Err(RecvError::Closed) => break,
                };
                if send(&mut sink, text).await.is_err() {
                    return;
                }
            }
            incoming = stream.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                // Pings are answered by the WebSocket layer; other frames are ignored.
                Some(Ok(_)) => {}
            },
            () = &mut stop => {
                let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(None))).await;
                return;
            }
        }
    }
    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.close()).await;
}

async fn send<S: Sink<Message> + Unpin>(sink: &mut S, text: Utf8Bytes) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}
