//! Trace list filters, keyset pagination across pages, and the waterfall of one trace.

use crate::util::*;
use axum::http::StatusCode;
use std::collections::HashSet;

#[tokio::test]
async fn pagination_visits_every_trace_once_in_order() {
    let mut db = TestDb::new();
    let t0 = now() - 3_600_000 * MS;
    // 137 traces, many sharing a start time, so the cursor's tie-break on trace_id matters.
    let traces: Vec<_> = (0..137u64)
        .map(|i| trace(&tid(1000 + i), t0 + (i as i64 / 4) * MS, 10.0))
        .collect();
    db.write(&traces);
    let app = db.app();
    let mut seen = Vec::new();
    let mut uri = "/api/traces?limit=10".to_owned();
    loop {
        let (status, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["traces"].as_array().expect("traces");
        assert!(page.len() <= 10);
        seen.extend(page.iter().map(|t| {
            (
                t["start_time_unix_nano"].as_i64().expect("start"),
                t["trace_id"].as_str().expect("id").to_owned(),
            )
        }));
        match body["next"].as_str() {
            Some(next) => uri = format!("/api/traces?limit=10&before={next}"),
            None => break,
        }
    }
    let mut expected: Vec<_> = traces
        .iter()
        .map(|t| (t.start_time_unix_nano, t.trace_id.clone()))
        .collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(
        seen, expected,
        "pages must be newest first, without gaps or repeats"
    );
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 137);
}

