//! The writer's batched aggregates equal what the migration's per-row triggers computed:
//! `latency_hist` and `cost_hourly` are recomputed from `traces` with the same expressions,
//! after batches that mix inserts with merges (same trace in one batch and across batches).

#![allow(clippy::unwrap_used)]

use gateway_store::{Store, StoreOptions, TraceRow};

fn row(
    id: u32,
    start: i64,
    dur_ms: i64,
    ttft: Option<f64>,
    model: &str,
    cost: Option<f64>,
) -> TraceRow {
    TraceRow {
        trace_id: format!("{id:032x}"),
        start_time_unix_nano: start,
        end_time_unix_nano: start + dur_ms * 1_000_000 + 123_456,
        model: (!model.is_empty()).then(|| model.to_owned()),
        operation: Some("generate_content".into()),
        status: "ok".into(),
        input_tokens: Some(10),
        output_tokens: Some(20),
        ttft_ms: ttft,
        cost_usd: cost,
        unpriced: cost.is_none(),
        ..TraceRow::default()
    }
}

const EXPECTED_HIST: &str = "
    SELECT w.width, v.s / w.ns, v.m, v.metric, CASE WHEN v.ms < 100 THEN MAX(v.ms, 0)
        WHEN v.ms < 1000 THEN 90 + v.ms / 10 WHEN v.ms < 10000 THEN 180 + v.ms / 100
        WHEN v.ms < 100000 THEN 270 + v.ms / 1000 WHEN v.ms < 1000000 THEN 360 + v.ms / 10000
        ELSE 460 END AS b, COUNT(*)
    FROM (SELECT start_time_unix_nano AS s, COALESCE(model, '') AS m, 0 AS metric, CAST(duration_ms AS INTEGER) AS ms FROM traces
          UNION ALL SELECT start_time_unix_nano, COALESCE(model, ''), 1, CAST(ttft_ms AS INTEGER) FROM traces WHERE ttft_ms IS NOT NULL) AS v,
         (SELECT 0 AS width, 3600000000000 AS ns UNION ALL SELECT 1, 86400000000000) AS w
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5";
const ACTUAL_HIST: &str = "SELECT width, t, model, metric, bucket, n FROM latency_hist WHERE n != 0 ORDER BY 1, 2, 3, 4, 5";
const EXPECTED_COST: &str = "
    SELECT start_time_unix_nano / 3600000000000, COALESCE(model, ''), COUNT(*), SUM(cost_usd IS NOT NULL),
        SUM(unpriced = 1),
        SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)), ROUND(SUM(COALESCE(cost_usd, 0.0)), 9)
    FROM traces GROUP BY 1, 2 ORDER BY 1, 2";
const ACTUAL_COST: &str =
    "SELECT t, model, requests, priced, unpriced, input_tokens, output_tokens, ROUND(usd, 9)
    FROM cost_hourly WHERE requests != 0 ORDER BY 1, 2";

fn rows(store: &Store, sql: &str) -> Vec<Vec<String>> {
    let mut stmt = store.connection().prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
            .collect::<Vec<_>>())
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn batched_aggregates_match_a_recomputation() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("a.db"), &StoreOptions::default()).unwrap();
    let hour = 3_600_000_000_000i64;
    let mut batch = Vec::new();
    for i in 0..300u32 {
        let model = ["gemini-2.5-flash", "gemini-2.5-pro", ""][i as usize % 3];
        let dur = [5, 150, 2_500, 45_000, 700_000, 3_000_000][i as usize % 6];
        let ttft = (i % 2 == 0).then_some(f64::from(i % 97) * 13.7);
        let cost = (i % 5 != 0).then_some(f64::from(i) * 1e-6);
        batch.push(row(i, i64::from(i) * hour / 7, dur, ttft, model, cost));
        if i % 50 == 49 {
            store.write_batch(&[], &batch).unwrap();
            batch.clear();
        }
    }
    // Merges: the same trace twice in one batch, and again in a later batch.
    let merge = vec![
        row(1000, 5 * hour, 30, Some(4.0), "gemini-2.5-pro", Some(0.5)),
        row(1000, 5 * hour + 10, 900, None, "gemini-2.5-pro", Some(0.25)),
        row(7, 9 * hour, 12_000, Some(1.0), "", None),
    ];
    store.write_batch(&[], &merge).unwrap();
    store
        .write_batch(
            &[],
            &[row(1000, 4 * hour, 1, None, "gemini-2.5-pro", Some(1.0))],
        )
        .unwrap();

    assert_eq!(rows(&store, ACTUAL_HIST), rows(&store, EXPECTED_HIST));
    assert_eq!(rows(&store, ACTUAL_COST), rows(&store, EXPECTED_COST));
    let n: i64 = store
        .connection()
        .query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 301);
}
