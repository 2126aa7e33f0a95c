//! The drift detector's own table as a contract, case by case: a table in milliseconds with its
//! own names, generated columns (virtual and stored), a view, a wrong time unit in both
//! directions (windows in 1970 and after 2200), a missing column. Each gives the right
//! correlation or a clear error, and afterwards the detector's objects are byte-identical: the
//! schema text of every object in the file and a checksum of every row. `api --drift-sql`
//! prints the query the endpoint runs, and that query, run by hand on a detector-shaped table,
//! gives the same rows.

use crate::util::*;
use axum::http::StatusCode;
use gateway_api::routes::snapshots::configure_drift;
use gateway_config::DriftConfig;
use gateway_store::query::seed::{NewMetricSnapshot, insert_metric_snapshots};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// The schema text of every object in the file, and one checksum per row of each of `tables`.
type Fingerprint = (
    Vec<(String, String, Option<String>)>,
    Vec<(String, Vec<u64>)>,
);

fn fingerprint(db: &TestDb, tables: &[&str]) -> Fingerprint {
    let c = db.store.connection();
    let schema = c
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .expect("ok")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("ok")
        .map(|r| r.expect("row"))
        .collect();
    let rows = tables
        .iter()
        .map(|t| {
            // Every column (generated ones too), each value quoted with its type.
            let columns: Vec<String> = c
                .prepare("SELECT name FROM pragma_table_xinfo(?1) ORDER BY cid")
                .expect("columns")
                .query_map([t], |r| r.get(0))
                .expect("columns")
                .map(|r| r.expect("column"))
                .collect();
            let row = columns
                .iter()
                .map(|col| format!("typeof(\"{col}\") || ':' || quote(\"{col}\")"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let mut sums: Vec<u64> = c
                .prepare(&format!("SELECT {row} FROM \"{t}\""))
                .expect("rows")
                .query_map([], |r| r.get::<_, String>(0))
                .expect("rows")
                .map(|r| {
                    let mut h = DefaultHasher::new();
                    r.expect("row").hash(&mut h);
                    h.finish()
                })
                .collect();
            sums.sort_unstable();
            ((*t).to_owned(), sums)
        })
        .collect();
    (schema, rows)
}

/// Traces in `[t0, t0 + 10 s)`: `tid(1..=10)`, the slowest last; trace 1 of another model.
/// Breached snapshots inside the window for traces 3 (flash) and 1 (other), one outside.
fn fill(db: &mut TestDb, t0: i64) {
    let rows: Vec<_> = (0..10u64)
        .map(|i| {
            let mut t = trace(
                &tid(i + 1),
                t0 + i as i64 * 1000 * MS,
                100.0 * (i + 1) as f64,
            );
            t.cost_usd = Some((i + 1) as f64 / 100.0);
            if i == 0 {
                t.model = Some("gemini-other".into());
            }
            t
        })
        .collect();
    db.write(&rows);
    db.snapshot(&tid(3), "latency_ms", 300.0, true, t0 + 2500 * MS);
    db.snapshot(&tid(4), "latency_ms", 1.0, false, t0 + 3500 * MS);
    let other = NewMetricSnapshot {
        trace_id: tid(1),
        metric: "latency_ms".into(),
        value: 300.0,
        threshold: Some(1.0),
        breached: true,
        model: Some("gemini-other".into()),
        created_at_unix_nano: t0 + 500 * MS,
    };
    insert_metric_snapshots(&db.store, &[other]).expect("snapshot");
    db.snapshot(&tid(5), "latency_ms", 300.0, true, t0 + 60_000 * MS);
}

fn ids(v: &serde_json::Value, key: &str, field: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}: {v}"))
        .iter()
        .map(|t| t[field].as_str().expect("ok").to_owned())
        .collect()
}

/// The detector's layout: `run_id`, window in ms, its own names, and a drifted flag.
fn detector_table(db: &TestDb, t0: i64) {
    let (a, z) = (t0 / MS, t0 / MS + 10_000);
    db.store
        .connection()
        .execute_batch(&format!(
            "CREATE TABLE drift_runs (run_id INTEGER PRIMARY KEY, window_start_ms INTEGER NOT NULL,
                 window_end_ms INTEGER NOT NULL, model_name TEXT, feature_name TEXT, psi REAL,
                 drifted INTEGER);
             INSERT INTO drift_runs VALUES
                 (11, {a}, {z}, 'gemini-2.5-flash', 'prompt_length', 0.31, 1),
                 (12, {a}, {z}, 'gemini-2.5-flash', 'language', 0.02, 0),
                 (13, {a}, {z}, 'gemini-other', 'tone', 0.4, 1);"
        ))
        .expect("ok");
}