#[tokio::test]
async fn filters_combine() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    let mut rows = Vec::new();
    for i in 0..40u64 {
        let mut t = trace(
            &tid(i + 1),
            t0 + i as i64 * 1000 * MS,
            100.0 + i as f64 * 10.0,
        );
        t.model = Some(
            if i % 2 == 0 {
                "gemini-2.5-pro"
            } else {
                "gemini-2.5-flash"
            }
            .into(),
        );
        t.status = if i % 5 == 0 { "error" } else { "ok" }.into();
        t.user_id = Some(format!("user-{}", i % 3));
        t.session_id = Some(format!("session-{}", i % 4));
        t.cost_usd = Some(i as f64 / 100.0);
        rows.push(t);
    }
    db.write(&rows);
    db.snapshot(&tid(4), "latency_ms", 900.0, true, t0);
    db.snapshot(&tid(6), "latency_ms", 0.5, false, t0);
    let app = db.app();
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["traces"]
            .as_array()
            .expect("traces")
            .iter()
            .map(|t| t["trace_id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (s, b) = get(
        &app,
        "/api/traces?model=gemini-2.5-pro&status=ok&min_duration_ms=300",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // Even i (pro), not a multiple of 5 (ok), 100 + 10 i >= 300 -> i >= 20.
    let want: Vec<String> = [38u64, 36, 34, 32, 28, 26, 24, 22]
        .iter()
        .map(|i| tid(i + 1))
        .collect();
    assert_eq!(ids(&b), want);
    let (_, b) = get(&app, "/api/traces?breached=true").await;
    assert_eq!(ids(&b), vec![tid(4)]);
    assert_eq!(b["traces"][0]["breached"], true);
    let (_, b) = get(&app, "/api/traces?breached=false&limit=500").await;
    assert_eq!(ids(&b).len(), 39);
    let (_, b) = get(&app, "/api/traces?min_cost_usd=0.385").await;
    assert_eq!(ids(&b), vec![tid(40)]);
    let (_, b) = get(&app, "/api/traces?user_id=user-1&session_id=session-1").await;
    // i % 3 == 1 and i % 4 == 1 -> i % 12 == 1.
    assert_eq!(ids(&b), vec![tid(38), tid(26), tid(14), tid(2)]);
    let since = t0 + 35 * 1000 * MS;
    let (_, b) = get(
        &app,
        &format!("/api/traces?since={since}&until={}", since + 2000 * MS),
    )
    .await;
    assert_eq!(ids(&b), vec![tid(37), tid(36)]);
    let (s, b) = get(
        &app,
        "/api/traces?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z",
    )
    .await;
    assert_eq!((s, ids(&b).len()), (StatusCode::OK, 0));
}

#[tokio::test]
async fn detail_orders_spans_as_a_waterfall() {
    let mut db = TestDb::new();
    let t0 = now() - 60_000 * MS;
    let id = tid(0xabc);
    db.write(&[trace(&id, t0, 50.0)]);
    // The root's parent lives in the caller's process (joined traceparent): it is not stored.
    db.write_spans(&[
        span(&id, "00000000000000c1", Some("00000000000000a1"), t0, 5, 40),
        span(
            &id,
            "00000000000000d1",
            Some("00000000000000c1"),
            t0,
            10,
            30,
        ),
        span(&id, "00000000000000b1", Some("ffffffffffffffff"), t0, 0, 50),
        span(&id, "00000000000000a1", Some("00000000000000b1"), t0, 1, 45),
        span(
            &id,
            "00000000000000e1",
            Some("00000000000000b1"),
            t0,
            46,
            50,
        ),
        span(&id, "00000000000000a2", Some("00000000000000b1"), t0, 1, 4),
    ]);
    db.snapshot(&id, "cost_usd", 0.2, true, t0);
    let app = db.app();
    let (s, b) = get(&app, &format!("/api/traces/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["trace"]["trace_id"], id.as_str());
    let spans = b["spans"].as_array().expect("spans");
    let got: Vec<(&str, i64, f64)> = spans
        .iter()
        .map(|s| {
            (
                s["span_id"].as_str().expect("id"),
                s["depth"].as_i64().expect("depth"),
                s["offset_ms"].as_f64().expect("offset"),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("00000000000000b1", 0, 0.0),
            ("00000000000000a1", 1, 1.0),
            ("00000000000000c1", 2, 5.0),
            ("00000000000000d1", 3, 10.0),
            ("00000000000000a2", 1, 1.0),
            ("00000000000000e1", 1, 46.0),
        ]
    );
    assert_eq!(spans[0]["duration_ms"], 50.0);
    assert_eq!(spans[1]["attributes"]["gateway.step"], "llm_call");
    assert_eq!(b["metric_snapshots"][0]["metric"], "cost_usd");
    assert_eq!(b["metric_snapshots"][0]["breached"], true);
}

#[tokio::test]
async fn unknown_and_malformed_trace_ids() {
    let db = TestDb::new();
    let app = db.app();
    let (s, b) = get(&app, &format!("/api/traces/{}", tid(42))).await;
    assert_eq!(
        (s, b["error"]["code"].as_i64()),
        (StatusCode::NOT_FOUND, Some(404))
    );
    for bad in [
        "ABCDEF0123456789ABCDEF0123456789",
        "abc",
        "zz000000000000000000000000000000",
    ] {
        let (s, b) = get(&app, &format!("/api/traces/{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert!(message(&b).contains("'trace_id'"), "{b}");
    }
}

#[tokio::test]
async fn metric_rows_show_as_events_of_the_span_that_carried_them() {
    let mut db = TestDb::new();
    let t0 = now() - 60_000 * MS;
    let id = tid(0xdef);
    db.write(&[trace(&id, t0, 50.0)]);
    let row = |span: &str, metric: &str, value: f64, at: i64| gateway_store::MetricRow {
        trace_id: id.clone(),
        metric: metric.into(),
        value,
        threshold: Some(100.0),
        breached: value > 100.0,
        model: Some("gemini-3.8-flash".into()),
        created_at_unix_nano: t0 + at * MS,
        span_id: Some(span.into()),
        llm_span_id: Some("00000000000000f2".into()),
        request_span_id: None,
    };
    // f1 is stored as the gateway stores it now (its values in metric_snapshots only); f3 as
    // before, with its event in `events` as well as its row.
    let old_event = r#"[{"name":"gateway.metric","time_unix_nano":1,"attributes":{"metric":"ttft_ms","value":7.0}}]"#;
    let spans = [
        span(&id, "00000000000000f1", None, t0, 40, 50),
        span(&id, "00000000000000f2", None, t0, 0, 40),
        gateway_store::SpanRow {
            events_json: old_event.into(),
            ..span(&id, "00000000000000f3", None, t0, 45, 50)
        },
    ];
    let rows = [
        row("00000000000000f1", "latency_ms", 120.0, 49),
        row("00000000000000f1", "cost_usd", 0.5, 50),
        row("00000000000000f3", "ttft_ms", 7.0, 50),
    ];
    db.store.write_all(&spans, &[], &rows).expect("write");
    let (s, b) = get(&db.app(), &format!("/api/traces/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let events = |span: &str| {
        b["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .find(|s| s["span_id"] == span)
            .expect("span")["events"]
            .clone()
    };
    assert_eq!(
        events("00000000000000f1"),
        serde_json::json!([
            {"name": "gateway.metric", "time_unix_nano": t0 + 49 * MS, "attributes": {
                "metric": "latency_ms", "value": 120.0, "breached": true,
                "model": "gemini-3.8-flash", "llm_span_id": "00000000000000f2", "threshold": 100.0}},
            {"name": "gateway.metric", "time_unix_nano": t0 + 50 * MS, "attributes": {
                "metric": "cost_usd", "value": 0.5, "breached": false,
                "model": "gemini-3.8-flash", "llm_span_id": "00000000000000f2", "threshold": 100.0}},
        ])
    );
    assert_eq!(events("00000000000000f2"), serde_json::json!([]));
    assert_eq!(
        events("00000000000000f3"),
        serde_json::from_str::<serde_json::Value>(old_event).expect("json"),
        "a span that holds its events gets no copies"
    );
}
