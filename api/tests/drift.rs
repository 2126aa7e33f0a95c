//! Drift correlation: the endpoint only reads (no table: 200, empty, explained, and the file
//! unchanged), reads a detector's own table as `[drift]` maps it (units converted, drifted flag
//! honoured, model matched), refuses a table lacking a mapped column with a 409 naming it, and
//! never alters the table.

use crate::util::*;
use axum::http::StatusCode;
use gateway_api::routes::snapshots::configure_drift;
use gateway_config::DriftConfig;

fn master(db: &TestDb) -> Vec<(String, String, Option<String>)> {
    let c = db.store.connection();
    let mut stmt = c
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

/// Ten traces in `[t0, t0 + 10 s)`, with durations growing and costs falling with `i`; the
/// last is unpriced, the one before it has no cost of its own (deferred).
fn fill(db: &mut TestDb, t0: i64) {
    let rows: Vec<_> = (0..10u64)
        .map(|i| {
            let mut t = trace(
                &tid(i + 1),
                t0 + i as i64 * 1000 * MS,
                100.0 * (i + 1) as f64,
            );
            t.cost_usd = if i >= 8 {
                None
            } else {
                Some((10 - i) as f64 / 100.0)
            };
            t.unpriced = i == 9;
            if i == 0 {
                t.model = Some("gemini-other".into());
            }
            t
        })
        .collect();
    db.write(&rows);
    db.snapshot(&tid(3), "latency_ms", 300.0, true, t0 + 2500 * MS);
    db.snapshot(&tid(4), "latency_ms", 1.0, false, t0 + 3500 * MS);
    db.snapshot(&tid(1), "latency_ms", 300.0, true, t0 + 60_000 * MS);
}

fn ids(c: &serde_json::Value, key: &str) -> Vec<String> {
    c[key]
        .as_array()
        .expect(key)
        .iter()
        .map(|t| t["trace_id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn without_a_drift_table_answers_empty_and_creates_nothing() {
    let mut db = TestDb::new();
    fill(&mut db, now() - 600_000 * MS);
    let before = master(&db);
    let app = db.app();
    for _ in 0..2 {
        let (s, b) = get(&app, "/api/correlations/drift").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["correlations"].as_array().map(Vec::len), Some(0));
        assert_eq!(b["table_found"], false);
        assert_eq!(b["table"], "drift_snapshots");
        let why = b["explanation"].as_str().expect("explanation");
        assert!(why.contains("[drift]") && why.contains("never"), "{why}");
    }
    assert_eq!(master(&db), before, "sqlite_master must not change");
}

#[tokio::test]
async fn reads_a_detector_table_in_milliseconds_with_its_own_names() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    fill(&mut db, t0);
    let (ms0, ms1) = (t0 / MS, t0 / MS + 10_000);
    db.store
        .connection()
        .execute_batch(&format!(
            "CREATE TABLE detector_runs (run_id INTEGER PRIMARY KEY, window_start_ms INTEGER,
                 window_end_ms INTEGER, model_name TEXT, feature_name TEXT, psi REAL,
                 drifted INTEGER);
             INSERT INTO detector_runs VALUES
                 (7, {ms0}, {ms1}, 'gemini-2.5-flash', 'prompt_length', 0.31, 1),
                 (8, {ms0}, {ms1}, 'gemini-2.5-flash', 'language', 0.02, 0);"
        ))
        .expect("detector table");
    let config = DriftConfig {
        table: "detector_runs".into(),
        window_start_column: "window_start_ms".into(),
        window_end_column: "window_end_ms".into(),
        time_unit: "ms".into(),
        model_column: "model_name".into(),
        feature_column: "feature_name".into(),
        score_column: "psi".into(),
        drifted_column: "drifted".into(),
        id_column: "run_id".into(),
        ..DriftConfig::default()
    };
    assert_eq!(configure_drift(&db.path, &config), Ok(true));
    let before = master(&db);
    let app = db.app();
    let (s, b) = get(&app, "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["table_found"], true);
    assert_eq!(b["warnings"].as_array().map(Vec::len), Some(0), "{b}");
    let rows = b["correlations"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "only the drifted row: {b}");
    let c = &rows[0];
    assert_eq!(c["drift"]["id"], 7);
    assert_eq!(c["drift"]["feature"], "prompt_length");
    assert_eq!(c["drift"]["model"], "gemini-2.5-flash");
    assert_eq!(c["drift"]["score"], 0.31);
    assert_eq!(c["drift"]["drifted"], true);
    assert_eq!(c["drift"]["window_start_unix_nano"], ms0 * MS);
    assert_eq!(c["drift"]["window_end_unix_nano"], ms1 * MS);
    // Trace 1 has another model: not in this row's correlation.
    assert_eq!(
        ids(c, "slowest_traces"),
        (6..=10).rev().map(tid).collect::<Vec<_>>()
    );
    assert_eq!(
        ids(c, "costliest_traces"),
        (2..=6).map(tid).collect::<Vec<_>>()
    );
    // Of the two slowest, both without a cost, only the first is unpriced.
    let slow = &c["slowest_traces"];
    assert_eq!(
        (&slow[0]["cost_usd"], &slow[0]["unpriced"]),
        (&serde_json::Value::Null, &serde_json::Value::Bool(true)),
        "{slow}"
    );
    assert_eq!(
        (&slow[1]["cost_usd"], &slow[1]["unpriced"]),
        (&serde_json::Value::Null, &serde_json::Value::Bool(false)),
        "{slow}"
    );
    assert_eq!(slow[2]["unpriced"], false);
    // The breached rows here name no LLM span (written as before schema version 6): counted,
    // not listed (drift_contract.rs lists spans). Trace 3's row is in the window, trace 1's not.
    assert_eq!(c["breached_spans"].as_array().map(Vec::len), Some(0));
    assert_eq!(c["spans_total"], 0);
    assert_eq!(c["unattributed_breaches"], 1);
    // The stable row on request.
    let (_, b) = get(&app, "/api/correlations/drift?include_stable=true").await;
    assert_eq!(b["correlations"].as_array().map(Vec::len), Some(2));
    // Range filters on the window.
    let (_, b) = get(
        &app,
        &format!("/api/correlations/drift?since={}", t0 + 30_000 * MS),
    )
    .await;
    assert_eq!(b["correlations"].as_array().map(Vec::len), Some(0));
    assert_eq!(master(&db), before, "never altered");
}

#[tokio::test]
async fn iso8601_windows_and_a_view_are_read() {
    let mut db = TestDb::new();
    let t0 = (now() - 600_000 * MS) / 1_000_000_000 * 1_000_000_000;
    fill(&mut db, t0);
    let iso = |ns: i64| {
        db.store
            .connection()
            .query_row(
                "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1 / 1000000000.0, 'unixepoch')",
                [ns],
                |r| r.get::<_, String>(0),
            )
            .expect("iso")
    };
    let (a, z) = (iso(t0), iso(t0 + 10_000 * MS));
    db.store
        .connection()
        .execute_batch(&format!(
            "CREATE TABLE raw (start TEXT, stop TEXT, f TEXT, s REAL, flag TEXT);
             INSERT INTO raw VALUES ('{a}', '{z}', 'tone', 0.5, 'true');
             CREATE VIEW drift_view AS SELECT * FROM raw;"
        ))
        .expect("view");
    let config = DriftConfig {
        table: "drift_view".into(),
        window_start_column: "start".into(),
        window_end_column: "stop".into(),
        time_unit: "iso8601".into(),
        feature_column: "f".into(),
        score_column: "s".into(),
        drifted_column: "flag".into(),
        ..DriftConfig::default()
    };
    assert_eq!(configure_drift(&db.path, &config), Ok(true));
    let (s, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let c = &b["correlations"][0];
    assert_eq!(c["drift"]["window_start_unix_nano"], t0, "{b}");
    assert!(c["drift"]["id"].is_null(), "a view has no rowid");
    assert_eq!(c["drift"]["drifted"], true);
    assert_eq!(c["slowest_traces"][0]["trace_id"], tid(10).as_str());
}

#[tokio::test]
async fn milliseconds_read_as_nanoseconds_are_flagged() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    fill(&mut db, t0);
    db.store
        .connection()
        .execute_batch(&format!(
            "CREATE TABLE drift_snapshots (feature TEXT, score REAL, drifted INTEGER,
                 window_start_unix_nano INTEGER, window_end_unix_nano INTEGER);
             INSERT INTO drift_snapshots VALUES ('len', 0.9, 1, {}, {});",
            t0 / MS,
            t0 / MS + 10_000
        ))
        .expect("table");
    let (s, b) = get(&db.app(), "/api/correlations/drift?since=0").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let warning = b["warnings"][0].as_str().expect("a warning");
    assert!(
        warning.contains("window_start_unix_nano") && warning.contains("time_unit"),
        "{warning}"
    );
}