fn ms_mapping() -> DriftConfig {
    DriftConfig {
        table: "drift_runs".into(),
        window_start_column: "window_start_ms".into(),
        window_end_column: "window_end_ms".into(),
        time_unit: "ms".into(),
        model_column: "model_name".into(),
        feature_column: "feature_name".into(),
        score_column: "psi".into(),
        drifted_column: "drifted".into(),
        ..DriftConfig::default()
    }
}

/// Checks the correlation of the detector rows 11 (flash) and 13 (other) over `fill`'s data.
fn assert_flash_and_other(b: &serde_json::Value) {
    let rows = b["correlations"].as_array().expect("ok");
    assert_eq!(rows.len(), 2, "only the drifted rows: {b}");
    let by_feature = |f: &str| {
        rows.iter()
            .find(|c| c["drift"]["feature"] == f)
            .unwrap_or_else(|| panic!("{f}: {b}"))
    };
    let flash = by_feature("prompt_length");
    assert_eq!(flash["drift"]["model"], "gemini-2.5-flash");
    assert_eq!(flash["drift"]["drifted"], true);
    assert_eq!(ids(flash, "breached_snapshots", "trace_id"), [tid(3)]);
    assert_eq!(
        ids(flash, "slowest_traces", "trace_id"),
        (6..=10).rev().map(tid).collect::<Vec<_>>()
    );
    let other = by_feature("tone");
    assert_eq!(ids(other, "breached_snapshots", "trace_id"), [tid(1)]);
    assert_eq!(ids(other, "slowest_traces", "trace_id"), [tid(1)]);
}

#[tokio::test]
async fn a_detector_table_in_milliseconds_is_correlated_and_left_identical() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    fill(&mut db, t0);
    detector_table(&db, t0);
    let before = fingerprint(&db, &["drift_runs"]);
    assert_eq!(configure_drift(&db.path, &ms_mapping()), Ok(true));
    let (s, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["warnings"].as_array().map(Vec::len), Some(0), "{b}");
    assert_flash_and_other(&b);
    let flash = &b["correlations"].as_array().expect("ok")[1];
    assert_eq!(
        flash["drift"]["id"], 11,
        "run_id is not `id`: the rowid, equal here"
    );
    assert_eq!(flash["drift"]["window_start_unix_nano"], t0 / MS * MS);
    assert_eq!(fingerprint(&db, &["drift_runs"]), before);
}

#[tokio::test]
async fn generated_columns_count_as_columns() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    fill(&mut db, t0);
    let start = t0 / 1_000_000_000;
    db.store
        .connection()
        .execute_batch(&format!(
            "CREATE TABLE drift_gen (run_id INTEGER PRIMARY KEY, start_s INTEGER, len_s INTEGER,
                 end_s INTEGER GENERATED ALWAYS AS (start_s + len_s) VIRTUAL,
                 model_name TEXT, feature_name TEXT, psi REAL,
                 flagged INTEGER GENERATED ALWAYS AS (psi > 0.2) STORED);
             INSERT INTO drift_gen (run_id, start_s, len_s, model_name, feature_name, psi) VALUES
                 (1, {start}, 11, 'gemini-2.5-flash', 'prompt_length', 0.31),
                 (2, {start}, 11, 'gemini-2.5-flash', 'language', 0.02),
                 (3, {start}, 11, 'gemini-other', 'tone', 0.4);"
        ))
        .expect("ok");
    let before = fingerprint(&db, &["drift_gen"]);
    let config = DriftConfig {
        table: "drift_gen".into(),
        window_start_column: "start_s".into(),
        window_end_column: "end_s".into(),
        time_unit: "s".into(),
        drifted_column: "flagged".into(),
        ..ms_mapping()
    };
    assert_eq!(
        configure_drift(&db.path, &config),
        Ok(true),
        "end_s (virtual) and flagged (stored) are columns"
    );
    let (s, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_flash_and_other(&b);
    assert_eq!(
        b["correlations"][0]["drift"]["window_end_unix_nano"],
        (start + 11) * 1_000_000_000
    );
    assert_eq!(fingerprint(&db, &["drift_gen"]), before);
}

