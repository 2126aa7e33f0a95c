//! Checks that the pre-aggregated paths answer exactly what a full scan answers.

use super::buckets::bucket_of;
use super::*;
use crate::{Store, StoreOptions, TraceRow};
use std::time::Duration;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const T0: i64 = 1_750_000_000_000_000_000;

fn random_traces(n: usize, seed: u64) -> Vec<TraceRow> {
    let mut rng = Rng(seed);
    let models = [Some("gemini-2.5-pro"), Some("gemini-2.5-flash"), None];
    (0..n)
        .map(|i| {
            let start = T0 + rng.below(3 * DAY_NS as u64) as i64;
            let dur_us = 1 + rng.below(30_000_000) as i64 / (1 + rng.below(50) as i64);
            let unpriced = rng.below(10) == 0;
            TraceRow {
                trace_id: format!("{i:032x}"),
                start_time_unix_nano: start,
                end_time_unix_nano: start + dur_us * 1000,
                model: models[rng.below(3) as usize].map(str::to_owned),
                operation: Some(["generate_content", "count_tokens"][rng.below(2) as usize].into()),
                status: "ok".into(),
                input_tokens: Some(rng.below(1000) as i64),
                output_tokens: Some(rng.below(1000) as i64),
                ttft_ms: (rng.below(3) > 0).then(|| rng.below(5_000_000) as f64 / 1000.0),
                cost_usd: (!unpriced).then(|| rng.below(10_000) as f64 / 1e6),
                unpriced,
                user_id: Some(format!("u{}", rng.below(5))),
                ..Default::default()
            }
        })
        .collect()
}

fn db(traces: &[TraceRow]) -> (tempfile::TempDir, Reader) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("q.db");
    let mut store = Store::open(&path, &StoreOptions::default()).expect("open");
    store.write_batch(&[], traces).expect("write");
    let reader = Reader::open(&path, Duration::from_secs(1)).expect("reader");
    (dir, reader)
}

#[test]
fn trigger_buckets_match_rust_buckets() {
    let edges = [
        0.0, 0.4, 1.0, 99.9, 100.0, 109.99, 110.0, 999.0, 1000.0, 9_999.9, 10_000.0, 123_456.0, 2e6,
    ];
    let traces: Vec<TraceRow> = edges
        .iter()
        .enumerate()
        .map(|(i, ms)| TraceRow {
            trace_id: format!("e{i}"),
            start_time_unix_nano: T0,
            end_time_unix_nano: T0 + (ms * 1e6) as i64,
            status: "ok".into(),
            ..Default::default()
        })
        .collect();
    let (_dir, r) = db(&traces);
    let mut expected: Vec<i64> = traces.iter().map(|t| bucket_of(t.duration_ms())).collect();
    expected.sort_unstable();
    expected.dedup();
    let mut got: Vec<i64> = r
        .conn
        .prepare("SELECT bucket FROM latency_hist WHERE width = 0 AND metric = 0 ORDER BY bucket")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    got.dedup();
    assert_eq!(got, expected);
}

#[test]
fn histogram_percentiles_equal_a_full_scan() {
    let traces = random_traces(3000, 7);
    let (_dir, r) = db(&traces);
    let windows = [
        (0, i64::MAX / 2),
        (T0 + 5 * HOUR_NS + 17, T0 + 2 * DAY_NS + 3),
        (T0 + 1234, T0 + 40 * 60 * 1_000_000_000),
    ];
    for (since, until) in windows {
        for model in [None, Some("gemini-2.5-pro".to_owned()), Some(String::new())] {
            let q = LatencyQuery {
                since,
                until,
                model,
                group_by_model: true,
            };
            let fast = r.latency(&q).expect("hist");
            let slow = r.latency_by_scan(&q).expect("scan");
            assert_eq!(fast, slow, "window {since}..{until} model {:?}", q.model);
        }
    }
}

#[test]
fn nearest_rank_on_one_to_hundred() {
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(nearest_rank(&v, 50), Some(50.0));
    assert_eq!(nearest_rank(&v, 95), Some(95.0));
    assert_eq!(nearest_rank(&v, 99), Some(99.0));
    assert_eq!(nearest_rank(&[3.0], 99), Some(3.0));
    assert_eq!(nearest_rank(&[], 50), None);
}

#[test]
fn hourly_cost_equals_raw_cost_and_survives_merges() {
    let mut traces = random_traces(2000, 11);
    // A second request of an existing trace: merged into its row by the writer.
    let mut again = traces[3].clone();
    again.cost_usd = Some(0.5);
    again.unpriced = false;
    traces.push(again);
    let (_dir, r) = db(&traces);
    let q = |bucket_ns, group_by| CostQuery {
        since: T0 + 90 * 60 * 1_000_000_000 + 7,
        until: T0 + 2 * DAY_NS + 11,
        bucket_ns,
        group_by: Some(group_by),
        model: None,
    };
    let hourly = r.cost(&q(HOUR_NS, CostGroupBy::Model)).expect("hourly");
    let raw = r.cost(&q(HOUR_NS / 2, CostGroupBy::Model)).expect("raw");
    assert_eq!(hourly.requests, raw.requests);
    assert_eq!(hourly.unpriced_count, raw.unpriced_count);
    assert_eq!(hourly.input_tokens, raw.input_tokens);
    assert!((hourly.total_usd - raw.total_usd).abs() < 1e-9);
    assert_eq!(hourly.groups.len(), raw.groups.len());
    for (a, b) in hourly.groups.iter().zip(&raw.groups) {
        assert_eq!(
            (&a.key, a.requests, a.unpriced),
            (&b.key, b.requests, b.unpriced)
        );
    }
    for (i, p) in hourly.series.iter().enumerate() {
        let halves: f64 = raw
            .series
            .iter()
            .filter(|h| h.t >= p.t && h.t < p.t + HOUR_NS)
            .map(|h| h.usd)
            .sum();
        assert!((p.usd - halves).abs() < 1e-9, "bucket {i}");
    }
    let users = r.cost(&q(HOUR_NS, CostGroupBy::UserId)).expect("users");
    assert_eq!(
        users.groups.iter().map(|g| g.requests).sum::<u64>(),
        raw.requests
    );
    let n: i64 = r
        .conn
        .query_row(
            "SELECT SUM(n) FROM latency_hist WHERE width = 1 AND metric = 0",
            [],
            |row| row.get(0),
        )
        .expect("sum");
    assert_eq!(n, 2000, "a merged request must not count as a second trace");
}

#[test]
fn a_reader_knows_when_its_file_left_the_path() {
    let (dir, reader) = db(&random_traces(3, 7));
    assert!(reader.is_current(), "just opened");
    // Replaced by a rename: another gateway database moved over the path.
    let other = dir.path().join("other.db");
    drop(Store::open(&other, &StoreOptions::default()).expect("open other"));
    std::fs::rename(&other, reader.path()).expect("rename over");
    assert!(
        !reader.is_current(),
        "a rename over the path is another file"
    );
    let fresh = Reader::open(reader.path(), Duration::from_secs(1)).expect("reopen");
    assert!(fresh.is_current());
    assert_eq!(
        fresh.max_trace_rowid().expect("rowid"),
        0,
        "the new, empty file is read"
    );
    assert!(
        reader.max_trace_rowid().expect("old rowid") > 0,
        "the old one still reads the old file"
    );
    // Deleted.
    std::fs::remove_file(fresh.path()).expect("delete");
    assert!(!fresh.is_current(), "a deleted file is not current");
}
