//! Retention on real files: old traces with their spans and old metric snapshots go, recent
//! rows and sibling tables stay, and a size cap removes the oldest traces first.

#![allow(clippy::unwrap_used)]

mod common;

use common::count;

use gateway_store::{MetricRow, RetentionPolicy, SpanRow, Store, StoreOptions, TraceRow};

const DAY: i64 = 86_400_000_000_000;

fn fill(store: &mut Store, n: i64, start: i64) {
    let mut spans = Vec::new();
    let mut traces = Vec::new();
    let mut metrics = Vec::new();
    for i in 0..n {
        let t = start + i * DAY / 10;
        let id = format!("{:032x}", t);
        for s in 0..4 {
            spans.push(SpanRow {
                start_time_unix_nano: t,
                end_time_unix_nano: t + 1,
                attributes_json: format!("{{\"pad\":\"{}\"}}", "x".repeat(400)),
                ..common::span(&id, &format!("{:016x}", i * 4 + s), None, "internal")
            });
        }
        traces.push(TraceRow {
            trace_id: id.clone(),
            start_time_unix_nano: t,
            end_time_unix_nano: t + 1,
            status: "ok".into(),
            ..TraceRow::default()
        });
        metrics.push(MetricRow {
            trace_id: id,
            metric: "latency_ms".into(),
            value: 1.0,
            threshold: None,
            breached: false,
            model: None,
            created_at_unix_nano: t,
            ..MetricRow::default()
        });
    }
    store.write_all(&spans, &traces, &metrics).unwrap();
}

#[test]
fn old_rows_go_in_batches_and_recent_rows_stay() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("r.db"), &StoreOptions::default()).unwrap();
    store
        .connection()
        .execute_batch("CREATE TABLE drift_snapshots (id INTEGER PRIMARY KEY, feature TEXT); INSERT INTO drift_snapshots (feature) VALUES ('f');")
        .unwrap();
    fill(&mut store, 100, 0); // 10 days, 10 traces a day
    let report = store
        .enforce_retention(&RetentionPolicy {
            traces_before_unix_nano: Some(7 * DAY),
            metrics_before_unix_nano: Some(3 * DAY),
            ..common::no_limits(7)
        })
        .unwrap();
    assert_eq!((report.traces, report.spans, report.metrics), (70, 280, 30));
    assert_eq!(count(&store, "traces"), 30);
    assert_eq!(count(&store, "spans"), 120);
    assert_eq!(
        count(&store, "metric_snapshots"),
        70,
        "metric snapshots keep their own retention"
    );
    let oldest: i64 = store
        .connection()
        .query_row("SELECT MIN(start_time_unix_nano) FROM traces", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(oldest >= 7 * DAY);
    assert_eq!(count(&store, "drift_snapshots"), 1);
    assert!(
        report.pages_freed > 0,
        "a file we created uses incremental vacuum"
    );
}

#[test]
fn a_size_cap_removes_the_oldest_traces_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("s.db"), &StoreOptions::default()).unwrap();
    fill(&mut store, 400, 0);
    let before = store.live_bytes().unwrap();
    let cap = before / 2;
    let report = store
        .enforce_retention(&RetentionPolicy {
            max_size_bytes: Some(cap),
            ..common::no_limits(20)
        })
        .unwrap();
    assert!(store.live_bytes().unwrap() <= cap);
    let left = count(&store, "traces");
    assert!(left > 0 && left < 400);
    let newest: i64 = store
        .connection()
        .query_row("SELECT MAX(start_time_unix_nano) FROM traces", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(newest, 399 * DAY / 10, "the newest trace survives");
    // Metric rows go with the traces the cap took (each trace here has one, at its start).
    assert_eq!(report.metrics, 400 - left as u64);
    assert_eq!(count(&store, "metric_snapshots"), left);
}

/// Adds a `cache_storage` interval `[start, end)` (`end` None: no known end).
fn cache_interval(store: &Store, name: &str, start: i64, end: Option<i64>) {
    store
        .connection()
        .execute(
            "INSERT INTO cache_storage (cache_name, tokens, start_unix_nano, end_unix_nano,
                usd_per_mtok_hour, create_seen, trace_id) VALUES (?1, 1000, ?2, ?3, 1.0, 1, 't')",
            rusqlite::params![name, start, end],
        )
        .unwrap();
}

