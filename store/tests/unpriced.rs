//! One rule for "unpriced": each kind of request (priced, flagged, deferred, failed before any
//! usage, cancelled, free countTokens, an unpriced `invoke_agent`, usage with the cost plugin
//! off) is written with `unpriced` from [`gateway_store::is_unpriced`], and `cost_hourly`, the
//! cost report (from the hourly table and from `traces`) and its breakdowns by model, user and
//! session all count exactly the rows the rule marks. Migration 9 brings rows written by the
//! old rule to the new one and rebuilds `cost_hourly`.

#![allow(clippy::unwrap_used)]

mod common;

use gateway_store::query::{CostGroupBy, CostQuery, CostReport, Reader};
use gateway_store::{Pricing, SpanRow, Store, StoreOptions, TraceRow, is_unpriced};
use std::collections::BTreeMap;
use std::time::Duration;

const HOUR: i64 = 3_600_000_000_000;
/// 2026-11-02T00:00:00Z.
const T0: i64 = 1_793_577_600 * 1_000_000_000;

/// What a request's root span says, and the row the writer makes of it.
struct Kind {
    name: &'static str,
    operation: &'static str,
    model: &'static str,
    status: &'static str,
    metering: &'static str,
    usage: Option<(i64, i64)>,
    cost: Option<f64>,
    flagged: bool,
    user: &'static str,
}

const KINDS: [Kind; 8] = [
    Kind {
        name: "priced",
        operation: "generate_content",
        model: "gemini-2.5-flash",
        status: "ok",
        metering: "metered",
        usage: Some((100, 40)),
        cost: Some(0.0025),
        flagged: false,
        user: "u1",
    },
    Kind {
        name: "flagged: no price for the model",
        operation: "generate_content",
        model: "mystery-model",
        status: "ok",
        metering: "metered",
        usage: Some((10, 4)),
        cost: None,
        flagged: true,
        user: "u1",
    },
    Kind {
        name: "deferred: an Interactions background create",
        operation: "invoke_agent",
        model: "gemini-2.5-flash",
        status: "ok",
        metering: "deferred",
        usage: None,
        cost: None,
        flagged: false,
        user: "u2",
    },
    Kind {
        name: "failed before any usage (no response)",
        operation: "generate_content",
        model: "gemini-2.5-flash",
        status: "error",
        metering: "metered",
        usage: None,
        cost: None,
        flagged: false,
        user: "u2",
    },
    Kind {
        name: "cancelled before its usage",
        operation: "chat",
        model: "mystery-model",
        status: "cancelled",
        metering: "metered",
        usage: None,
        cost: None,
        flagged: true,
        user: "u2",
    },
    Kind {
        name: "free countTokens",
        operation: "count_tokens",
        model: "gemini-2.5-flash",
        status: "ok",
        metering: "free",
        usage: Some((50, 0)),
        cost: Some(0.0),
        flagged: false,
        user: "u3",
    },
    Kind {
        name: "invoke_agent without a price",
        operation: "invoke_agent",
        model: "deep-research-agent",
        status: "ok",
        metering: "metered",
        usage: Some((700, 300)),
        cost: None,
        flagged: true,
        user: "u3",
    },
    Kind {
        name: "usage with the cost plugin off",
        operation: "embeddings",
        model: "gemini-embedding-001",
        status: "ok",
        metering: "metered",
        usage: Some((12, 0)),
        cost: None,
        flagged: false,
        user: "u3",
    },
];

/// Which kinds the rule marks unpriced (by name, to read the failures).
const UNPRICED: [&str; 3] = [
    "flagged: no price for the model",
    "invoke_agent without a price",
    "usage with the cost plugin off",
];

fn tid(i: usize) -> String {
    format!("{:032x}", i + 1)
}

fn pricing(k: &Kind) -> Pricing<'_> {
    Pricing {
        flagged: k.flagged,
        cost_usd: k.cost,
        has_usage: k.usage.is_some(),
        metering: Some(k.metering),
        status: k.status,
    }
}

