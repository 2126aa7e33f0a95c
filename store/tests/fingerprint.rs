//! The schema fingerprint against real files: the gateway creates or migrates its tables only in
//! a file with none of them or in its own database, and refuses (naming the table and the
//! difference) a table named like ours that it did not create, leaving the file as it was.

mod common;

use gateway_store::{OWN_TABLES, Store, StoreError, StoreOptions};
use rusqlite::Connection;
use std::path::Path;

/// The columns of our `traces` table, as a sibling system might copy them.
const TRACES_LOOKALIKE: &str = "CREATE TABLE traces (
    trace_id TEXT PRIMARY KEY, start_time_unix_nano INTEGER NOT NULL,
    end_time_unix_nano INTEGER NOT NULL, duration_ms REAL NOT NULL, model TEXT, operation TEXT,
    stream INTEGER NOT NULL DEFAULT 0, http_status INTEGER, status TEXT NOT NULL,
    error_type TEXT, input_tokens INTEGER, output_tokens INTEGER, cached_tokens INTEGER,
    reasoning_tokens INTEGER, ttft_ms REAL, cost_usd REAL, unpriced INTEGER NOT NULL DEFAULT 0,
    user_id TEXT, session_id TEXT, request_count INTEGER NOT NULL DEFAULT 1)";

/// Every schema object and the journal mode: what "left as it was" compares.
fn snapshot(path: &Path) -> (Vec<(String, String, Option<String>)>, String) {
    let conn = Connection::open(path).expect("open");
    let mut stmt = conn
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .expect("prepare");
    let objects = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mode = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    (objects, mode)
}

/// Opens `path`, expects `Incompatible`, and returns the message.
fn refused(path: &Path) -> String {
    let err = Store::open(path, &StoreOptions::default()).expect_err("refused");
    assert!(matches!(err, StoreError::Incompatible { .. }), "{err}");
    assert!(!err.is_transient(), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    msg
}

fn gateway_db(path: &Path) {
    drop(Store::open(path, &StoreOptions::default()).expect("create"));
}

#[test]
fn a_lookalike_traces_table_of_a_sibling_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sibling.db");
    Connection::open(&path)
        .expect("open")
        .execute_batch(&format!(
            "{TRACES_LOOKALIKE};
             INSERT INTO traces (trace_id, start_time_unix_nano, end_time_unix_nano, duration_ms,
                 status, cost_usd) VALUES ('theirs', 1, 2, 0.000001, 'ok', 12.5);
             CREATE TABLE drift_snapshots (id INTEGER PRIMARY KEY, feature TEXT);"
        ))
        .expect("sibling schema");
    let before = snapshot(&path);
    let msg = refused(&path);
    assert!(
        msg.contains("table traces") && msg.contains("gateway_migrations does not"),
        "{msg}"
    );
    assert_eq!(
        snapshot(&path),
        before,
        "no index, trigger, table or journal mode change"
    );
}

#[test]
fn a_table_of_ours_in_another_case_or_as_a_view_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let upper = dir.path().join("upper.db");
    Connection::open(&upper)
        .expect("open")
        .execute_batch("CREATE TABLE SPANS (id INTEGER PRIMARY KEY)")
        .expect("create");
    assert!(refused(&upper).contains("table SPANS"));

    let view = dir.path().join("view.db");
    gateway_db(&view);
    Connection::open(&view)
        .expect("open")
        .execute_batch("DROP TABLE cost_hourly; CREATE VIEW cost_hourly AS SELECT 1 AS t")
        .expect("view");
    assert!(refused(&view).contains("cost_hourly is a view"));
}

#[test]
fn columns_that_differ_from_the_migrations_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = dir.path().join("extra.db");
    gateway_db(&extra);
    Connection::open(&extra)
        .expect("open")
        .execute_batch("ALTER TABLE spans ADD COLUMN tenant TEXT")
        .expect("alter");
    let msg = refused(&extra);
    assert!(
        msg.contains("table spans") && msg.contains("unexpected tenant"),
        "{msg}"
    );

    // A recorded gateway database whose `traces` was swapped for another shape.
    let swapped = dir.path().join("swapped.db");
    gateway_db(&swapped);
    Connection::open(&swapped)
        .expect("open")
        .execute_batch(
            "DROP TABLE traces;
             CREATE TABLE traces (trace_id TEXT PRIMARY KEY, status TEXT, note TEXT)",
        )
        .expect("swap");
    let msg = refused(&swapped);
    assert!(msg.contains("table traces"), "{msg}");
    assert!(msg.contains("missing start_time_unix_nano"), "{msg}");
    assert!(msg.contains("unexpected note"), "{msg}");
    assert!(
        msg.contains("status is TEXT (expected TEXT NOT NULL)"),
        "{msg}"
    );
}

