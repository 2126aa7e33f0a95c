//! Drift correlation: table created when absent, foreign layouts read as they are or refused
//! with a 409 naming the missing columns, and never altered.

use crate::util::*;
use axum::http::StatusCode;
use gateway_store::query::seed::{NewDriftSnapshot, insert_drift_snapshots};

fn table_sql(db: &TestDb) -> String {
    db.store
        .connection()
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'drift_snapshots'",
            [],
            |r| r.get(0),
        )
        .expect("drift_snapshots exists")
}

/// Ten traces in `[t0, t0 + 10 s)`, with durations and costs growing with `i`, one unpriced.
fn fill(db: &mut TestDb, t0: i64) {
    let rows: Vec<_> = (0..10u64)
        .map(|i| {
            let mut t = trace(
                &tid(i + 1),
                t0 + i as i64 * 1000 * MS,
                100.0 * (i + 1) as f64,
            );
            t.cost_usd = if i == 9 {
                None
            } else {
                Some((10 - i) as f64 / 100.0)
            };
            t.unpriced = i == 9;
            t
        })
        .collect();
    db.write(&rows);
    db.snapshot(&tid(3), "latency_ms", 300.0, true, t0 + 2500 * MS);
    db.snapshot(&tid(4), "latency_ms", 1.0, false, t0 + 3500 * MS);
    db.snapshot(&tid(1), "latency_ms", 300.0, true, t0 + 60_000 * MS);
}

#[tokio::test]
async fn creates_the_table_when_absent_and_correlates() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    fill(&mut db, t0);
    let app = db.app();
    let (s, b) = get(&app, "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["correlations"].as_array().map(Vec::len), Some(0));
    let sql = table_sql(&db);
    assert!(
        sql.contains("feature TEXT NOT NULL")
            && sql.contains("window_end_unix_nano INTEGER NOT NULL"),
        "{sql}"
    );

    insert_drift_snapshots(
        &db.store,
        &[NewDriftSnapshot {
            feature: "prompt_length".into(),
            score: 0.4,
            threshold: Some(0.2),
            drifted: true,
            window_start_unix_nano: t0,
            window_end_unix_nano: t0 + 10_000 * MS,
            created_at_unix_nano: t0 + 20_000 * MS,
        }],
    )
    .expect("drift row");
    let (s, b) = get(&app, &format!("/api/correlations/drift?since={t0}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let c = &b["correlations"][0];
    assert_eq!(c["drift"]["feature"], "prompt_length");
    assert_eq!(c["drift"]["drifted"], true);
    let ids = |key: &str| -> Vec<String> {
        c[key]
            .as_array()
            .expect(key)
            .iter()
            .map(|t| t["trace_id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(
        ids("slowest_traces"),
        (6..=10).rev().map(tid).collect::<Vec<_>>()
    );
    assert_eq!(
        ids("costliest_traces"),
        (1..=5).map(tid).collect::<Vec<_>>()
    );
    let snaps = c["breached_snapshots"].as_array().expect("snaps");
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0]["trace_id"], tid(3).as_str());
    let (_, b) = get(
        &app,
        &format!("/api/correlations/drift?since={}", t0 + 30_000 * MS),
    )
    .await;
    assert_eq!(b["correlations"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn reads_an_existing_table_with_extra_columns_without_altering_it() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    fill(&mut db, t0);
    db.store
        .connection()
        .execute_batch(&format!(
            "CREATE TABLE drift_snapshots (snapshot_uuid TEXT, feature TEXT, score REAL, drifted INTEGER,
                window_start_unix_nano INTEGER, window_end_unix_nano INTEGER, created_at_unix_nano INTEGER,
                detector TEXT, histogram BLOB);
             INSERT INTO drift_snapshots VALUES ('u1', 'language', 0.9, 1, {t0}, {}, {}, 'psi', x'00');",
            t0 + 10_000 * MS,
            t0 + 11_000 * MS
        ))
        .expect("foreign table");
    let before = table_sql(&db);
    let (s, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let c = &b["correlations"][0];
    assert_eq!(c["drift"]["feature"], "language");
    assert!(c["drift"]["threshold"].is_null());
    assert_eq!(c["drift"]["id"], 1, "no id column: the rowid stands in");
    assert_eq!(c["slowest_traces"][0]["trace_id"], tid(10).as_str());
    assert_eq!(table_sql(&db), before);
}

#[tokio::test]
async fn refuses_a_table_lacking_columns_and_leaves_it_alone() {
    let db = TestDb::new();
    db.store
        .connection()
        .execute_batch(
            "CREATE TABLE drift_snapshots (id INTEGER PRIMARY KEY, feature TEXT, score REAL, ts INTEGER);
             INSERT INTO drift_snapshots (feature, score, ts) VALUES ('len', 0.7, 5);",
        )
        .expect("foreign table");
    let before = table_sql(&db);
    let (s, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let msg = message(&b);
    for col in [
        "drifted",
        "window_start_unix_nano",
        "window_end_unix_nano",
        "created_at_unix_nano",
    ] {
        assert!(msg.contains(col), "{msg}");
    }
    assert!(!msg.contains("feature"), "{msg}");
    assert_eq!(table_sql(&db), before);
    let n: i64 = db
        .store
        .connection()
        .query_row("SELECT COUNT(*) FROM drift_snapshots", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 1);
}