/// The trace rows, `copies` of each kind spread over three hours (every 20 minutes), with
/// their gateway root spans (which carry `gateway.metering`, read by migration 9).
fn rows(copies: usize) -> (Vec<SpanRow>, Vec<TraceRow>) {
    let (mut spans, mut traces) = (Vec::new(), Vec::new());
    for c in 0..copies {
        for (j, k) in KINDS.iter().enumerate() {
            let i = c * KINDS.len() + j;
            let start = T0 + HOUR + i as i64 * HOUR / 3 / KINDS.len() as i64;
            let mut attrs = serde_json::json!({
                "gateway.status": k.status,
                "gateway.metering": k.metering,
                "gen_ai.operation.name": k.operation,
            });
            if k.flagged {
                attrs["gateway.cost.unpriced"] = true.into();
            }
            spans.push(SpanRow {
                name: format!("POST {}", k.operation),
                start_time_unix_nano: start,
                end_time_unix_nano: start + 1_000_000,
                attributes_json: attrs.to_string(),
                ..common::span(&tid(i), &format!("{:016x}", i + 1), None, "server")
            });
            traces.push(TraceRow {
                trace_id: tid(i),
                start_time_unix_nano: start,
                end_time_unix_nano: start + 1_000_000,
                model: Some(k.model.into()),
                operation: Some(k.operation.into()),
                status: k.status.into(),
                input_tokens: k.usage.map(|u| u.0),
                output_tokens: k.usage.map(|u| u.1),
                cost_usd: k.cost,
                unpriced: is_unpriced(&pricing(k)),
                user_id: Some(k.user.into()),
                session_id: Some(format!("s{}", c % 2)),
                ..TraceRow::default()
            });
        }
    }
    (spans, traces)
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path().join("g.db"), &StoreOptions::default()).unwrap()
}

fn reader(dir: &tempfile::TempDir) -> Reader {
    Reader::open(dir.path().join("g.db"), Duration::from_secs(5)).unwrap()
}

fn report(r: &Reader, since: i64, until: i64, by: CostGroupBy) -> CostReport {
    r.cost(&CostQuery {
        since,
        until,
        bucket_ns: HOUR,
        group_by: Some(by),
        model: None,
    })
    .unwrap()
}

/// Unpriced traces per group key, computed from the rows.
fn expected_by(traces: &[TraceRow], key: impl Fn(&TraceRow) -> String) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for t in traces {
        *out.entry(key(t)).or_default() += u64::from(t.unpriced);
    }
    out
}

fn got_by(rep: &CostReport) -> BTreeMap<String, u64> {
    rep.groups
        .iter()
        .map(|g| (g.key.clone().unwrap_or_default(), g.unpriced))
        .collect()
}