#[tokio::test]
async fn a_view_over_the_detector_table_is_read() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    fill(&mut db, t0);
    detector_table(&db, t0);
    db.store
        .connection()
        .execute_batch(
            "CREATE VIEW drift_view AS SELECT run_id AS id, window_start_ms AS ws,
                 window_end_ms AS we, model_name AS m, feature_name AS f, psi AS score,
                 CASE drifted WHEN 1 THEN 'yes' ELSE 'no' END AS flag FROM drift_runs",
        )
        .expect("ok");
    let before = fingerprint(&db, &["drift_runs", "drift_view"]);
    let config = DriftConfig {
        table: "drift_view".into(),
        window_start_column: "ws".into(),
        window_end_column: "we".into(),
        time_unit: "ms".into(),
        model_column: "m".into(),
        feature_column: "f".into(),
        score_column: "score".into(),
        drifted_column: "flag".into(),
        ..DriftConfig::default()
    };
    assert_eq!(configure_drift(&db.path, &config), Ok(true));
    let (s, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_flash_and_other(&b);
    let got: Vec<_> = b["correlations"]
        .as_array()
        .expect("ok")
        .iter()
        .map(|c| c["drift"]["id"].as_i64())
        .collect();
    assert_eq!(got, [Some(13), Some(11)], "the view's id column is used");
    assert_eq!(fingerprint(&db, &["drift_runs", "drift_view"]), before);
}

#[tokio::test]
async fn a_wrong_time_unit_warns_with_the_year_it_gives() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    fill(&mut db, t0);
    detector_table(&db, t0);
    let before = fingerprint(&db, &["drift_runs"]);
    // Milliseconds read as nanoseconds fall in 1970; read as seconds, beyond 2200 (past what
    // 64-bit nanoseconds hold).
    for (unit, year) in [("ns", "1970"), ("s", "2200")] {
        let config = DriftConfig {
            time_unit: unit.into(),
            ..ms_mapping()
        };
        assert_eq!(configure_drift(&db.path, &config), Ok(true));
        let (s, b) = get(&db.app(), "/api/correlations/drift").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let warnings: Vec<&str> = b["warnings"]
            .as_array()
            .expect("ok")
            .iter()
            .map(|w| w.as_str().expect("ok"))
            .collect();
        assert_eq!(warnings.len(), 2, "both window columns: {b}");
        for (w, column) in warnings.iter().zip(["window_start_ms", "window_end_ms"]) {
            assert!(
                w.contains(column) && w.contains(&format!("time_unit = \"{unit}\"")),
                "{w}"
            );
            assert!(
                w.contains(year),
                "{unit}: the warning says where it lands: {w}"
            );
        }
        assert!(
            b["correlations"]
                .as_array()
                .expect("ok")
                .iter()
                .all(|c| c["breached_snapshots"]
                    .as_array()
                    .is_some_and(Vec::is_empty)),
            "wrong windows match nothing, and say so: {b}"
        );
    }
    assert_eq!(fingerprint(&db, &["drift_runs"]), before);
}

