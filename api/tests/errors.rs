//! Bad input, auth, unknown routes, a missing or locked database, OpenAPI and /metrics.

use crate::util::*;
use axum::http::StatusCode;
use gateway_api::{ApiOptions, AppState, ExtraMetrics, app};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn invalid_parameters_are_400_naming_the_parameter() {
    let db = TestDb::new();
    let app = db.app();
    let cases = [
        ("/api/traces?limit=abc", "limit"),
        ("/api/traces?limit=0", "limit"),
        ("/api/traces?min_duration_ms=-1", "min_duration_ms"),
        ("/api/traces?min_cost_usd=NaN", "min_cost_usd"),
        ("/api/traces?breached=maybe", "breached"),
        ("/api/traces?before=garbage", "before"),
        ("/api/traces?since=yesterday", "since"),
        ("/api/metrics/latency?window=5x", "window"),
        ("/api/metrics/latency?group_by=user_id", "group_by"),
        ("/api/metrics/cost?group_by=planet", "group_by"),
        ("/api/metrics/cost?window=30d&bucket=1s", "bucket"),
        ("/api/metrics/cost?since=10&until=5", "since"),
        ("/api/metric-snapshots?limit=-3", "limit"),
        ("/api/correlations/drift?until=noon", "until"),
    ];
    for (uri, name) in cases {
        let (s, b) = get(&app, uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {b}");
        assert_eq!(b["error"]["code"], 400);
        let want = format!("invalid parameter '{name}'");
        assert!(message(&b).starts_with(&want), "{uri}: {b}");
    }
    // Larger limits are capped, not rejected.
    let (s, _) = get(&app, "/api/traces?limit=100000").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn the_token_guards_api_and_metrics_but_not_healthz() {
    let db = TestDb::new();
    let app = app_with_token(&db, "s3cret");
    for uri in [
        "/api/traces",
        "/api/openapi.json",
        "/metrics",
        "/api/metrics/latency",
    ] {
        let (s, b) = get(&app, uri).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(b["error"]["code"], 401);
        let (s, _) = get_with(&app, uri, Some("wrong")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri}");
        let (s, _) = get_text(&app, uri, Some("s3cret")).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
    }
    // ?token= is only for the WebSocket.
    let (s, _) = get(&app, "/api/traces?token=s3cret").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = get(&app, "/healthz").await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
}

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let db = TestDb::new();
    let app = db.app();
    for uri in ["/nope", "/api/nope", "/api/traces/x/y"] {
        let (s, b) = get(&app, uri).await;
        assert_eq!(
            (s, b["error"]["code"].as_i64()),
            (StatusCode::NOT_FOUND, Some(404)),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn a_missing_database_is_503_and_is_not_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("absent.db");
    let app = app(AppState::from_path(&path));
    for uri in [
        "/api/traces",
        "/api/traces/0123456789abcdef0123456789abcdef",
        "/api/metrics/latency",
        "/api/metrics/cost",
        "/api/metric-snapshots",
        "/api/correlations/drift",
        "/api/live",
    ] {
        let (s, b) = get(&app, uri).await;
        // /api/live without upgrade headers is a 400 before the database is touched.
        if uri == "/api/live" {
            assert_eq!(s, StatusCode::BAD_REQUEST);
            continue;
        }
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {b}");
        assert!(message(&b).contains("does not exist"), "{b}");
    }
    let (s, b) = get(&app, "/healthz").await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
    assert!(!path.exists(), "the API must never create the database");
    // Once the gateway creates it, the same app answers.
    let _store =
        gateway_store::Store::open(&path, &gateway_store::StoreOptions::default()).expect("open");
    let (s, _) = get(&app, "/api/traces").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_lock_held_past_the_busy_timeout_is_503() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("locked.db");
    // A rollback-journal database (not WAL) whose writer holds an exclusive lock.
    let store =
        gateway_store::Store::open(&path, &gateway_store::StoreOptions::default()).expect("open");
    store
        .connection()
        .execute_batch("PRAGMA journal_mode=DELETE; BEGIN EXCLUSIVE; INSERT INTO metric_snapshots (trace_id, metric, value, breached, created_at_unix_nano) VALUES ('x', 'm', 1, 0, 1);")
        .expect("lock");
    let mut opts = ApiOptions::new(&path);
    opts.busy_timeout = Duration::from_millis(100);
    let app = app(AppState::new(opts));
    let (s, b) = get(&app, "/api/traces").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(
        message(&b).contains("busy") || message(&b).contains("locked"),
        "{b}"
    );
    store.connection().execute_batch("COMMIT").expect("unlock");
    let (s, _) = get(&app, "/api/traces").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let db = TestDb::new();
    let (s, doc) = get(&db.app(), "/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    for path in [
        "/api/traces",
        "/api/traces/{trace_id}",
        "/api/metrics/latency",
        "/api/metrics/cost",
        "/api/metric-snapshots",
        "/api/correlations/drift",
        "/api/live",
        "/api/openapi.json",
        "/healthz",
        "/metrics",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing");
    }
    let params = doc["paths"]["/api/traces"]["get"]["parameters"]
        .as_array()
        .expect("params");
    assert!(params.len() >= 11);
    assert!(doc["components"]["schemas"]["TraceSummary"].is_object());
}

struct GatewayCounters;

impl ExtraMetrics for GatewayCounters {
    fn render(&self, out: &mut String) {
        out.push_str("# TYPE gateway_spans_dropped counter\ngateway_spans_dropped_total 7\n");
    }
}

#[tokio::test]
async fn metrics_count_new_traces_and_append_extra_metrics() {
    let mut db = TestDb::new();
    let mut opts = ApiOptions::new(&db.path).extra_metrics(Arc::new(GatewayCounters));
    opts.poll_interval = Duration::from_millis(20);
    opts.stats_interval = Duration::from_millis(50);
    // A trace written before the tailer starts is not counted.
    db.write(&[trace(&tid(8), now(), 900.0)]);
    let state = AppState::new(opts);
    let app = app(state.clone());
    let (s, text) = get_text(&app, "/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("gateway_spans_dropped_total 7"), "{text}");
    assert!(text.ends_with("# EOF\n"));
    // The tailer counts only traces written after it read the last rowid: wait for that.
    let server = wait_tailer_started(&state).await;
    let mut t = trace(&tid(9), now(), 1500.0);
    t.ttft_ms = Some(300.0);
    db.write(&[t]);
    // The deadline only bounds the wait.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut text = get_text(&app, "/metrics", None).await.1;
    while !text.contains("gateway_requests_total{") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never counted: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        text = get_text(&app, "/metrics", None).await.1;
    }
    server.abort();
    assert!(
        text.contains(r#"gateway_requests_total{status="ok",model="gemini-2.5-flash"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("gateway_request_duration_seconds_count"),
        "{text}"
    );
    assert!(
        text.contains("gateway_time_to_first_token_seconds_sum"),
        "{text}"
    );
    assert!(text.contains("gateway_input_tokens_total"), "{text}");
    assert!(text.contains("gateway_cost_usd_total"), "{text}");
}