fn hourly_unpriced(store: &Store) -> i64 {
    store
        .connection()
        .query_row(
            "SELECT COALESCE(SUM(unpriced), 0) FROM cost_hourly",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// Everything that counts unpriced traces, against the rows.
fn check_counts(dir: &tempfile::TempDir, store: &Store, traces: &[TraceRow]) {
    let want = traces.iter().filter(|t| t.unpriced).count() as u64;
    assert_eq!(hourly_unpriced(store), want as i64, "cost_hourly");
    let r = reader(dir);
    // Whole hours (cost_hourly) and an unaligned window (traces), each with its breakdowns.
    for (since, until) in [(T0, T0 + 6 * HOUR), (T0 + HOUR + 1, T0 + 5 * HOUR - 1)] {
        let rep = report(&r, since, until, CostGroupBy::Model);
        assert_eq!(rep.unpriced_count, want, "total [{since}, {until})");
        let series: u64 = rep.series.iter().map(|p| p.unpriced).sum();
        assert_eq!(series, want, "series [{since}, {until})");
        let model = |t: &TraceRow| t.model.clone().unwrap_or_default();
        assert_eq!(got_by(&rep), expected_by(traces, model), "by model");
        let rep = report(&r, since, until, CostGroupBy::UserId);
        let user = |t: &TraceRow| t.user_id.clone().unwrap_or_default();
        assert_eq!(got_by(&rep), expected_by(traces, user), "by user");
        let rep = report(&r, since, until, CostGroupBy::SessionId);
        let session = |t: &TraceRow| t.session_id.clone().unwrap_or_default();
        assert_eq!(got_by(&rep), expected_by(traces, session), "by session");
    }
}

#[test]
fn the_rule_marks_each_kind_of_request() {
    for k in &KINDS {
        assert_eq!(
            is_unpriced(&pricing(k)),
            UNPRICED.contains(&k.name),
            "{}",
            k.name
        );
    }
}

#[test]
fn every_count_of_unpriced_traces_reads_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let (spans, traces) = rows(4);
    assert_eq!(
        traces.iter().filter(|t| t.unpriced).count(),
        4 * UNPRICED.len()
    );
    // Two batches (the writer's batched aggregates), then a merge into a priced trace of a
    // deferred request (the update trigger): it stays priced.
    let half = traces.len() / 2;
    store.write_batch(&spans[..half], &traces[..half]).unwrap();
    store.write_batch(&spans[half..], &traces[half..]).unwrap();
    let mut merged = traces[0].clone();
    merged.cost_usd = None;
    merged.input_tokens = None;
    merged.output_tokens = None;
    merged.unpriced = is_unpriced(&pricing(&KINDS[2]));
    store.write_batch(&[], &[merged]).unwrap();
    check_counts(&dir, &store, &traces);
    // A deferred or failed call's NULL cost is not $0 either: the model group of priced,
    // deferred and failed calls adds only the priced cost.
    let rep = report(&reader(&dir), T0, T0 + 6 * HOUR, CostGroupBy::Model);
    let flash = rep
        .groups
        .iter()
        .find(|g| g.key.as_deref() == Some("gemini-2.5-flash"))
        .unwrap();
    let priced: f64 = traces
        .iter()
        .filter(|t| t.model.as_deref() == Some("gemini-2.5-flash"))
        .filter_map(|t| t.cost_usd)
        .sum();
    assert!((flash.usd.unwrap() - priced).abs() < 1e-12, "{flash:?}");
}

#[test]
fn migration_9_brings_old_rows_to_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let (spans, traces) = rows(2);
    store.write_batch(&spans, &traces).unwrap();
    // As the writer stored them before: the plugin's flag only (the cancelled call flagged,
    // the usage without a cost not), and cost_hourly counting NULL costs of LLM operations.
    let c = store.connection();
    c.execute(
        "UPDATE traces SET unpriced = (SELECT COALESCE(json_extract(s.attributes,
            '$.\"gateway.cost.unpriced\"'), 0) FROM spans s WHERE s.trace_id = traces.trace_id)",
        [],
    )
    .unwrap();
    c.execute(
        "UPDATE cost_hourly SET unpriced = unpriced + 5 WHERE model = 'gemini-2.5-flash'",
        [],
    )
    .unwrap();
    c.execute_batch(&common::undo_span_lookup()).unwrap();
    c.execute("DELETE FROM gateway_migrations WHERE version >= 9", [])
        .unwrap();
    let flags: i64 = c
        .query_row("SELECT SUM(unpriced) FROM traces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        flags,
        2 * 3,
        "the old flags: flagged, cancelled, invoke_agent"
    );
    drop(store);
    let store = open(&dir);
    let stored: Vec<(String, bool)> = {
        let mut stmt = store
            .connection()
            .prepare("SELECT trace_id, unpriced = 1 FROM traces ORDER BY trace_id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let want: Vec<(String, bool)> = traces
        .iter()
        .map(|t| (t.trace_id.clone(), t.unpriced))
        .collect();
    assert_eq!(stored, want);
    check_counts(&dir, &store, &traces);
}
