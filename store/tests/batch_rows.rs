//! The writer inserts span and metric rows several to a statement: every batch size, chunked
//! or not, stores every row in order with the ids a row-by-row insert gives, and a failure
//! anywhere in a batch keeps nothing of it.

#![allow(clippy::unwrap_used)]

mod common;

use common::count;

use gateway_store::{MetricRow, SpanRow, Store, StoreOptions, TraceRow};

/// Span `i` of request `r` of trace `trace`: the request's root is a server span, its LLM span
/// names an interaction status (so it is copied into `span_lookup`), the others are internal.
fn span(trace: &str, r: usize, i: usize) -> SpanRow {
    let kind = match i % 4 {
        0 => "server",
        1 => "client",
        _ => "internal",
    };
    let mut s = common::span(trace, &format!("{r:08x}{i:08x}"), None, kind);
    s.name = format!("span {r}.{i}");
    s.start_time_unix_nano = (r * 10 + i) as i64;
    s.attributes_json = if kind == "client" {
        format!(r#"{{"gateway.interaction.status":"completed","gen_ai.response.id":"v1_{r}"}}"#)
    } else {
        format!(r#"{{"n":{i}}}"#)
    };
    s
}

fn metric(trace: &str, r: usize, k: usize) -> MetricRow {
    MetricRow {
        trace_id: trace.into(),
        metric: format!("m{k}"),
        value: (r * 100 + k) as f64,
        threshold: Some(1.0),
        breached: k.is_multiple_of(2),
        created_at_unix_nano: (r * 100 + k) as i64,
        span_id: Some(format!("{r:08x}{:08x}", 2)),
        request_span_id: Some(format!("{r:08x}{:08x}", 0)),
        ..MetricRow::default()
    }
}

/// `requests` requests of four spans and three metric rows each, all in trace `trace`.
fn batch(trace: &str, requests: usize) -> (Vec<SpanRow>, Vec<TraceRow>, Vec<MetricRow>) {
    let spans = (0..requests)
        .flat_map(|r| (0..4).map(move |i| span(trace, r, i)))
        .collect();
    let traces = (0..requests)
        .map(|r| TraceRow {
            trace_id: trace.into(),
            start_time_unix_nano: r as i64,
            end_time_unix_nano: r as i64 + 1,
            status: "ok".into(),
            ..TraceRow::default()
        })
        .collect();
    let metrics = (0..requests)
        .flat_map(|r| (0..3).map(move |k| metric(trace, r, k)))
        .collect();
    (spans, traces, metrics)
}

#[test]
fn every_batch_size_stores_every_row_in_order_with_consecutive_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("b.db"), &StoreOptions::default()).unwrap();
    // Sizes below, at and around the chunks (up to 16 spans, 32 metric rows), one request
    // at a time and many; each batch is its own trace, so request_index counts within it.
    for (n, requests) in [0, 1, 2, 3, 4, 5, 6, 11, 25].into_iter().enumerate() {
        let trace = format!("{n:032x}");
        let (spans, traces, metrics) = batch(&trace, requests);
        let spans_before: i64 = store
            .connection()
            .query_row("SELECT COALESCE(MAX(id), 0) FROM spans", [], |r| r.get(0))
            .unwrap();
        let metrics_before = count(&store, "metric_snapshots");
        store.write_all(&spans, &traces, &metrics).unwrap();

        let conn = store.connection();
        let stored: Vec<(i64, String, String, String, String)> = conn
            .prepare("SELECT id, span_id, name, kind, attributes FROM spans WHERE trace_id = ?1 ORDER BY id")
            .unwrap()
            .query_map([&trace], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored.len(), spans.len(), "{requests} requests");
        for (i, (row, s)) in stored.iter().zip(&spans).enumerate() {
            assert_eq!(
                row.0,
                spans_before + 1 + i as i64,
                "span {i} of {requests} requests"
            );
            assert_eq!(
                (&row.1, &row.2, row.3.as_str(), &row.4),
                (&s.span_id, &s.name, s.kind, &s.attributes_json)
            );
        }
        // The LLM spans are in span_lookup under their own id.
        let lookup: Vec<(i64, String)> = conn
            .prepare("SELECT id, attributes FROM span_lookup WHERE trace_id = ?1 ORDER BY id")
            .unwrap()
            .query_map([&trace], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<(i64, String)> = stored
            .iter()
            .filter(|row| row.3 == "client")
            .map(|row| (row.0, row.4.clone()))
            .collect();
        assert_eq!(lookup, want, "{requests} requests");

        let rows: Vec<(i64, String, f64, bool, Option<i64>)> = conn
            .prepare("SELECT id, metric, value, breached, request_index FROM metric_snapshots WHERE trace_id = ?1 ORDER BY id")
            .unwrap()
            .query_map([&trace], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), metrics.len());
        for (i, (row, m)) in rows.iter().zip(&metrics).enumerate() {
            assert_eq!(row.0, metrics_before + 1 + i as i64, "metric row {i}");
            assert_eq!((&row.1, row.2, row.3), (&m.metric, m.value, m.breached));
            // Request r (0-based) is the trace's (r + 1)th.
            assert_eq!(
                row.4,
                Some(i as i64 / 3 + 1),
                "metric row {i} of {requests} requests"
            );
        }
    }
}

#[test]
fn a_bad_row_in_a_later_chunk_keeps_nothing_of_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("f.db"), &StoreOptions::default()).unwrap();
    let (spans, traces, metrics) = batch(&format!("{:032x}", 1), 2);
    store.write_all(&spans, &traces, &metrics).unwrap();
    let before = ["spans", "span_lookup", "traces", "metric_snapshots"].map(|t| count(&store, t));

    // Seven requests: 21 metric rows, the second-to-last of which SQLite refuses (a NaN is
    // stored as NULL, and `value` is NOT NULL): after a chunk of 16 went in.
    let (spans, traces, mut metrics) = batch(&format!("{:032x}", 2), 7);
    metrics[19].value = f64::NAN;
    let err = store.write_all(&spans, &traces, &metrics).unwrap_err();
    assert!(err.to_string().contains("NOT NULL"), "{err}");
    let after = ["spans", "span_lookup", "traces", "metric_snapshots"].map(|t| count(&store, t));
    assert_eq!(after, before);

    // The same batch without the bad row is written whole.
    metrics[19].value = 1.0;
    store.write_all(&spans, &traces, &metrics).unwrap();
    assert_eq!(count(&store, "spans"), before[0] + 28);
    assert_eq!(count(&store, "metric_snapshots"), before[3] + 21);
}

#[test]
fn spans_that_cannot_follow_the_largest_id_fail_the_batch_rather_than_take_other_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("m.db"), &StoreOptions::default()).unwrap();
    store
        .connection()
        .execute(
            "INSERT INTO spans (id, span_id, trace_id, name, kind, start_time_unix_nano,
                end_time_unix_nano, status_code, attributes, events)
             VALUES (?1, 'ff', 'last', 's', 'internal', 1, 2, 'unset', '{}', '[]')",
            [i64::MAX],
        )
        .unwrap();
    let (spans, traces, metrics) = batch(&format!("{:032x}", 3), 3);
    assert!(store.write_all(&spans, &traces, &metrics).is_err());
    assert_eq!(count(&store, "spans"), 1);
    assert_eq!(count(&store, "traces"), 0);
    assert_eq!(count(&store, "metric_snapshots"), 0);
}