#[tokio::test]
async fn a_table_lacking_a_mapped_column_is_refused_naming_it_and_left_alone() {
    let db = TestDb::new();
    db.store
        .connection()
        .execute_batch(
            "CREATE TABLE drift_snapshots (id INTEGER PRIMARY KEY, feature TEXT, score REAL, ts INTEGER);
             INSERT INTO drift_snapshots (feature, score, ts) VALUES ('len', 0.7, 5);",
        )
        .expect("foreign table");
    let before = master(&db);
    let (s, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let msg = message(&b);
    for col in [
        "drifted ([drift] drifted_column)",
        "window_start_unix_nano ([drift] window_start_column)",
        "window_end_unix_nano ([drift] window_end_column)",
    ] {
        assert!(msg.contains(col), "{msg}");
    }
    assert!(!msg.contains("feature"), "{msg}");
    // The same check at startup or reload is an error naming the column.
    let config = DriftConfig {
        window_start_column: "ts".into(),
        window_end_column: "ts_end".into(),
        drifted_column: String::new(),
        ..DriftConfig::default()
    };
    let err = configure_drift(&db.path, &config).expect_err("ts_end is missing");
    assert!(err.contains("ts_end ([drift] window_end_column)"), "{err}");
    assert!(!err.contains("drifted"), "{err}");
    assert_eq!(master(&db), before);
    let n: i64 = db
        .store
        .connection()
        .query_row("SELECT COUNT(*) FROM drift_snapshots", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 1);
}
