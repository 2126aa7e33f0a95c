//! The exporter's file identity handling, driven through `State` so that the batch in flight
//! deterministically goes into the old file first (the check before a batch is pushed out of
//! reach): it is then written again into the new file, deduplicated, or counted as lost.

#![allow(clippy::unwrap_used)]

use super::*;
use rusqlite::Connection;

fn rows(trace: &str, n: usize) -> Rows {
    let spans = (0..n)
        .map(|i| SpanRow {
            name: format!("s{i}"),
            ..SpanRow::bare(trace, &format!("{i:016x}"), None, "internal")
        })
        .collect();
    let traces = vec![TraceRow {
        trace_id: trace.into(),
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        status: "ok".into(),
        ..Default::default()
    }];
    Rows {
        spans,
        traces,
        metrics: Vec::new(),
    }
}

/// A state whose check before a batch never runs: every batch goes into the open file first.
fn state(path: &Path) -> State {
    let opts = StoreOptions::default();
    let mut s = State::new(path, &opts, Some(Store::open(path, &opts).unwrap()));
    s.last_check = Instant::now() + Duration::from_secs(24 * 3600);
    s
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_batch_written_into_a_deleted_file_is_written_again_into_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut state = state(&path);
    state.write(&rows("a", 3)).unwrap();
    // A reader on the old file, as the API's pool would hold one.
    let old = Connection::open(&path).unwrap();
    assert_eq!(count(&old, "SELECT COUNT(*) FROM spans"), 3);
    std::fs::remove_file(&path).unwrap();

    state.write(&rows("b", 4)).unwrap();
    let q = "SELECT COUNT(*) FROM spans WHERE trace_id = 'b'";
    assert_eq!(count(&old, q), 4, "the batch went into the old file first");
    let new = Connection::open(&path).unwrap();
    assert_eq!(count(&new, q), 4, "and was written again into the new file");
    assert_eq!(count(&new, "SELECT COUNT(*) FROM spans"), 4);
    assert_eq!(
        count(&new, "SELECT MAX(version) FROM gateway_migrations"),
        gateway_store::LATEST_SCHEMA
    );
    let integrity: String = new
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[test]
fn a_batch_already_in_the_replacement_is_not_written_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let copy = dir.path().join("copy.db");
    let mut state = state(&path);
    let batch = rows("c", 2);
    state.write(&batch).unwrap();
    // A consistent copy that holds the batch, moved over the path; then the same batch is in
    // flight again (as when the copy is taken between its commit and the check).
    Connection::open(&path)
        .unwrap()
        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    std::fs::rename(&copy, &path).unwrap();
    state.write(&batch).unwrap();
    let new = Connection::open(&path).unwrap();
    assert_eq!(count(&new, "SELECT COUNT(*) FROM spans"), 2);
    assert_eq!(
        count(
            &new,
            "SELECT request_count FROM traces WHERE trace_id = 'c'"
        ),
        1,
        "the trace is not merged twice"
    );
}

#[test]
fn a_foreign_file_moved_over_the_path_loses_the_batch_visibly_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let foreign = dir.path().join("foreign.db");
    let mut state = state(&path);
    state.write(&rows("d", 1)).unwrap();
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE traces (trace_id TEXT PRIMARY KEY, note TEXT)")
        .unwrap();
    std::fs::rename(&foreign, &path).unwrap();

    let err = state.write(&rows("e", 5)).unwrap_err();
    assert!(is_file_replaced(&err), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("5 spans") && msg.contains("table traces"),
        "{msg}"
    );
    let later = state.write(&rows("f", 1)).unwrap_err();
    assert!(
        !is_file_replaced(&later),
        "later batches fail as unwritable"
    );
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "not switched to WAL");
    let sql: Vec<String> = conn
        .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        sql,
        ["CREATE TABLE traces (trace_id TEXT PRIMARY KEY, note TEXT)"]
    );
}
