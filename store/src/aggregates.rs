//! Batched maintenance of the read-side aggregates (`latency_hist`, `cost_hourly`) for newly
//! inserted traces.
//!
//! Migration 3 kept them with a trigger per inserted row: five B-tree upserts per trace, the
//! largest single cost of the writer. The writer now adds a batch's new traces up in memory and
//! applies one upsert per distinct (hour/day, model, bucket) instead, with exactly the values the
//! triggers compute (`unpriced` counts `traces.unpriced = 1` only, as migration 9's triggers
//! do). Merges (update) and retention (delete) keep their triggers: they are rare.

use crate::TraceRow;
use crate::query::buckets::bucket_of;
use rusqlite::{Transaction, params};
// foldhash rather than std's SipHash: the keys are the writer's own, hashed for every trace.
use foldhash::HashMap;

const HOUR_NS: i64 = 3_600_000_000_000;
const DAY_NS: i64 = 86_400_000_000_000;

const UPSERT_HIST: &str = "INSERT INTO latency_hist (width, t, model, metric, bucket, n)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)
    ON CONFLICT (width, t, model, metric, bucket) DO UPDATE SET n = n + excluded.n";
const UPSERT_COST: &str = "INSERT INTO cost_hourly (t, model, requests, priced, unpriced,
    input_tokens, output_tokens, usd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
    ON CONFLICT (t, model) DO UPDATE SET requests = requests + excluded.requests,
        priced = priced + excluded.priced, unpriced = unpriced + excluded.unpriced,
        input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens, usd = usd + excluded.usd";

#[derive(Default)]
struct CostSum {
    requests: i64,
    priced: i64,
    unpriced: i64,
    input: i64,
    output: i64,
    usd: f64,
}

/// Aggregates of the traces inserted by one batch.
#[derive(Default)]
pub(crate) struct Pending {
    hist: HashMap<(i64, i64, String, i64, i64), i64>,
    cost: HashMap<(i64, String), CostSum>,
}

impl Pending {
    /// Counts a trace row that was inserted (not merged).
    pub(crate) fn add(&mut self, t: &TraceRow) {
        let model = t.model.clone().unwrap_or_default();
        let values = [(0, Some(t.duration_ms())), (1, t.ttft_ms)];
        for (width, ns) in [(0, HOUR_NS), (1, DAY_NS)] {
            for (metric, v) in values {
                if let Some(v) = v {
                    let key = (
                        width,
                        t.start_time_unix_nano / ns,
                        model.clone(),
                        metric,
                        bucket_of(v),
                    );
                    *self.hist.entry(key).or_default() += 1;
                }
            }
        }
        let c = self
            .cost
            .entry((t.start_time_unix_nano / HOUR_NS, model))
            .or_default();
        c.requests += 1;
        c.priced += i64::from(t.cost_usd.is_some());
        c.unpriced += i64::from(t.unpriced); // Decided by the writer (`crate::unpriced`).
        c.input += t.input_tokens.unwrap_or(0);
        c.output += t.output_tokens.unwrap_or(0);
        c.usd += t.cost_usd.unwrap_or(0.0);
    }

    /// Applies the sums inside the batch's transaction.
    pub(crate) fn apply(self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        let mut hist = tx.prepare_cached(UPSERT_HIST)?;
        for ((width, t, model, metric, bucket), n) in self.hist {
            hist.execute(params![width, t, model, metric, bucket, n])?;
        }
        let mut cost = tx.prepare_cached(UPSERT_COST)?;
        for ((t, model), c) in self.cost {
            cost.execute(params![
                t, model, c.requests, c.priced, c.unpriced, c.input, c.output, c.usd
            ])?;
        }
        Ok(())
    }
}
