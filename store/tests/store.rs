//! Integration tests of the store against real SQLite files.

mod common;

use gateway_store::{SpanRow, Store, StoreError, StoreOptions, TraceRow};
use rusqlite::Connection;

fn span(trace: &str, id: &str, parent: Option<&str>) -> SpanRow {
    common::span(trace, id, parent, "internal")
}

fn trace(id: &str, start: i64, end: i64, tokens: i64, cost: Option<f64>) -> TraceRow {
    TraceRow {
        trace_id: id.into(),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        model: Some("gemini-2.0-flash".into()),
        status: "ok".into(),
        input_tokens: Some(tokens),
        output_tokens: Some(tokens),
        cost_usd: cost,
        ..Default::default()
    }
}

#[test]
fn opens_in_wal_mode_and_migrates_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("g.db");
    let store = Store::open(&path, &StoreOptions::default()).expect("open");
    assert_eq!(
        store.schema_version().expect("version"),
        gateway_store::LATEST_SCHEMA
    );
    drop(store);
    let store = Store::open(&path, &StoreOptions::default()).expect("reopen");
    let n: i64 = store
        .connection()
        .query_row("SELECT COUNT(*) FROM gateway_migrations", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, gateway_store::LATEST_SCHEMA, "a migration ran twice");
    let mode: String = Connection::open(&path)
        .expect("raw")
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
}

#[test]
fn sibling_tables_are_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.db");
    let sibling = Connection::open(&path).expect("raw");
    sibling
        .execute_batch(
            "PRAGMA user_version = 42;
             CREATE TABLE drift_snapshots (id INTEGER PRIMARY KEY, feature TEXT, score REAL, extra BLOB);
             INSERT INTO drift_snapshots (feature, score, extra) VALUES ('len', 0.7, x'00ff');",
        )
        .expect("sibling schema");
    let before: String = sibling
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'drift_snapshots'",
            [],
            |r| r.get(0),
        )
        .expect("sql");
    drop(sibling);

    let mut store = Store::open(&path, &StoreOptions::default()).expect("open");
    store
        .write_batch(&[span("ab", "01", None)], &[trace("ab", 1, 2, 3, None)])
        .expect("write");
    drop(store);

    let raw = Connection::open(&path).expect("raw");
    let after: String = raw
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'drift_snapshots'",
            [],
            |r| r.get(0),
        )
        .expect("sql");
    assert_eq!(before, after);
    let row: (String, f64, Vec<u8>) = raw
        .query_row(
            "SELECT feature, score, extra FROM drift_snapshots",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("row");
    assert_eq!(row, ("len".to_string(), 0.7, vec![0, 255]));
    let uv: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("uv");
    assert_eq!(
        uv, 42,
        "user_version belongs to the file's owner, not to us"
    );
}

#[test]
fn requests_sharing_a_trace_merge_into_one_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path().join("m.db"), &StoreOptions::default()).expect("open");
    store
        .write_batch(&[], &[trace("t1", 100, 300, 10, Some(0.5))])
        .expect("first");
    let mut second = trace("t1", 50, 250, 5, Some(0.25));
    second.status = "error".into();
    second.http_status = Some(429);
    store.write_batch(&[], &[second]).expect("second");
    let (start, end, dur, tokens, cost, status, http, count): (
        i64,
        i64,
        f64,
        i64,
        f64,
        String,
        i64,
        i64,
    ) = store
        .connection()
        .query_row(
            "SELECT start_time_unix_nano, end_time_unix_nano, duration_ms, input_tokens, cost_usd,
                    status, http_status, request_count FROM traces WHERE trace_id = 't1'",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .expect("row");
    assert_eq!((start, end, tokens, count), (50, 300, 15, 2));
    assert!((dur - 250.0 / 1e6).abs() < 1e-12);
    assert!((cost - 0.75).abs() < 1e-12);
    assert_eq!((status.as_str(), http), ("error", 429));

    let mut unpriced = trace("t1", 60, 70, 1, None);
    unpriced.unpriced = true;
    store.write_batch(&[], &[unpriced]).expect("third");
    let cost: Option<f64> = store
        .connection()
        .query_row(
            "SELECT cost_usd FROM traces WHERE trace_id = 't1'",
            [],
            |r| r.get(0),
        )
        .expect("cost");
    assert_eq!(
        cost, None,
        "an unpriced request makes the trace's cost unknown, never partial"
    );
}

#[test]
fn a_failed_batch_keeps_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path().join("f.db"), &StoreOptions::default()).expect("open");
    let mut bad = trace("t2", 1, 2, 1, None);
    bad.status = String::new();
    // NOT NULL violation on the second statement rolls back the span insert too.
    store
        .connection()
        .execute_batch("CREATE TRIGGER no_empty BEFORE INSERT ON traces WHEN NEW.status = '' BEGIN SELECT RAISE(ABORT, 'empty status'); END;")
        .expect("trigger");
    let res = store.write_batch(&[span("t2", "02", None)], &[bad]);
    assert!(res.is_err());
    let n: i64 = store
        .connection()
        .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 0);
}