fn cache_names(store: &Store) -> Vec<String> {
    let mut stmt = store
        .connection()
        .prepare("SELECT cache_name FROM cache_storage ORDER BY cache_name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn cache_storage_intervals_go_with_the_traces_of_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("c.db"), &StoreOptions::default()).unwrap();
    fill(&mut store, 100, 0); // 10 days
    cache_interval(&store, "a-ended-day-1", 0, Some(DAY));
    cache_interval(&store, "b-ended-day-6", 5 * DAY, Some(6 * DAY));
    cache_interval(&store, "c-spans-the-cut", 6 * DAY, Some(8 * DAY));
    cache_interval(&store, "d-open-no-end", DAY, None);
    cache_interval(&store, "e-recent", 9 * DAY, Some(11 * DAY));
    // Nothing older to delete: intervals stay whatever their age.
    let report = store
        .enforce_retention(&RetentionPolicy {
            traces_before_unix_nano: Some(0),
            ..common::no_limits(2)
        })
        .unwrap();
    assert_eq!((report.traces, report.cache_intervals), (0, 0));
    assert_eq!(cache_names(&store).len(), 5);

    let report = store
        .enforce_retention(&RetentionPolicy {
            traces_before_unix_nano: Some(7 * DAY),
            ..common::no_limits(1)
        })
        .unwrap();
    assert_eq!(report.traces, 70);
    assert_eq!(report.cache_intervals, 2, "{:?}", cache_names(&store));
    assert_eq!(
        cache_names(&store),
        ["c-spans-the-cut", "d-open-no-end", "e-recent"],
        "intervals that ended before the oldest trace kept go; open and later ones stay"
    );
}

#[test]
fn a_size_cap_counts_only_the_stores_own_tables() {
    // A sibling's table four times the size of the gateway's data: the file is over the cap,
    // the gateway's data is not, and no trace is deleted to make room the sibling takes.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("s.db"), &StoreOptions::default()).unwrap();
    fill(&mut store, 200, 0);
    let own = store.live_bytes().unwrap();
    store
        .connection()
        .execute_batch(
            "CREATE TABLE drift_snapshots (id INTEGER PRIMARY KEY, body TEXT);
             CREATE INDEX drift_snapshots_body ON drift_snapshots(body);",
        )
        .unwrap();
    let blob = "x".repeat(4000);
    for i in 0..(own * 4 / 4000) {
        store
            .connection()
            .execute(
                "INSERT INTO drift_snapshots (body) VALUES (?1)",
                [format!("{i}{blob}")],
            )
            .unwrap();
    }
    let foreign = store.foreign_bytes().unwrap();
    assert!(foreign >= own * 4, "{foreign} < 4 × {own}");
    let own_after = store.live_bytes().unwrap();
    assert!(own_after.abs_diff(own) <= 4096, "{own_after} vs {own}");
    let report = store
        .enforce_retention(&RetentionPolicy {
            max_size_bytes: Some(own * 2),
            ..common::no_limits(20)
        })
        .unwrap();
    assert_eq!(report.traces, 0);
    assert_eq!(count(&store, "traces"), 200);
    assert_eq!(count(&store, "drift_snapshots"), own as i64 * 4 / 4000);

    // Past the cap with its own data, the store trims its own traces only.
    let report = store
        .enforce_retention(&RetentionPolicy {
            max_size_bytes: Some(own / 2),
            ..common::no_limits(20)
        })
        .unwrap();
    assert!(report.traces > 0 && report.traces < 200, "{report:?}");
    assert!(store.live_bytes().unwrap() <= own / 2);
    assert_eq!(count(&store, "drift_snapshots"), own as i64 * 4 / 4000);
}

/// `n` application spans of traces with no `traces` row, one every tenth of a day from
/// `start`; each names a conversation, so it also has a copy in `span_lookup`.
fn app_spans(store: &mut Store, n: i64, start: i64, tag: &str) {
    let spans: Vec<SpanRow> = (0..n)
        .map(|i| {
            let t = start + i * DAY / 10;
            SpanRow {
                start_time_unix_nano: t,
                end_time_unix_nano: t + 1,
                attributes_json: format!(
                    "{{\"gateway.span.source\":\"otlp\",\"gen_ai.conversation.id\":\"{tag}{i}\",\"pad\":\"{}\"}}",
                    "x".repeat(400)
                ),
                ..common::span(&format!("{tag}{i:030x}"), &format!("{i:016x}"), None, "internal")
            }
        })
        .collect();
    store.write_all(&spans, &[], &[]).unwrap();
}

#[test]
fn old_application_spans_without_a_trace_row_go_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("o.db"), &StoreOptions::default()).unwrap();
    // Interleaved as they arrive: gateway traces and application-only spans, 10 days each.
    for day in 0..10 {
        fill(&mut store, 10, day * DAY);
        app_spans(&mut store, 10, day * DAY, "ab");
    }
    assert_eq!(count(&store, "span_lookup"), 100);
    let report = store
        .enforce_retention(&RetentionPolicy {
            traces_before_unix_nano: Some(7 * DAY),
            ..common::no_limits(7)
        })
        .unwrap();
    assert_eq!(
        (report.traces, report.spans, report.orphan_spans),
        (70, 280, 70)
    );
    assert_eq!(count(&store, "spans"), 30 * 4 + 30);
    assert_eq!(
        count(&store, "span_lookup"),
        30,
        "their lookup copies go with them"
    );
    let oldest: i64 = store
        .connection()
        .query_row("SELECT MIN(start_time_unix_nano) FROM spans", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(oldest, 7 * DAY);

    // An old application span of a trace that is kept (it began before the trace's gateway
    // call) stays with its trace.
    let kept: String = store
        .connection()
        .query_row("SELECT MAX(trace_id) FROM traces", [], |r| r.get(0))
        .unwrap();
    store
        .write_all(
            &[SpanRow {
                start_time_unix_nano: DAY,
                end_time_unix_nano: DAY + 1,
                ..common::span(&kept, "00000000000000ff", None, "internal")
            }],
            &[],
            &[],
        )
        .unwrap();
    let report = store
        .enforce_retention(&RetentionPolicy {
            traces_before_unix_nano: Some(7 * DAY),
            ..common::no_limits(7)
        })
        .unwrap();
    assert_eq!((report.traces, report.orphan_spans), (0, 0));
    assert_eq!(count(&store, "spans"), 30 * 4 + 30 + 1);
}