#[tokio::test]
async fn a_missing_column_is_a_clear_error_naming_it() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    fill(&mut db, t0);
    detector_table(&db, t0);
    let before = fingerprint(&db, &["drift_runs"]);
    let config = DriftConfig {
        window_end_column: "window_stop_ms".into(),
        model_column: "model".into(),
        ..ms_mapping()
    };
    let err = configure_drift(&db.path, &config).expect_err("refused");
    for named in [
        "window_stop_ms ([drift] window_end_column)",
        "model ([drift] model_column)",
        "drift_runs",
    ] {
        assert!(err.contains(named), "{named}: {err}");
    }
    assert!(!err.contains("feature_name"), "only what is missing: {err}");
    // The mapping in force is unchanged by a refused one.
    assert_eq!(configure_drift(&db.path, &ms_mapping()), Ok(true));
    // A table that loses a column after the check: the request says which.
    db.store
        .connection()
        .execute_batch("ALTER TABLE drift_runs RENAME COLUMN psi TO psi_v2")
        .expect("ok");
    let renamed = fingerprint(&db, &["drift_runs"]);
    assert_ne!(renamed, before, "the detector changed its own table");
    let (s, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        message(&b).contains("psi ([drift] score_column)"),
        "{}",
        message(&b)
    );
    assert_eq!(fingerprint(&db, &["drift_runs"]), renamed);
}

fn api_drift_sql(db: &TestDb, mapping: &str) -> std::process::Output {
    let config = db._dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!("[storage]\npath = \"{}\"\n{mapping}", db.path.display()),
    )
    .expect("ok");
    std::process::Command::new(env!("CARGO_BIN_EXE_api"))
        .arg("--config")
        .arg(&config)
        .arg("--drift-sql")
        .output()
        .expect("ok")
}

const MS_MAPPING: &str = "[drift]\ntable = \"drift_runs\"\nwindow_start_column = \"window_start_ms\"\n\
    window_end_column = \"window_end_ms\"\ntime_unit = \"ms\"\nmodel_column = \"model_name\"\n\
    feature_column = \"feature_name\"\nscore_column = \"psi\"\ndrifted_column = \"drifted\"\n";

#[tokio::test]
async fn api_prints_the_drift_sql_and_it_gives_the_endpoints_rows() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    fill(&mut db, t0);
    detector_table(&db, t0);
    let out = api_drift_sql(&db, MS_MAPPING);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sql = String::from_utf8(out.stdout).expect("ok");
    assert!(sql.starts_with("-- The drift correlation"), "{sql}");
    assert!(
        sql.contains("\"drift_runs\"") && sql.contains("* 1000000"),
        "{sql}"
    );
    let before = fingerprint(&db, &["drift_runs"]);
    // Run by hand, as an integrator would, on the detector-shaped table.
    let by_hand: Vec<(i64, String, Option<String>, String)> = db
        .store
        .connection()
        .prepare(sql.trim_end().trim_end_matches(';'))
        .expect("ok")
        .query_map((i64::MIN, i64::MAX, 5, 50), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(8)?, r.get(9)?))
        })
        .expect("ok")
        .map(|r| r.expect("row"))
        .map(
            |(id, feature, snaps, slow): (i64, String, Option<String>, String)| {
                (id, feature, snaps, slow)
            },
        )
        .collect();
    assert_eq!(
        by_hand
            .iter()
            .map(|r| (r.0, r.1.as_str()))
            .collect::<Vec<_>>(),
        [(13, "tone"), (11, "prompt_length")],
        "drifted rows only, newest window first (then id)"
    );
    let snaps: serde_json::Value =
        serde_json::from_str(by_hand[1].2.as_deref().expect("ok")).expect("ok");
    assert_eq!(snaps[0]["trace_id"], tid(3).as_str());
    let slow: serde_json::Value = serde_json::from_str(&by_hand[1].3).expect("ok");
    assert_eq!(slow.as_array().map(Vec::len), Some(5));
    // The endpoint runs the same query.
    assert_eq!(configure_drift(&db.path, &ms_mapping()), Ok(true));
    let (_, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_flash_and_other(&b);
    assert_eq!(fingerprint(&db, &["drift_runs"]), before);
    // A mapping that does not fit the table is refused, naming the column.
    let out = api_drift_sql(&db, &MS_MAPPING.replace("\"psi\"", "\"score\""));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("score ([drift] score_column)"), "{err}");
}
