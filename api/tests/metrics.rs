//! Exact percentiles on a known data set, cost with unpriced traces, metric snapshot filters.

use crate::util::*;
use axum::http::StatusCode;

#[tokio::test]
async fn percentiles_are_exact_nearest_rank() {
    let mut db = TestDb::new();
    let t0 = now() - 1_800_000 * MS;
    let mut rows = Vec::new();
    for i in 1..=100u64 {
        let mut t = trace(&tid(i), t0 + i as i64 * MS, i as f64);
        // TTFT only on the 20 streams: 5, 10, ..., 100 ms.
        t.ttft_ms = (i % 5 == 0).then_some(i as f64);
        rows.push(t);
    }
    // Another model, outside the default 1h window for the second part of the test.
    for i in 1..=10u64 {
        let mut t = trace(&tid(500 + i), t0 + i as i64 * MS, 1000.0 * i as f64);
        t.model = Some("gemini-2.5-pro".into());
        rows.push(t);
    }
    db.write(&rows);
    let app = db.app();
    let (s, b) = get(
        &app,
        "/api/metrics/latency?window=1h&model=gemini-2.5-flash",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["count"], 100);
    assert_eq!(
        (
            b["p50_ms"].as_f64(),
            b["p95_ms"].as_f64(),
            b["p99_ms"].as_f64()
        ),
        (Some(50.0), Some(95.0), Some(99.0))
    );
    assert_eq!(b["ttft_count"], 20);
    // 20 values 5..=100 step 5: ranks 10, 19, 20.
    assert_eq!(
        (
            b["ttft_p50_ms"].as_f64(),
            b["ttft_p95_ms"].as_f64(),
            b["ttft_p99_ms"].as_f64()
        ),
        (Some(50.0), Some(95.0), Some(100.0))
    );
    let (_, b) = get(&app, "/api/metrics/latency?window=2h&group_by=model").await;
    assert_eq!(b["count"], 110);
    let groups = b["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["key"], "gemini-2.5-flash");
    assert_eq!(groups[1]["key"], "gemini-2.5-pro");
    assert_eq!(groups[1]["p50_ms"], 5000.0);
    assert_eq!(groups[1]["p99_ms"], 10000.0);
    assert!(groups[1]["ttft_p50_ms"].is_null());
    let (_, b) = get(&app, "/api/metrics/latency?window=1m").await;
    assert_eq!(
        (b["count"].as_i64(), b["p50_ms"].is_null()),
        (Some(0), true)
    );
}

#[tokio::test]
async fn cost_counts_unpriced_apart_and_never_as_zero() {
    let mut db = TestDb::new();
    let t0 = (now() - 3 * 3_600_000 * MS) / (3_600_000 * MS) * (3_600_000 * MS);
    let mut priced = trace(&tid(1), t0 + 10 * MS, 5.0);
    priced.cost_usd = Some(0.25);
    priced.user_id = Some("alice".into());
    let mut priced2 = trace(&tid(2), t0 + 3_600_000 * MS + 5, 5.0);
    priced2.cost_usd = Some(0.5);
    priced2.user_id = Some("bob".into());
    priced2.session_id = Some("s1".into());
    let mut flagged = trace(&tid(3), t0 + 20 * MS, 5.0);
    flagged.model = Some("mystery-model".into());
    flagged.cost_usd = None;
    flagged.unpriced = true;
    // Usage without a cost (the cost plugin off): the writer marks it unpriced.
    let mut missing = trace(&tid(4), t0 + 30 * MS, 5.0);
    missing.model = Some("mystery-model".into());
    missing.cost_usd = None;
    missing.unpriced = true;
    let mut free = trace(&tid(5), t0 + 40 * MS, 5.0);
    free.operation = Some("count_tokens".into());
    free.cost_usd = None;
    db.write(&[priced, priced2, flagged, missing, free]);
    let app = db.app();
    let (s, b) = get(
        &app,
        "/api/metrics/cost?window=24h&bucket=1h&group_by=model",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!((b["total_usd"].as_f64().expect("total") - 0.75).abs() < 1e-12);
    assert_eq!(b["unpriced_count"], 2);
    assert_eq!(b["requests"], 5);
    let groups = b["groups"].as_array().expect("groups");
    assert_eq!(groups[0]["key"], "gemini-2.5-flash");
    assert_eq!(groups[0]["requests"], 3);
    assert_eq!(groups[1]["key"], "mystery-model");
    assert!(
        groups[1]["usd"].is_null(),
        "all-unpriced group shows null, not 0: {b}"
    );
    assert_eq!(groups[1]["unpriced"], 2);
    let series = b["series"].as_array().expect("series");
    assert_eq!(series.len(), 25);
    let at = |t: i64| series.iter().find(|p| p["t"] == t).expect("point");
    assert_eq!(at(t0)["usd"], 0.25);
    assert_eq!(at(t0)["unpriced"], 2);
    assert_eq!(at(t0 + 3_600_000 * MS)["usd"], 0.5);
    let total: f64 = series
        .iter()
        .map(|p| p["usd"].as_f64().unwrap_or(0.0))
        .sum();
    assert!((total - 0.75).abs() < 1e-12);
    let (_, b) = get(&app, "/api/metrics/cost?window=24h&group_by=user_id").await;
    let keys: Vec<_> = b["groups"]
        .as_array()
        .expect("g")
        .iter()
        .map(|g| g["key"].clone())
        .collect();
    assert_eq!(
        keys,
        vec![
            serde_json::json!("bob"),
            serde_json::json!("alice"),
            serde_json::Value::Null
        ]
    );
    let (_, b) = get(
        &app,
        "/api/metrics/cost?window=24h&bucket=15m&group_by=session_id",
    )
    .await;
    assert_eq!(b["series"].as_array().expect("s").len(), 97);
    assert_eq!(b["groups"][0]["key"], "s1");
}

#[tokio::test]
async fn metric_snapshots_filter_and_order() {
    let mut db = TestDb::new();
    let t0 = now() - 60_000 * MS;
    db.write(&[trace(&tid(1), t0, 5.0)]);
    for i in 0..6 {
        db.snapshot(&tid(1), "latency_ms", i as f64, i % 2 == 0, t0 + i * MS);
    }
    let app = db.app();
    let (s, b) = get(&app, "/api/metric-snapshots?breached=true").await;
    assert_eq!(s, StatusCode::OK);
    let values: Vec<f64> = b["snapshots"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["value"].as_f64().expect("v"))
        .collect();
    assert_eq!(values, vec![4.0, 2.0, 0.0]);
    let (_, b) = get(
        &app,
        &format!("/api/metric-snapshots?since={}&limit=2", t0 + 2 * MS),
    )
    .await;
    let values: Vec<f64> = b["snapshots"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["value"].as_f64().expect("v"))
        .collect();
    assert_eq!(values, vec![5.0, 4.0]);
}

#[tokio::test]
async fn costs_read_like_money_without_float_noise() {
    let mut db = TestDb::new();
    let t0 = now() - 60_000 * MS;
    // 0.1 + 0.2 is 0.30000000000000004 in binary floating point.
    let mut a = trace(&tid(11), t0, 5.0);
    a.cost_usd = Some(0.1);
    let mut b = trace(&tid(12), t0 + MS, 5.0);
    b.cost_usd = Some(0.2);
    db.write(&[a, b]);
    let app = db.app();
    let (s, body) = get(&app, "/api/metrics/cost?window=1h&bucket=1h").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let text = body.to_string();
    assert!(text.contains("\"total_usd\":0.3,"), "{text}");
    assert!(!text.contains("0.30000000000000004"), "{text}");
}

/// A series of at most 10,000 points is served (docs/api.md); one more is refused.
#[tokio::test]
async fn a_cost_series_of_exactly_the_most_points_is_served() {
    let db = TestDb::new();
    let app = db.app();
    // 10,000 one-minute buckets from 2026-11-01T00:00Z end at 2026-11-07T22:40Z.
    let (s, body) = get(
        &app,
        "/api/metrics/cost?since=2026-11-01T00:00:00Z&until=2026-11-07T22:40:00Z&bucket=1m",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["series"].as_array().map(Vec::len), Some(10_000));
    let (s, body) = get(
        &app,
        "/api/metrics/cost?since=2026-11-01T00:00:00Z&until=2026-11-07T22:40:00.000000001Z&bucket=1m",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn the_alert_feed_cursor_sees_every_breached_row_once() {
    use gateway_store::query::seed::{NewMetricSnapshot, insert_metric_snapshots};
    let db = TestDb::new();
    let t0 = now() - 60_000 * MS;
    let rows: Vec<_> = (0..2_993i64)
        .map(|i| NewMetricSnapshot {
            trace_id: tid(i as u64 + 1),
            metric: "latency_ms".into(),
            value: i as f64,
            threshold: Some(1.0),
            // 2,500 breached rows among 2,993.
            breached: i % 6 != 5 || i >= 2_958,
            model: None,
            created_at_unix_nano: t0 + i * MS,
        })
        .collect();
    let breached = rows.iter().filter(|r| r.breached).count();
    assert_eq!(breached, 2_500);
    insert_metric_snapshots(&db.store, &rows).expect("rows");
    let app = db.app();
    // Without a cursor: newest first, and the answer says rows were left out.
    let (s, b) = get(&app, "/api/metric-snapshots?breached=true&limit=5000").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["limit"], 1000);
    assert_eq!(b["has_more"], true);
    assert!(b["next_after_id"].is_null());
    // With the cursor: ascending ids, every row exactly once.
    let mut seen: Vec<i64> = Vec::new();
    let mut cursor = 0i64;
    loop {
        let (s, b) = get(
            &app,
            &format!("/api/metric-snapshots?breached=true&after_id={cursor}&limit=1000"),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let page: Vec<i64> = b["snapshots"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect();
        assert!(page.windows(2).all(|w| w[0] < w[1]), "ascending");
        assert!(page.iter().all(|id| *id > cursor));
        seen.extend(&page);
        let next = b["next_after_id"].as_i64().expect("cursor");
        assert_eq!(next, page.last().copied().unwrap_or(cursor));
        cursor = next;
        if b["has_more"] == false {
            break;
        }
    }
    let unique: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(seen.len(), 2_500);
    assert_eq!(unique.len(), 2_500);
    let (s, b) = get(&app, "/api/metric-snapshots?after_id=-1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
}