#[test]
fn a_file_that_is_not_ours_to_write_is_refused_and_a_read_only_one_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = StoreOptions::default();

    // A `traces` table of another shape (the fingerprint cases are in `fingerprint.rs`).
    let foreign = dir.path().join("foreign.db");
    Connection::open(&foreign)
        .expect("open")
        .execute_batch("CREATE TABLE traces (id INTEGER PRIMARY KEY, note TEXT)")
        .expect("create");
    let err = Store::open(&foreign, &opts).expect_err("foreign traces table");
    assert!(matches!(err, StoreError::Incompatible { .. }), "{err}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("table traces"), "{err}");

    // A schema newer than this build.
    let newer = dir.path().join("newer.db");
    drop(Store::open(&newer, &opts).expect("create"));
    Connection::open(&newer)
        .expect("open")
        .execute("INSERT INTO gateway_migrations VALUES (999, 0)", [])
        .expect("bump");
    let err = Store::open(&newer, &opts).expect_err("newer schema");
    assert!(err.to_string().contains("newer"), "{err}");
    assert!(!err.is_transient());

    // A write-protected file says so at open (SQLite would quietly open it read-only).
    let ro = dir.path().join("ro.db");
    drop(Store::open(&ro, &opts).expect("create"));
    let readonly = Connection::open_with_flags(&ro, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open read-only");
    // Root ignores file modes, so the read-only state comes from the flags of a first handle
    // only where modes apply; check the classification on the error SQLite gives instead.
    let write = readonly.execute("INSERT INTO gateway_migrations VALUES (1000, 0)", []);
    let sqlite = write.expect_err("read-only handle refuses writes");
    let err = StoreError::Sqlite {
        path: ro.clone(),
        source: sqlite,
    };
    assert!(err.is_transient() && err.needs_reopen(), "{err}");
}

/// Migration 14 replaces the value-ordered percentile indexes of a schema-13 file with the
/// bucket-and-start ones, and the exact percentiles read through them are those of a sort of
/// every value in the window.
#[test]
fn migration_14_keys_the_percentile_indexes_by_bucket_and_keeps_percentiles_exact() {
    use gateway_store::query::{LatencyQuery, Reader};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    let mut store = Store::open(&path, &StoreOptions::default()).expect("open");
    // Durations and TTFTs spread over many buckets and repeated within some, in random order.
    let traces: Vec<TraceRow> = (0..3_000i64)
        .map(|i| {
            let ms = (i * 7_919 % 3_001) as f64 * 1.37 + (i % 5) as f64 * 0.25;
            TraceRow {
                trace_id: format!("{i:032x}"),
                start_time_unix_nano: i * 1_000_000_000,
                end_time_unix_nano: i * 1_000_000_000 + (ms * 1e6) as i64,
                model: Some(["a", "b"][(i % 2) as usize].into()),
                status: "ok".into(),
                ttft_ms: (i % 3 == 0).then_some(ms / 3.0),
                ..Default::default()
            }
        })
        .collect();
    store.write_batch(&[], &traces).expect("write");
    drop(store);
    // The file as schema 13 left it.
    let conn = Connection::open(&path).expect("conn");
    conn.execute_batch(
        "DROP INDEX traces_duration_bucket; DROP INDEX traces_ttft_bucket;
         CREATE INDEX traces_duration ON traces(duration_ms, start_time_unix_nano, model);
         CREATE INDEX traces_ttft ON traces(ttft_ms, start_time_unix_nano, model)
             WHERE ttft_ms IS NOT NULL;
         DELETE FROM gateway_migrations WHERE version = 14;",
    )
    .expect("back to 13");
    drop(conn);
    drop(Store::open(&path, &StoreOptions::default()).expect("migrate"));
    let conn = Connection::open(&path).expect("conn");
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE tbl_name = 'traces' AND name LIKE 'traces_%' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names");
    assert!(
        indexes.contains(&"traces_duration_bucket".to_owned()),
        "{indexes:?}"
    );
    assert!(
        indexes.contains(&"traces_ttft_bucket".to_owned()),
        "{indexes:?}"
    );
    assert!(
        !indexes
            .iter()
            .any(|n| n == "traces_duration" || n == "traces_ttft"),
        "{indexes:?}"
    );

    let reader = Reader::open(&path, std::time::Duration::from_secs(1)).expect("reader");
    for (since, until, model) in [
        (0, i64::MAX, None),
        (500_000_000_000, 2_100_000_000_000, None),
        (0, i64::MAX, Some("b")),
    ] {
        let got = reader
            .latency(&LatencyQuery {
                since,
                until,
                model: model.map(Into::into),
                group_by_model: false,
            })
            .expect("latency");
        let in_window = |t: &&TraceRow| {
            t.start_time_unix_nano >= since
                && t.start_time_unix_nano < until
                && model.is_none_or(|m| t.model.as_deref() == Some(m))
        };
        let rank = |mut v: Vec<f64>, p: f64| {
            v.sort_by(f64::total_cmp);
            let k = (p * v.len() as f64 / 100.0).ceil() as usize;
            v[k.max(1) - 1]
        };
        let durations: Vec<f64> = traces
            .iter()
            .filter(in_window)
            .map(TraceRow::duration_ms)
            .collect();
        let ttfts: Vec<f64> = traces
            .iter()
            .filter(in_window)
            .filter_map(|t| t.ttft_ms)
            .collect();
        let want = [
            Some(rank(durations.clone(), 50.0)),
            Some(rank(durations.clone(), 95.0)),
            Some(rank(durations, 99.0)),
            Some(rank(ttfts.clone(), 50.0)),
            Some(rank(ttfts.clone(), 95.0)),
            Some(rank(ttfts, 99.0)),
        ];
        let have = [
            got.p50_ms,
            got.p95_ms,
            got.p99_ms,
            got.ttft_p50_ms,
            got.ttft_p95_ms,
            got.ttft_p99_ms,
        ];
        assert_eq!(have, want, "window {since}..{until} model {model:?}");
    }
}
