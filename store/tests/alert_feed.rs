//! `metric_snapshots` as an alert feed: ids are never reused (schema version 5 rebuilds the
//! table as AUTOINCREMENT, keeping rows, ids and indexes), rows carry their span id, the LLM
//! call and the request's position in a merged trace (version 6), and an id cursor sees every
//! row exactly once, also while a writer keeps writing and retention empties the table. Also:
//! the drift correlation only reads.

#![allow(clippy::unwrap_used)]

mod common;

use common::span;
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
        ..MetricRow::default()
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
            metrics_before_unix_nano: Some(i64::MAX),
            ..common::no_limits(3)
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
            metrics_before_unix_nano: Some(i64::MAX),
            ..common::no_limits(100)
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
    c.execute_batch(&common::undo_span_lookup()).unwrap();
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
         DELETE FROM gateway_migrations WHERE version >= 5;
         DROP TABLE cache_storage;
         DELETE FROM sqlite_sequence;
         CREATE VIEW alerts AS SELECT id, trace_id FROM metric_snapshots WHERE breached = 1;",
    )
    .unwrap();
    drop(c);
    let mut store = open(&path);
    assert_eq!(
        store.schema_version().unwrap(),
        gateway_store::LATEST_SCHEMA
    );
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
    assert!(
        sql("metric_snapshots").contains("request_index"),
        "migration 6 ran too"
    );
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

/// The metric row of request `root` (post_processing span `post`, LLM span `llm`).
fn request_metric(trace: &str, root: &str, post: &str, llm: &str) -> MetricRow {
    MetricRow {
        trace_id: trace.into(),
        metric: "latency_ms".into(),
        value: 5.0,
        threshold: Some(1.0),
        breached: true,
        created_at_unix_nano: 1,
        span_id: Some(post.into()),
        llm_span_id: Some(llm.into()),
        request_span_id: Some(root.into()),
        ..MetricRow::default()
    }
}

#[test]
fn rows_name_the_llm_call_and_the_requests_position_in_a_merged_trace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut store = open(&path);
    let t = "0af7651916cd43dd8448eb211c80319c";
    let summary = TraceRow {
        trace_id: t.into(),
        status: "ok".into(),
        ..TraceRow::default()
    };
    // Requests 1 and 2 of the trace in one batch, each root before its metrics.
    store
        .write_all(
            &[
                span(t, "00000000000000a1", Some("cccccccccccccccc"), "server"),
                span(t, "00000000000000a2", Some("00000000000000a1"), "client"),
                span(t, "00000000000000b1", Some("cccccccccccccccc"), "server"),
            ],
            &[summary.clone(), summary.clone()],
            &[
                request_metric(
                    t,
                    "00000000000000b1",
                    "00000000000000b3",
                    "00000000000000b2",
                ),
                request_metric(
                    t,
                    "00000000000000a1",
                    "00000000000000a3",
                    "00000000000000a2",
                ),
            ],
        )
        .unwrap();
    // Request 3's metrics reach the store before its root span (the next batch).
    store
        .write_all(
            &[],
            &[],
            &[request_metric(
                t,
                "00000000000000c1",
                "00000000000000c3",
                "00000000000000c2",
            )],
        )
        .unwrap();
    store
        .write_all(
            &[span(
                t,
                "00000000000000c1",
                Some("cccccccccccccccc"),
                "server",
            )],
            std::slice::from_ref(&summary),
            &[],
        )
        .unwrap();
    // A row without a request root (written by a caller that does not know it) has no position.
    store.write_all(&[], &[], &[metric(1, true)]).unwrap();
    let rows = reader(&path)
        .metric_snapshots(&SnapshotFilter {
            after_id: Some(0),
            limit: 10,
            ..SnapshotFilter::default()
        })
        .unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.llm_span_id.as_deref(), r.request_index))
        .collect();
    assert_eq!(
        got,
        [
            (Some("00000000000000b2"), Some(2)),
            (Some("00000000000000a2"), Some(1)),
            (Some("00000000000000c2"), Some(3)),
            (None, None),
        ]
    );
    let requests: i64 = store
        .connection()
        .query_row(
            "SELECT request_count FROM traces WHERE trace_id = ?1",
            [t],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        requests, 3,
        "positions follow the trace row's request count"
    );
}

