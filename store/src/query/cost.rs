//! Cost and token totals over a window: per group and as a time series.
//!
//! A trace is *unpriced* when `traces.unpriced = 1`, the writer's verdict by the one rule of
//! [`crate::is_unpriced`]; nothing else (a NULL cost of a deferred, free or failed call) counts.
//! Unpriced traces add nothing to `usd` and are counted apart; a group made only of unpriced
//! traces has a null `usd`, never `0`.
//!
//! Whole hours come from `cost_hourly` when the bucket is a whole number of hours; the partial
//! edges, other buckets, and groups by user or session are read from `traces`.

use super::window::split;
use super::{HOUR_NS, QueryResult, Reader};
use rusqlite::params;
use serde::Serialize;
use std::collections::HashMap;

/// How to group the cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostGroupBy {
    /// By `traces.model`.
    Model,
    /// By `traces.user_id`.
    UserId,
    /// By `traces.session_id`.
    SessionId,
}

/// What to add up.
#[derive(Debug, Clone)]
pub struct CostQuery {
    /// Traces starting at or after (unix nanos).
    pub since: i64,
    /// Traces starting before (unix nanos).
    pub until: i64,
    /// Width of a series point in nanos (points start at multiples of it since the epoch).
    pub bucket_ns: i64,
    /// Grouping of `groups` (none: `groups` is empty).
    pub group_by: Option<CostGroupBy>,
    /// Only this model.
    pub model: Option<String>,
}

/// Totals of one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CostGroup {
    /// The model, user or session; null for traces without one.
    pub key: Option<String>,
    /// Cost of the priced traces in USD; null when every trace of the group is unpriced.
    #[serde(serialize_with = "super::money::opt_usd")]
    pub usd: Option<f64>,
    /// Traces.
    pub requests: u64,
    /// Unpriced traces (not included in `usd`).
    pub unpriced: u64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
}

/// One point of the series.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CostPoint {
    /// Start of the bucket, unix nanos.
    pub t: i64,
    /// Cost of the priced traces in the bucket.
    #[serde(serialize_with = "super::money::usd")]
    pub usd: f64,
    /// Traces in the bucket.
    pub requests: u64,
    /// Unpriced traces in the bucket.
    pub unpriced: u64,
}

/// Cost over a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CostReport {
    /// Cost of the priced traces in USD.
    #[serde(serialize_with = "super::money::usd")]
    pub total_usd: f64,
    /// Traces in the window.
    pub requests: u64,
    /// Unpriced traces (not included in `total_usd`).
    pub unpriced_count: u64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Per-group totals, costliest first (at most 100).
    pub groups: Vec<CostGroup>,
    /// One point per bucket, oldest first, empty buckets included.
    pub series: Vec<CostPoint>,
    /// Context-cache storage accrued in the window: a line of its own, not in `total_usd`.
    pub cache_storage: super::CacheStorageCost,
}

/// Running totals.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    requests: i64,
    priced: i64,
    unpriced: i64,
    input: i64,
    output: i64,
    usd: f64,
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.requests += o.requests;
        self.priced += o.priced;
        self.unpriced += o.unpriced;
        self.input += o.input;
        self.output += o.output;
        self.usd += o.usd;
    }

    fn group(&self, key: Option<String>) -> CostGroup {
        // Null only when every trace is unpriced: a free call (countTokens, $0) or a deferred
        // one (billed on a later trace) adds a known nothing, so it keeps a group priced.
        let all_unpriced = self.requests > 0 && self.unpriced >= self.requests;
        CostGroup {
            key: key.filter(|k| !k.is_empty()),
            usd: (!all_unpriced).then_some(self.usd.max(0.0)),
            requests: self.requests.max(0) as u64,
            unpriced: self.unpriced.max(0) as u64,
            input_tokens: self.input,
            output_tokens: self.output,
        }
    }
}

const MAX_GROUPS: usize = 100;

