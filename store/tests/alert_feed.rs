//! `metric_snapshots` as an alert feed: ids are never reused (schema version 5 rebuilds the
//! table as AUTOINCREMENT, keeping rows, ids and indexes), rows carry their span id, and an id
//! cursor sees every row exactly once. Also: the drift correlation only reads.

#![allow(clippy::unwrap_used)]

use gateway_store::query::{DriftQuery, Reader, SnapshotFilter};
use gateway_store::{MetricRow, RetentionPolicy, Store, StoreOptions, TraceRow};
use rusqlite::Connection;
use std::collections::BTreeSet;
use std::time::Duration;

fn metric(i: i64, breached: bool) -> MetricRow {
    MetricRow {
        trace_id: format!("{i:032x}"),
        metric: "latency_ms".into(),
        value: 100.0 + i as f64,
        threshold: Some(10.0),
        breached,
        model: Some("gemini-2.5-flash".into()),
        created_at_unix_nano: 1_000 + i,
        span_id: Some(format!("{i:016x}")),
    }
}

fn open(path: &std::path::Path) -> Store {
    Store::open(path, &StoreOptions::default()).unwrap()
}

fn reader(path: &std::path::Path) -> Reader {
    Reader::open(path, Duration::from_secs(5)).unwrap()
}

fn ids(store: &Store) -> Vec<i64> {
    let mut stmt = store
        .connection()
        .prepare("SELECT id FROM metric_snapshots ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn objects(path: &std::path::Path) -> Vec<(String, String, Option<String>)> {
    let c = Connection::open(path).unwrap();
    let mut stmt = c
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn retention_emptying_the_table_does_not_restart_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut store = open(&path);
    let rows: Vec<_> = (0..10).map(|i| metric(i, true)).collect();
    store.write_all(&[], &[], &rows).unwrap();
    assert_eq!(ids(&store), (1..=10).collect::<Vec<_>>());
    let report = store
        .enforce_retention(&RetentionPolicy {
            traces_before_unix_nano: None,
            metrics_before_unix_nano: Some(i64::MAX),
            max_size_bytes: None,
            batch: 3,
        })
        .unwrap();
    assert_eq!(report.metrics, 10);
    assert!(ids(&store).is_empty());
    store.write_all(&[], &[], &[metric(11, true)]).unwrap();
    assert_eq!(
        ids(&store),
        vec![11],
        "an emptied table must not hand out id 1 again"
    );
    drop(store);
    // Nor after a restart.
    let mut store = open(&path);
    store
        .enforce_retention(&RetentionPolicy {
            traces_before_unix_nano: None,
            metrics_before_unix_nano: Some(i64::MAX),
            max_size_bytes: None,
            batch: 100,
        })
        .unwrap();
    store.write_all(&[], &[], &[metric(12, true)]).unwrap();
    assert_eq!(ids(&store), vec![12]);
}

#[test]
fn rows_keep_the_span_that_carried_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut store = open(&path);
    store.write_all(&[], &[], &[metric(7, true)]).unwrap();
    let r = reader(&path);
    let rows = r
        .metric_snapshots(&SnapshotFilter {
            limit: 10,
            ..SnapshotFilter::default()
        })
        .unwrap();
    assert_eq!(rows[0].span_id.as_deref(), Some("0000000000000007"));
    assert_eq!(
        r.trace_snapshots(&format!("{:032x}", 7)).unwrap()[0].span_id,
        rows[0].span_id
    );
}

