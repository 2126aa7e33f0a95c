//! Fixtures: a temporary database filled through `Store::write_batch`, and request helpers.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use gateway_api::{ApiOptions, AppState, app};
use gateway_store::query::seed::{NewMetricSnapshot, insert_metric_snapshots};
use gateway_store::{SpanRow, Store, StoreOptions, TraceRow};
use serde_json::Value;
use std::path::PathBuf;
use tower::ServiceExt;

/// Nanoseconds per millisecond.
pub const MS: i64 = 1_000_000;

/// A trace id from a number: 32 lowercase hex digits.
pub fn tid(n: u64) -> String {
    format!("{n:032x}")
}

/// Now, unix nanos.
pub fn now() -> i64 {
    gateway_api::time::now_unix_nano()
}

/// A database in a temporary directory.
pub struct TestDb {
    pub _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub store: Store,
}

impl TestDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gateway.db");
        let store = Store::open(&path, &StoreOptions::default()).expect("open store");
        Self {
            _dir: dir,
            path,
            store,
        }
    }

    pub fn write(&mut self, traces: &[TraceRow]) {
        self.store.write_batch(&[], traces).expect("write traces");
    }

    pub fn write_spans(&mut self, spans: &[SpanRow]) {
        self.store.write_batch(spans, &[]).expect("write spans");
    }

    pub fn snapshot(&self, trace_id: &str, metric: &str, value: f64, breached: bool, at: i64) {
        let row = NewMetricSnapshot {
            trace_id: trace_id.into(),
            metric: metric.into(),
            value,
            threshold: Some(1.0),
            breached,
            model: Some("gemini-2.5-flash".into()),
            created_at_unix_nano: at,
        };
        insert_metric_snapshots(&self.store, &[row]).expect("snapshot");
    }

    pub fn state(&self) -> AppState {
        AppState::from_path(&self.path)
    }

    pub fn app(&self) -> Router {
        app(self.state())
    }
}

/// A trace starting at `start` lasting `ms` milliseconds.
pub fn trace(id: &str, start: i64, ms: f64) -> TraceRow {
    TraceRow {
        trace_id: id.into(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + (ms * 1e6) as i64,
        model: Some("gemini-2.5-flash".into()),
        operation: Some("generate_content".into()),
        status: "ok".into(),
        http_status: Some(200),
        input_tokens: Some(10),
        output_tokens: Some(20),
        cost_usd: Some(0.001),
        ..Default::default()
    }
}

/// A span of `trace` from `start` to `end` (ms offsets from `t0`).
pub fn span(trace: &str, id: &str, parent: Option<&str>, t0: i64, start: i64, end: i64) -> SpanRow {
    SpanRow {
        span_id: id.into(),
        trace_id: trace.into(),
        parent_span_id: parent.map(Into::into),
        name: format!("span {id}"),
        kind: "internal",
        start_time_unix_nano: t0 + start * MS,
        end_time_unix_nano: t0 + end * MS,
        status_code: "unset",
        status_message: None,
        attributes_json: r#"{"gateway.step":"llm_call","gen_ai.usage.input_tokens":10}"#.into(),
        events_json: "[]".into(),
    }
}

/// GETs `uri` and returns the status and JSON body (`Value::Null` when not JSON).
pub async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    get_with(app, uri, None).await
}

/// GETs `uri` with an optional bearer token.
pub async fn get_with(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::get(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 16 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// GETs `uri` and returns the status and raw text.
pub async fn get_text(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::get(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 16 << 20)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// An app with a token.
pub fn app_with_token(db: &TestDb, token: &str) -> Router {
    app(AppState::new(ApiOptions::new(&db.path).token(token)))
}

/// The error message of an error body.
pub fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("")
}

/// The next WebSocket text message of type `kind` (others are skipped). The deadline only
/// bounds the wait (a hang fails instead of stalling); it is no assertion on how fast the feed is.
pub async fn next_json<S>(ws: &mut S, kind: &str) -> Value
where
    S: futures::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} message (waited at most 30 s)"))
            .expect("stream open")
            .expect("frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(t.as_str()).expect("json");
            if v["type"] == kind {
                return v;
            }
        }
    }
}

/// Serves `state` on a port of its own (`127.0.0.1:0`) and waits for a `stats` message of its
/// live feed: the tailer reads the last rowid before it first sends statistics, in the same
/// pass, so from then on a row written is one it counts. Returns the serving task.
pub async fn wait_tailer_started(state: &AppState) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn({
        let state = state.clone();
        async move {
            let _ = gateway_api::serve(listener, state, std::future::pending()).await;
        }
    });
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/live"))
        .await
        .expect("connect");
    next_json(&mut ws, "stats").await;
    server
}