impl Reader {
    /// Cost, tokens and unpriced counts in the window, grouped and bucketed.
    pub fn cost(&self, q: &CostQuery) -> QueryResult<CostReport> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let bucket = q.bucket_ns.max(1);
        let first = q.since.max(0).div_euclid(bucket) * bucket;
        let n_points = if q.until > first {
            (q.until - first - 1) / bucket + 1
        } else {
            0
        };
        let mut series = vec![Acc::default(); n_points as usize];
        let mut by_model: HashMap<String, Acc> = HashMap::new();
        let mut add = |start: i64, model: String, a: &Acc| {
            if let Some(p) = series.get_mut(((start - first) / bucket) as usize) {
                p.add(a);
            }
            by_model.entry(model).or_default().add(a);
        };
        let hourly = bucket % HOUR_NS == 0 && self.has_table("cost_hourly")?;
        let parts = if hourly {
            split(q.since, q.until, false)
        } else {
            super::window::Split {
                raw: vec![(q.since, q.until)],
                ..Default::default()
            }
        };
        for &(lo, hi) in &parts.hours {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT t, model, requests, priced, unpriced, input_tokens, output_tokens, usd
                     FROM cost_hourly WHERE t >= ?1 AND t < ?2 AND (?3 IS NULL OR model = ?3)",
                )
                .map_err(|e| self.err(e))?;
            let mut rows = stmt
                .query(params![lo, hi, q.model])
                .map_err(|e| self.err(e))?;
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let g = |i| r.get::<_, i64>(i);
                let acc = (|| {
                    Ok::<_, rusqlite::Error>(Acc {
                        requests: g(2)?,
                        priced: g(3)?,
                        unpriced: g(4)?,
                        input: g(5)?,
                        output: g(6)?,
                        usd: r.get(7)?,
                    })
                })()
                .map_err(|e| self.err(e))?;
                let t: i64 = r.get(0).map_err(|e| self.err(e))?;
                add(t * HOUR_NS, r.get(1).map_err(|e| self.err(e))?, &acc);
            }
        }
        for &(lo, hi) in &parts.raw {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT start_time_unix_nano, COALESCE(model, ''), cost_usd, unpriced,
                        input_tokens, output_tokens FROM traces
                     WHERE start_time_unix_nano >= ?1 AND start_time_unix_nano < ?2
                       AND (?3 IS NULL OR COALESCE(model, '') = ?3)",
                )
                .map_err(|e| self.err(e))?;
            let mut rows = stmt
                .query(params![lo, hi, q.model])
                .map_err(|e| self.err(e))?;
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let row = (|| {
                    let cost: Option<f64> = r.get(2)?;
                    let unpriced = r.get::<_, i64>(3)? == 1;
                    let acc = Acc {
                        requests: 1,
                        priced: i64::from(cost.is_some()),
                        unpriced: i64::from(unpriced),
                        input: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                        output: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
                        usd: cost.unwrap_or(0.0),
                    };
                    Ok::<_, rusqlite::Error>((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, acc))
                })()
                .map_err(|e| self.err(e))?;
                add(row.0, row.1, &row.2);
            }
        }
        let mut total = Acc::default();
        by_model.values().for_each(|a| total.add(a));
        let groups = match q.group_by {
            None => Vec::new(),
            Some(CostGroupBy::Model) => by_model
                .into_iter()
                .map(|(k, a)| a.group(Some(k)))
                .collect(),
            Some(other) => self.cost_groups_raw(q, other)?,
        };
        let cache_storage = self.cache_storage(q.since, q.until, q.model.as_deref())?;
        drop(tx);
        Ok(CostReport {
            total_usd: total.usd.max(0.0),
            requests: total.requests.max(0) as u64,
            unpriced_count: total.unpriced.max(0) as u64,
            input_tokens: total.input,
            output_tokens: total.output,
            groups: top_groups(groups),
            series: series
                .iter()
                .enumerate()
                .map(|(i, a)| CostPoint {
                    t: first + i as i64 * bucket,
                    usd: a.usd.max(0.0),
                    requests: a.requests.max(0) as u64,
                    unpriced: a.unpriced.max(0) as u64,
                })
                .collect(),
            cache_storage,
        })
    }

    fn cost_groups_raw(&self, q: &CostQuery, by: CostGroupBy) -> QueryResult<Vec<CostGroup>> {
        let sql = match by {
            CostGroupBy::UserId | CostGroupBy::Model => COST_BY_USER,
            CostGroupBy::SessionId => COST_BY_SESSION,
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![q.since, q.until, q.model], |r| {
                let acc = Acc {
                    requests: r.get(1)?,
                    priced: r.get(2)?,
                    unpriced: r.get(3)?,
                    input: r.get(4)?,
                    output: r.get(5)?,
                    usd: r.get(6)?,
                };
                Ok(acc.group(r.get(0)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }
}

macro_rules! cost_by {
    ($col:literal) => {
        concat!(
            "SELECT ",
            $col,
            ", COUNT(*), SUM(cost_usd IS NOT NULL),
                SUM(unpriced = 1),
                SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)),
                SUM(COALESCE(cost_usd, 0.0))
             FROM traces
             WHERE start_time_unix_nano >= ?1 AND start_time_unix_nano < ?2
               AND (?3 IS NULL OR COALESCE(model, '') = ?3)
             GROUP BY ",
            $col
        )
    };
}

const COST_BY_USER: &str = cost_by!("user_id");
const COST_BY_SESSION: &str = cost_by!("session_id");

fn top_groups(mut groups: Vec<CostGroup>) -> Vec<CostGroup> {
    groups.sort_by(|a, b| {
        let (x, y) = (a.usd.unwrap_or(-1.0), b.usd.unwrap_or(-1.0));
        y.total_cmp(&x)
            .then_with(|| b.requests.cmp(&a.requests))
            .then_with(|| a.key.cmp(&b.key))
    });
    groups.truncate(MAX_GROUPS);
    groups
}