/// A root written in this batch counts the trace's server spans of earlier batches too, and a
/// root written again counts from its last row, as the file alone would say.
#[test]
fn positions_count_server_spans_of_earlier_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut store = open(&path);
    let t = "0af7651916cd43dd8448eb211c80319c";
    let root = |id: &str| span(t, id, None, "server");
    let metric = |id: &str| request_metric(t, id, "00000000000000f1", "00000000000000f2");
    // One request: its root span and its metric row.
    let request = |store: &mut Store, id: &str| {
        store.write_all(&[root(id)], &[], &[metric(id)]).unwrap();
    };
    request(&mut store, "00000000000000a1");
    // Another server span of the trace (an application's), no metrics.
    store
        .write_all(&[root("00000000000000e1")], &[], &[])
        .unwrap();
    store
        .write_all(
            &[
                span(t, "00000000000000b2", Some("00000000000000b1"), "client"),
                root("00000000000000b1"),
                root("00000000000000c1"),
            ],
            &[],
            &[metric("00000000000000c1"), metric("00000000000000b1")],
        )
        .unwrap();
    // Root a1 again, after the others: its last row counts.
    request(&mut store, "00000000000000a1");
    let got: Vec<_> = reader(&path)
        .metric_snapshots(&SnapshotFilter {
            after_id: Some(0),
            limit: 10,
            ..SnapshotFilter::default()
        })
        .unwrap()
        .iter()
        .map(|r| r.request_index)
        .collect();
    assert_eq!(got, [Some(1), Some(4), Some(3), Some(5)]);
}

/// An application's server spans (received over OTLP, `gateway.span.source`) are not gateway
/// requests: whether written before the trace's first request, in the same batch as a root, or
/// beside a metric row whose root comes later, they leave `request_index` at 1, 2, … as
/// `traces.request_count` counts.
#[test]
fn an_applications_server_spans_are_not_counted_as_requests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut store = open(&path);
    let t = "1af7651916cd43dd8448eb211c80319c";
    let root = |id: &str| span(t, id, None, "server");
    let app = |id: &str| {
        let mut s = span(t, id, None, "server");
        s.attributes_json = r#"{"service.name":"agent","gateway.span.source":"otlp"}"#.into();
        s
    };
    let metric = |id: &str| request_metric(t, id, "00000000000000f1", "00000000000000f2");
    // Before the first request.
    store
        .write_all(&[app("00000000000000e1")], &[], &[])
        .unwrap();
    // In the batch of the first request's root.
    store
        .write_all(
            &[app("00000000000000e2"), root("00000000000000a1")],
            &[],
            &[metric("00000000000000a1")],
        )
        .unwrap();
    // Beside the second request's metric row, whose root is written after it.
    store
        .write_all(
            &[app("00000000000000e3")],
            &[],
            &[metric("00000000000000b1")],
        )
        .unwrap();
    store
        .write_all(&[root("00000000000000b1")], &[], &[])
        .unwrap();
    let got: Vec<_> = reader(&path)
        .metric_snapshots(&SnapshotFilter {
            after_id: Some(0),
            limit: 10,
            ..SnapshotFilter::default()
        })
        .unwrap()
        .iter()
        .map(|r| r.request_index)
        .collect();
    assert_eq!(got, [Some(1), Some(2)]);
}

#[test]
fn the_cursor_sees_every_breached_row_once_under_load_and_across_emptying_retention() {
    use std::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut writer = open(&path);
    let mut retention = open(&path);
    const ROUNDS: i64 = 3;
    const BATCHES: i64 = 40;
    const PER_BATCH: i64 = 25;
    let (round_done, round_done_rx) = mpsc::channel::<i64>();
    let (resume, resume_rx) = mpsc::channel::<()>();
    // The load: batches written as fast as the writer goes, while the consumer polls and
    // retention deletes what the consumer has passed.
    let load = std::thread::spawn(move || {
        let mut written = BTreeSet::new();
        for round in 0..ROUNDS {
            for b in 0..BATCHES {
                let rows: Vec<_> = (0..PER_BATCH)
                    .map(|j| {
                        let i = (round * BATCHES + b) * PER_BATCH + j;
                        metric(i, i % 4 != 3)
                    })
                    .collect();
                written.extend(
                    rows.iter()
                        .filter(|m| m.breached)
                        .map(|m| m.trace_id.clone()),
                );
                writer.write_all(&[], &[], &rows).unwrap();
            }
            let last = (round + 1) * BATCHES * PER_BATCH - 1;
            round_done.send(last).unwrap();
            if resume_rx.recv().is_err() {
                break;
            }
        }
        written
    });
    let r = reader(&path);
    let poll = |cursor: i64| {
        r.metric_snapshots(&SnapshotFilter {
            breached: Some(true),
            after_id: Some(cursor),
            limit: 101,
            ..SnapshotFilter::default()
        })
        .unwrap()
    };
    let (mut cursor, mut seen, mut seen_ids) = (0, Vec::new(), Vec::new());
    let mut emptied = 0;
    let mut round_end: Option<i64> = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while emptied < ROUNDS {
        assert!(
            std::time::Instant::now() < deadline,
            "the consumer never caught up"
        );
        let page = poll(cursor);
        assert!(page.windows(2).all(|w| w[0].id < w[1].id), "ascending ids");
        if let Some(last) = page.last() {
            cursor = last.id;
            seen_ids.extend(page.iter().map(|s| s.id));
            seen.extend(page.iter().map(|s| s.trace_id.clone()));
            // Retention, concurrently with the writer, deletes only rows already read.
            retention
                .enforce_retention(&RetentionPolicy {
                    metrics_before_unix_nano: Some(last.created_at_unix_nano),
                    ..common::no_limits(50)
                })
                .unwrap();
        }
        if round_end.is_none() {
            round_end = round_done_rx.try_recv().ok();
        }
        // The round is written and read: a retention pass empties the table, then the load
        // goes on.
        if let Some(last) = round_end
            && page.is_empty()
            && seen.last() >= Some(&format!("{:032x}", last - 1))
        {
            retention
                .enforce_retention(&RetentionPolicy {
                    metrics_before_unix_nano: Some(i64::MAX),
                    ..common::no_limits(50)
                })
                .unwrap();
            let left: i64 = retention
                .connection()
                .query_row("SELECT COUNT(*) FROM metric_snapshots", [], |r| r.get(0))
                .unwrap();
            assert_eq!(left, 0, "the pass emptied the table");
            emptied += 1;
            round_end = None;
            let _ = resume.send(());
        }
    }
    drop(resume);
    let written = load.join().unwrap();
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    assert_eq!(unique, written, "every breached row, once");
    assert_eq!(written.len() as i64, ROUNDS * BATCHES * PER_BATCH * 3 / 4);
    assert!(
        seen_ids.windows(2).all(|w| w[0] < w[1]),
        "ids keep growing across the emptied table"
    );
}