#[test]
fn a_cursor_catch_up_over_2500_breached_rows_sees_each_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut store = open(&path);
    // 2,500 breached rows among 500 unbreached ones, written in batches.
    let mut breached_ids = 0;
    for chunk in 0..10 {
        let rows: Vec<_> = (0..300)
            .map(|j| {
                let i = chunk * 300 + j;
                metric(i, j % 6 != 5)
            })
            .collect();
        breached_ids += rows.iter().filter(|m| m.breached).count();
        store.write_all(&[], &[], &rows).unwrap();
    }
    assert_eq!(breached_ids, 2500);
    let r = reader(&path);
    let mut seen = Vec::new();
    let mut cursor = 0;
    let mut polls = 0;
    loop {
        let page = r
            .metric_snapshots(&SnapshotFilter {
                breached: Some(true),
                after_id: Some(cursor),
                limit: 1000,
                ..SnapshotFilter::default()
            })
            .unwrap();
        polls += 1;
        assert!(page.windows(2).all(|w| w[0].id < w[1].id), "ascending ids");
        let Some(last) = page.last() else { break };
        cursor = last.id;
        seen.extend(page.iter().map(|s| s.id));
        if polls == 2 {
            // New rows arrive and retention deletes old ones while the consumer catches up.
            store
                .write_all(&[], &[], &[metric(10_000, true), metric(10_001, false)])
                .unwrap();
            store
                .connection()
                .execute("DELETE FROM metric_snapshots WHERE id <= 100", [])
                .unwrap();
        }
    }
    assert_eq!(polls, 4, "3 full or partial pages, then an empty one");
    let unique: BTreeSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    assert_eq!(
        seen.len(),
        2501,
        "every breached row, the late one included"
    );
}

#[test]
fn migration_5_keeps_rows_ids_indexes_and_sibling_views() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut store = open(&path);
    store
        .write_all(
            &[],
            &[],
            &(0..5).map(|i| metric(i, i % 2 == 0)).collect::<Vec<_>>(),
        )
        .unwrap();
    drop(store);
    // Turn the file back into schema version 4: the table without span_id nor AUTOINCREMENT.
    let c = Connection::open(&path).unwrap();
    c.execute_batch(
        "CREATE TABLE old (id INTEGER PRIMARY KEY, trace_id TEXT NOT NULL, metric TEXT NOT NULL,
             value REAL NOT NULL, threshold REAL, breached INTEGER NOT NULL, model TEXT,
             created_at_unix_nano INTEGER NOT NULL);
         INSERT INTO old SELECT id, trace_id, metric, value, threshold, breached, model,
             created_at_unix_nano FROM metric_snapshots WHERE id > 2;
         DROP TABLE metric_snapshots;
         ALTER TABLE old RENAME TO metric_snapshots;
         CREATE INDEX metric_snapshots_breached ON metric_snapshots(breached, created_at_unix_nano);
         CREATE INDEX metric_snapshots_trace ON metric_snapshots(trace_id);
         DELETE FROM gateway_migrations WHERE version = 5;
         DELETE FROM sqlite_sequence;
         CREATE VIEW alerts AS SELECT id, trace_id FROM metric_snapshots WHERE breached = 1;",
    )
    .unwrap();
    drop(c);
    let mut store = open(&path);
    assert_eq!(store.schema_version().unwrap(), 5);
    assert_eq!(ids(&store), vec![3, 4, 5], "rows and ids kept");
    let objs = objects(&path);
    let sql = |name: &str| {
        objs.iter()
            .find(|(_, n, _)| n == name)
            .and_then(|(_, _, s)| s.clone())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert!(sql("metric_snapshots").contains("AUTOINCREMENT"));
    assert!(sql("metric_snapshots").contains("span_id"));
    for index in [
        "metric_snapshots_breached",
        "metric_snapshots_trace",
        "metric_snapshots_breached_id",
    ] {
        sql(index);
    }
    assert!(!objs.iter().any(|(_, n, _)| n.contains("_v5")));
    let n: i64 = store
        .connection()
        .query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2, "the sibling's view still reads the table");
    store
        .connection()
        .execute("DELETE FROM metric_snapshots", [])
        .unwrap();
    store.write_all(&[], &[], &[metric(9, true)]).unwrap();
    assert_eq!(
        ids(&store),
        vec![6],
        "ids continue after the largest kept one"
    );
}

#[test]
fn the_drift_report_never_creates_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut store = open(&path);
    store
        .write_batch(
            &[],
            &[TraceRow {
                trace_id: format!("{:032x}", 1),
                start_time_unix_nano: 1,
                end_time_unix_nano: 2,
                status: "ok".into(),
                ..TraceRow::default()
            }],
        )
        .unwrap();
    let before = objects(&path);
    let report = reader(&path).drift_report(&DriftQuery::default()).unwrap();
    assert!(!report.table_found);
    assert!(report.correlations.is_empty());
    assert!(
        report
            .explanation
            .as_deref()
            .is_some_and(|e| e.contains("[drift]")),
        "{report:?}"
    );
    assert_eq!(objects(&path), before);
}