#[test]
fn a_table_before_its_migration_or_a_missing_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Recorded at version 1, yet holding tables that only versions 2 and 3 create.
    let early = dir.path().join("early.db");
    gateway_db(&early);
    Connection::open(&early)
        .expect("open")
        .execute_batch("DELETE FROM gateway_migrations WHERE version > 1")
        .expect("rewind");
    let msg = refused(&early);
    assert!(msg.contains("schema version 1 does not create it"), "{msg}");

    let missing = dir.path().join("missing.db");
    gateway_db(&missing);
    Connection::open(&missing)
        .expect("open")
        .execute_batch("DROP TABLE metric_snapshots")
        .expect("drop");
    assert!(refused(&missing).contains("table metric_snapshots is missing"));

    let foreign_record = dir.path().join("record.db");
    Connection::open(&foreign_record)
        .expect("open")
        .execute_batch("CREATE TABLE gateway_migrations (name TEXT)")
        .expect("create");
    assert!(refused(&foreign_record).contains("table gateway_migrations is not the gateway's"));
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notes.db");
    let text = b"these are someone's notes, not a database; ".repeat(200);
    std::fs::write(&path, &text).expect("write");
    assert!(refused(&path).contains("not an SQLite database"));
    assert_eq!(std::fs::read(&path).expect("read"), text);
}

#[test]
fn own_databases_and_files_without_our_tables_are_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Only a sibling's table: ours are created beside it.
    let shared = dir.path().join("shared.db");
    Connection::open(&shared)
        .expect("open")
        .execute_batch("CREATE TABLE drift_snapshots (id INTEGER PRIMARY KEY)")
        .expect("create");
    let store = Store::open(&shared, &StoreOptions::default()).expect("shared");
    assert_eq!(
        store.schema_version().expect("version"),
        gateway_store::LATEST_SCHEMA
    );
    drop(store);
    let (objects, mode) = snapshot(&shared);
    for table in OWN_TABLES {
        assert!(
            objects.iter().any(|(t, n, _)| t == "table" && n == table),
            "{table}"
        );
    }
    assert_eq!(mode, "wal");
    // Opening our own database again passes the check (and migrates nothing).
    let mut store = Store::open(&shared, &StoreOptions::default()).expect("reopen");
    // An empty `gateway_migrations` (a first start stopped before migration 1) is resumed.
    let fresh = dir.path().join("fresh.db");
    Connection::open(&fresh)
        .expect("open")
        .execute_batch(
            "CREATE TABLE gateway_migrations (version INTEGER PRIMARY KEY,
                 applied_at_unix_nano INTEGER NOT NULL)",
        )
        .expect("create");
    gateway_db(&fresh);

    // `contains_span` tells whether a batch is in this file.
    let span = common::span(
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        None,
        "internal",
    );
    assert!(
        !store
            .contains_span(&span.trace_id, &span.span_id)
            .expect("absent")
    );
    store
        .write_batch(std::slice::from_ref(&span), &[])
        .expect("write");
    assert!(
        store
            .contains_span(&span.trace_id, &span.span_id)
            .expect("present")
    );
}

#[test]
fn a_deleted_database_is_created_again_without_its_leftover_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("g.db");
    let span = |trace: &str| common::span(trace, "00f067aa0ba902b7", None, "internal");
    // A writer that keeps the deleted file open (its `-wal` and `-shm` stay at the path).
    let mut old = Store::open(&path, &StoreOptions::default()).expect("old");
    old.write_batch(&[span("old-1")], &[]).expect("write old");
    std::fs::remove_file(&path).expect("delete");
    let mut new = Store::open(&path, &StoreOptions::default()).expect("new");
    for i in 0..20 {
        old.write_batch(&[span(&format!("old-{i}-b"))], &[])
            .expect("the old file still takes writes");
        new.write_batch(&[span(&format!("new-{i}"))], &[])
            .expect("write new");
    }
    let count = |s: &Store| -> i64 {
        s.connection()
            .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
            .expect("count")
    };
    assert_eq!((count(&old), count(&new)), (21, 20), "two files, two logs");
    drop((old, new));
    let integrity: String = Connection::open(&path)
        .expect("open")
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(integrity, "ok");
}