#[test]
fn a_size_cap_takes_application_spans_in_age_order_with_the_traces() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("o.db"), &StoreOptions::default()).unwrap();
    // Application spans of days 0–9 only (a fifth of the data), then gateway traces of days
    // 10–19.
    app_spans(&mut store, 100, 0, "ab");
    fill(&mut store, 100, 10 * DAY);
    let cap = store.live_bytes().unwrap() * 9 / 10;
    let report = store
        .enforce_retention(&RetentionPolicy {
            max_size_bytes: Some(cap),
            ..common::no_limits(10)
        })
        .unwrap();
    assert!(store.live_bytes().unwrap() <= cap);
    assert_eq!(
        report.traces, 0,
        "older application spans go before any trace: {report:?}"
    );
    assert!(
        report.orphan_spans > 0 && report.orphan_spans < 100,
        "{report:?}"
    );
    assert_eq!(count(&store, "traces"), 100);
    let oldest_left: i64 = store
        .connection()
        .query_row(
            "SELECT MIN(start_time_unix_nano) FROM spans WHERE trace_id LIKE 'ab%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        oldest_left,
        report.orphan_spans as i64 * DAY / 10,
        "the oldest went first"
    );

    // A cap below what the traces take: every application span older than them goes first.
    let report = store
        .enforce_retention(&RetentionPolicy {
            max_size_bytes: Some(cap / 2),
            ..common::no_limits(10)
        })
        .unwrap();
    assert!(report.traces > 0, "{report:?}");
    assert!(count(&store, "traces") > 0);
    assert_eq!(count(&store, "span_lookup"), 0);
    assert!(store.live_bytes().unwrap() <= cap / 2);
}

#[test]
fn spans_without_a_trace_row_within_the_grace_stay_even_over_the_cap() {
    // No trace row at all (a running Live session's turns, children written before their root):
    // the cap cannot be met, yet nothing that started after the grace's bound is deleted.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("g.db"), &StoreOptions::default()).unwrap();
    app_spans(&mut store, 100, 0, "ab");
    let report = store
        .enforce_retention(&RetentionPolicy {
            max_size_bytes: Some(0),
            orphans_before_unix_nano: Some(5 * DAY),
            ..common::no_limits(10)
        })
        .unwrap();
    assert_eq!(report.orphan_spans, 50, "{report:?}");
    let oldest: i64 = store
        .connection()
        .query_row("SELECT MIN(start_time_unix_nano) FROM spans", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(oldest, 5 * DAY);
    // Without a grace bound, none are deleted.
    let report = store
        .enforce_retention(&RetentionPolicy {
            traces_before_unix_nano: Some(10 * DAY),
            max_size_bytes: Some(0),
            orphans_before_unix_nano: None,
            ..common::no_limits(10)
        })
        .unwrap();
    assert_eq!(report.orphan_spans, 0);
    assert_eq!(count(&store, "spans"), 50);
}

#[test]
fn the_sweep_reaches_old_spans_the_walk_from_the_front_stops_short_of() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("w.db"), &StoreOptions::default()).unwrap();
    // At the front, a window of application spans dated in the future (a skewed clock); then
    // recent gateway traces; then, written late, old application spans (an exporter replaying).
    app_spans(&mut store, 20, 100 * DAY, "fu");
    fill(&mut store, 30, 50 * DAY);
    app_spans(&mut store, 20, 0, "ol");
    let policy = |after: i64, windows: usize| RetentionPolicy {
        traces_before_unix_nano: Some(10 * DAY),
        sweep_after_id: after,
        sweep_windows: windows,
        ..common::no_limits(10)
    };
    let report = store.enforce_retention(&policy(0, 0)).unwrap();
    assert_eq!(
        report.orphan_spans, 0,
        "the front walk stops at the future-dated window"
    );
    assert_eq!(count(&store, "spans"), 20 + 120 + 20);
    // Two windows a pass: the sweep goes on from where the last pass stopped, and wraps.
    let mut after = 0;
    let mut passes = 0;
    loop {
        let r = store.enforce_retention(&policy(after, 2)).unwrap();
        passes += 1;
        after = r.sweep_next_id;
        if after == 0 {
            break;
        }
        assert!(passes < 20, "the sweep does not end");
    }
    assert!(passes > 1, "{passes}");
    assert_eq!(
        count(&store, "spans"),
        20 + 120,
        "the old ones went, nothing else"
    );
    let old: i64 = store
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM spans WHERE trace_id LIKE 'ol%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old, 0);
}
