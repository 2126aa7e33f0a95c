//! The WebSocket feed over a real socket, and the client loop with a slow client.

use crate::util::*;
use axum::extract::ws::{Message, Utf8Bytes};
use futures::{SinkExt, StreamExt};
use gateway_api::{ApiOptions, AppState};
use std::time::Duration;
use tokio_tungstenite::tungstenite;

/// The API over `db` on a loopback port (token `tok`, statistics every 200 ms): its address,
/// the sender that stops it, and the server task.
async fn serve_live(
    db: &TestDb,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let mut opts = ApiOptions::new(&db.path).token("tok");
    opts.stats_interval = Duration::from_millis(200);
    let state = AppState::new(opts);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway_api::serve(listener, state, async move {
        let _ = stop_rx.await;
    }));
    (addr, stop_tx, server)
}

#[tokio::test]
async fn a_new_trace_reaches_a_connected_client() {
    let mut db = TestDb::new();
    db.write(&[trace(&tid(1), now() - 1000 * MS, 12.0)]);
    let (addr, stop_tx, server) = serve_live(&db).await;

    let refused = tokio_tungstenite::connect_async(format!("ws://{addr}/api/live")).await;
    assert!(refused.is_err(), "no token must be refused");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/live?token=tok"))
        .await
        .expect("connect");
    let snapshot = next_json(&mut ws, "snapshot").await;
    assert_eq!(snapshot["traces"][0]["trace_id"], tid(1).as_str());
    assert!(snapshot["stats"].is_object(), "{snapshot}");

    // The tailer reads the last rowid before it first refreshes the statistics, in the same
    // pass: once a `stats` message arrived, a row written now is one it has not seen.
    next_json(&mut ws, "stats").await;
    db.write(&[trace(&tid(2), now(), 34.0)]);
    let msg = next_json(&mut ws, "trace").await;
    assert_eq!(msg["trace_id"], tid(2).as_str());
    assert_eq!(msg["duration_ms"], 34.0);
    // A `stats` message sent after the trace was computed after the poll that found it.
    let stats = next_json(&mut ws, "stats").await;
    assert_eq!(stats["requests_last_hour"], 2);

    // Shutdown closes the socket instead of waiting on it forever.
    let _ = stop_tx.send(());
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok());
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("server stops")
        .expect("join")
        .expect("serve");
    let _ = ws.send(tungstenite::Message::Close(None)).await;
}

#[tokio::test]
async fn a_client_after_an_unwatched_stretch_gets_fresh_statistics() {
    // Unwatched, the tailer computes no statistics; the next client's snapshot must not carry
    // the ones cached while the previous client watched.
    let mut db = TestDb::new();
    db.write(&[trace(&tid(1), now() - 1000 * MS, 12.0)]);
    let (addr, stop_tx, server) = serve_live(&db).await;
    let url = format!("ws://{addr}/api/live?token=tok");
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    next_json(&mut ws, "snapshot").await;
    let stats = next_json(&mut ws, "stats").await;
    assert_eq!(stats["requests_last_hour"], 1);
    let _ = ws.send(tungstenite::Message::Close(None)).await;
    drop(ws);
    db.write(&[trace(&tid(2), now(), 34.0), trace(&tid(3), now(), 56.0)]);
    // Past the statistics' interval, so that those cached above are stale.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    let snapshot = next_json(&mut ws, "snapshot").await;
    assert_eq!(snapshot["stats"]["requests_last_hour"], 3, "{snapshot}");
    let _ = stop_tx.send(());
    let _ = ws.send(tungstenite::Message::Close(None)).await;
    drop(ws);
    let _ = tokio::time::timeout(Duration::from_secs(30), server).await;
}

#[tokio::test]
async fn a_slow_client_is_skipped_ahead() {
    let (tx, rx) = tokio::sync::broadcast::channel::<Utf8Bytes>(4);
    for i in 0..10 {
        tx.send(Utf8Bytes::from(format!("m{i}"))).expect("send");
    }
    drop(tx);
    let (sink, mut out) = futures::channel::mpsc::unbounded::<Message>();
    let input = futures::stream::pending::<Result<Message, std::convert::Infallible>>();
    gateway_api::live::run_client(
        sink.sink_map_err(|_| ()),
        input,
        rx,
        Utf8Bytes::from_static("snapshot"),
        std::future::pending(),
    )
    .await;
    let mut texts = Vec::new();
    while let Ok(Message::Text(t)) = out.try_recv() {
        texts.push(t.to_string());
    }
    assert_eq!(
        texts,
        vec![
            "snapshot",
            r#"{"type":"lagged","skipped":6}"#,
            "m6",
            "m7",
            "m8",
            "m9"
        ]
    );
}