/// The two `breached` indexes hold breached rows only (migration 13); the documented feed query
/// reads the `(breached, id)` one in id order without a sort, and every listing (breached,
/// unbreached, all; after a cursor or newest first) still returns the right rows in id order.
#[test]
fn the_breached_indexes_hold_breached_rows_only_and_every_listing_reads_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut store = open(&path);
    let rows: Vec<_> = (0..300).map(|i| metric(i, i % 6 == 0)).collect();
    store.write_all(&[], &[], &rows).unwrap();
    // As schema version 12 left them: the indexes over every row.
    store
        .connection()
        .execute_batch(
            "DROP INDEX metric_snapshots_breached_id;
             CREATE INDEX metric_snapshots_breached_id ON metric_snapshots(breached, id);
             DROP INDEX metric_snapshots_breached;
             CREATE INDEX metric_snapshots_breached
                 ON metric_snapshots(breached, created_at_unix_nano);
             DELETE FROM gateway_migrations WHERE version >= 13;",
        )
        .unwrap();
    drop(store);
    let store = open(&path);
    let c = store.connection();
    // Only a partial index refuses a query whose terms do not imply its WHERE.
    let forced = |sql: &str| c.prepare(sql).map(|_| ()).map_err(|e| e.to_string());
    for index in ["metric_snapshots_breached_id", "metric_snapshots_breached"] {
        let err = forced(&format!(
            "SELECT id FROM metric_snapshots INDEXED BY {index}"
        ))
        .unwrap_err();
        assert!(err.contains("no query solution"), "{index}: {err}");
        forced(&format!(
            "SELECT id FROM metric_snapshots INDEXED BY {index} WHERE breached = 1 AND id > 0"
        ))
        .unwrap();
    }
    let plan: Vec<String> = c
        .prepare(
            "EXPLAIN QUERY PLAN SELECT id FROM metric_snapshots
             WHERE breached = 1 AND id > ?1 ORDER BY id LIMIT ?2",
        )
        .unwrap()
        .query_map([0, 10], |r| r.get(3))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(
        plan.iter()
            .any(|p| p.contains("metric_snapshots_breached_id")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");

    let r = reader(&path);
    // Row i (id i + 1) is breached when i % 6 == 0.
    let is = |id: i64, breached: Option<bool>| breached.is_none_or(|b| ((id - 1) % 6 == 0) == b);
    for breached in [Some(true), Some(false), None] {
        let list = |after_id: Option<i64>, limit: u32| {
            r.metric_snapshots(&SnapshotFilter {
                breached,
                after_id,
                limit,
                ..SnapshotFilter::default()
            })
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect::<Vec<i64>>()
        };
        let after: Vec<i64> = (101..=300).filter(|&id| is(id, breached)).collect();
        assert_eq!(
            list(Some(100), 1000),
            after,
            "after a cursor, breached = {breached:?}"
        );
        let newest: Vec<i64> = (1..=300)
            .rev()
            .filter(|&id| is(id, breached))
            .take(7)
            .collect();
        assert_eq!(
            list(None, 7),
            newest,
            "newest first, breached = {breached:?}"
        );
    }
    // Breached rows since a time: through the time index, newest first.
    let since = r
        .metric_snapshots(&SnapshotFilter {
            breached: Some(true),
            since: Some(1_000 + 250),
            limit: 100,
            ..SnapshotFilter::default()
        })
        .unwrap();
    let got: Vec<i64> = since.iter().map(|s| s.id).collect();
    assert_eq!(got, vec![295, 289, 283, 277, 271, 265, 259, 253]);
}
