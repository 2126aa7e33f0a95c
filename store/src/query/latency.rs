//! Exact latency and time-to-first-token percentiles over a time window.
//!
//! Percentiles use the nearest-rank method. With migration 3 in place the counts per value
//! bucket come from `latency_hist` (whole hours and days) plus the raw rows of the window's
//! partial edges; the values of the bucket holding each wanted rank are then read from the
//! bucket-and-start index of migration 14 and sorted, so the answer is the exact stored value at
//! that rank. Without the aggregates every value of the window is read and sorted.

use super::buckets::{bucket_case, bucket_of};
use super::window::split;
use super::{QueryResult, Reader, nearest_rank, rank};
use rusqlite::params;
use serde::Serialize;
use std::collections::HashMap;

/// The percentiles reported.
const PERCENTILES: [u32; 3] = [50, 95, 99];

/// What to measure.
#[derive(Debug, Clone, Default)]
pub struct LatencyQuery {
    /// Traces starting at or after (unix nanos).
    pub since: i64,
    /// Traces starting before (unix nanos).
    pub until: i64,
    /// Only this model.
    pub model: Option<String>,
    /// Also report each model separately.
    pub group_by_model: bool,
}

/// Percentiles of one group of traces (`null` when the group has no value).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LatencyGroup {
    /// Model of the group; null for traces without a model.
    pub key: Option<String>,
    /// Traces in the group.
    pub count: u64,
    /// Median duration in ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile duration in ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile duration in ms.
    pub p99_ms: Option<f64>,
    /// Traces with a time to first token.
    pub ttft_count: u64,
    /// Median time to first token in ms.
    pub ttft_p50_ms: Option<f64>,
    /// 95th percentile time to first token in ms.
    pub ttft_p95_ms: Option<f64>,
    /// 99th percentile time to first token in ms.
    pub ttft_p99_ms: Option<f64>,
}

/// Percentiles over the whole window, and per model when asked.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LatencyReport {
    /// Traces in the window.
    pub count: u64,
    /// Median duration in ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile duration in ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile duration in ms.
    pub p99_ms: Option<f64>,
    /// Traces with a time to first token.
    pub ttft_count: u64,
    /// Median time to first token in ms.
    pub ttft_p50_ms: Option<f64>,
    /// 95th percentile time to first token in ms.
    pub ttft_p95_ms: Option<f64>,
    /// 99th percentile time to first token in ms.
    pub ttft_p99_ms: Option<f64>,
    /// Per-model percentiles (empty unless grouped), most traces first.
    pub groups: Vec<LatencyGroup>,
}

impl From<LatencyGroup> for LatencyReport {
    fn from(g: LatencyGroup) -> Self {
        Self {
            count: g.count,
            p50_ms: g.p50_ms,
            p95_ms: g.p95_ms,
            p99_ms: g.p99_ms,
            ttft_count: g.ttft_count,
            ttft_p50_ms: g.ttft_p50_ms,
            ttft_p95_ms: g.ttft_p95_ms,
            ttft_p99_ms: g.ttft_p99_ms,
            groups: Vec::new(),
        }
    }
}

/// Buckets per metric (see `buckets`).
const BUCKETS: usize = 461;

/// Counts per bucket of duration (`[0]`) and ttft (`[1]`), dense.
#[derive(Clone)]
struct Hist([Vec<u64>; 2]);

impl Default for Hist {
    fn default() -> Self {
        Self([vec![0; BUCKETS], vec![0; BUCKETS]])
    }
}

impl Hist {
    fn add(&mut self, metric: usize, bucket: i64, n: u64) {
        let b = usize::try_from(bucket).unwrap_or(0).min(BUCKETS - 1);
        self.0[metric][b] += n;
    }

    fn merge(&mut self, other: &Hist) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            mine.iter_mut().zip(theirs).for_each(|(a, b)| *a += b);
        }
    }
}

/// Every value of bucket `?1` in the window, with its model: read in start order from the
/// bucket's part of migration 14's index, whose leading expression this repeats so that SQLite
/// matches it (`INDEXED BY` fails the query if it does not). The bucket is `latency_hist`'s, as
/// `buckets::bucket_of` mirrors it. [`BucketValues`] keeps them for the report's ranks.
const BUCKET_SQL: [&str; 2] = [
    bucket_values_sql!("duration_ms", "traces_duration_bucket", ""),
    bucket_values_sql!("ttft_ms", "traces_ttft_bucket", "ttft_ms IS NOT NULL AND "),
];

/// [`BUCKET_SQL`] for the value column `$col`, through `$index`, with `$and` before the bucket
/// test (the `WHERE` of a partial index).
#[rustfmt::skip]
macro_rules! bucket_values_sql {
    ($col:literal, $index:literal, $and:literal) => {
        concat!(
            "SELECT ", $col, ", COALESCE(model, '') FROM traces INDEXED BY ", $index, "
            WHERE ", $and, bucket_case!($col), " = ?1
              AND start_time_unix_nano >= ?2 AND start_time_unix_nano < ?3
              AND (?4 IS NULL OR COALESCE(model, '') = ?4)"
        )
    };
}
use bucket_values_sql;

/// The values of the buckets a report's ranks fall in, each bucket read once and sorted, with
/// their models (as numbers given in `models`): the overall group and every model's group take
/// their ranks from the same read when they fall in the same bucket.
#[derive(Default)]
struct BucketValues {
    models: HashMap<String, u32>,
    buckets: HashMap<(usize, i64), Vec<(f64, u32)>>,
}

impl BucketValues {
    /// The `offset`-th smallest value (0-based) of bucket `b` of `metric` in the window, among
    /// the traces of `model` (all of the query's when `None`).
    fn value(
        &mut self,
        r: &Reader,
        q: &LatencyQuery,
        (metric, b): (usize, i64),
        model: Option<&str>,
        offset: u64,
    ) -> QueryResult<Option<f64>> {
        if !self.buckets.contains_key(&(metric, b)) {
            let mut stmt = r
                .conn
                .prepare_cached(BUCKET_SQL[metric])
                .map_err(|e| r.err(e))?;
            let mut rows = stmt
                .query(params![b, q.since, q.until, q.model])
                .map_err(|e| r.err(e))?;
            let mut values = Vec::new();
            while let Some(row) = rows.next().map_err(|e| r.err(e))? {
                let v: f64 = row.get(0).map_err(|e| r.err(e))?;
                let m = row.get_ref(1).map_err(|e| r.err(e))?;
                let m = m.as_str().map_err(|e| r.err(e.into()))?;
                let next = self.models.len() as u32;
                let id = match self.models.get(m) {
                    Some(&id) => id,
                    None => *self.models.entry(m.to_owned()).or_insert(next),
                };
                values.push((v, id));
            }
            values.sort_by(|x, y| x.0.total_cmp(&y.0));
            self.buckets.insert((metric, b), values);
        }
        let id = match model {
            None => None,
            Some(m) => match self.models.get(m) {
                Some(&id) => Some(id),
                None => return Ok(None),
            },
        };
        let values = self
            .buckets
            .get(&(metric, b))
            .map_or(&[][..], Vec::as_slice);
        Ok(values
            .iter()
            .filter(|(_, m)| id.is_none_or(|id| *m == id))
            .nth(usize::try_from(offset).unwrap_or(usize::MAX))
            .map(|(v, _)| *v))
    }
}

const RAW_SQL: &str = "SELECT COALESCE(model, ''), duration_ms, ttft_ms FROM traces
    WHERE start_time_unix_nano >= ?1 AND start_time_unix_nano < ?2
      AND (?3 IS NULL OR COALESCE(model, '') = ?3)";

impl Reader {
    /// Exact nearest-rank percentiles of duration and TTFT for traces in the window.
    pub fn latency(&self, q: &LatencyQuery) -> QueryResult<LatencyReport> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let report = if self.has_table("latency_hist")? {
            self.latency_from_hist(q)
        } else {
            self.latency_by_scan(q)
        };
        drop(tx);
        report
    }

    fn latency_from_hist(&self, q: &LatencyQuery) -> QueryResult<LatencyReport> {
        let mut by_model: HashMap<String, Hist> = HashMap::new();
        let parts = split(q.since, q.until, true);
        let ranges = parts
            .hours
            .iter()
            .map(|r| (0, r))
            .chain(parts.days.iter().map(|r| (1, r)));
        // Rows are folded here rather than by GROUP BY: a temp B-tree costs more than the loop.
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT model, metric, bucket, n FROM latency_hist
                 WHERE width = ?1 AND t >= ?2 AND t < ?3 AND (?4 IS NULL OR model = ?4)",
            )
            .map_err(|e| self.err(e))?;
        for (width, (lo, hi)) in ranges {
            let mut rows = stmt
                .query(params![width, lo, hi, q.model])
                .map_err(|e| self.err(e))?;
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let row = (|| {
                    // Without grouping, one histogram: a window of many distinct models
                    // must not cost a 7 KiB histogram each.
                    let model = match q.group_by_model {
                        true => r.get_ref(0)?.as_str().unwrap_or(""),
                        false => "",
                    };
                    let (metric, bucket, n): (i64, i64, i64) = (r.get(1)?, r.get(2)?, r.get(3)?);
                    if n > 0 && (0..2).contains(&metric) {
                        let hist = match by_model.get_mut(model) {
                            Some(h) => h,
                            None => by_model.entry(model.to_owned()).or_default(),
                        };
                        hist.add(metric as usize, bucket, n as u64);
                    }
                    Ok::<_, rusqlite::Error>(())
                })();
                row.map_err(|e| self.err(e))?;
            }
        }
        for &(a, b) in &parts.raw {
            self.raw_values(a, b, q.model.as_deref(), |model, metric, v| {
                let model = if q.group_by_model { model } else { "" };
                let hist = match by_model.get_mut(model) {
                    Some(h) => h,
                    None => by_model.entry(model.to_owned()).or_default(),
                };
                hist.add(metric, bucket_of(v), 1);
            })?;
        }
        let mut overall = Hist::default();
        by_model.values().for_each(|h| overall.merge(h));
        let mut values = BucketValues::default();
        let mut report: LatencyReport = self
            .group_from_hist(q, q.model.as_deref(), &overall, &mut values)?
            .into();
        if q.group_by_model {
            for (model, hist) in &by_model {
                let mut g = self.group_from_hist(q, Some(model), hist, &mut values)?;
                g.key = Some(model.clone()).filter(|m| !m.is_empty());
                report.groups.push(g);
            }
            sort_groups(&mut report.groups);
        }
        Ok(report)
    }

    fn group_from_hist(
        &self,
        q: &LatencyQuery,
        model: Option<&str>,
        hist: &Hist,
        values: &mut BucketValues,
    ) -> QueryResult<LatencyGroup> {
        let mut out = [[None; 3]; 2];
        let mut counts = [0u64; 2];
        for metric in 0..2 {
            let n: u64 = hist.0[metric].iter().sum();
            counts[metric] = n;
            for (i, p) in PERCENTILES.iter().enumerate() {
                let Some(k) = rank(n, *p) else { continue };
                let mut below = 0u64;
                for (b, &c) in hist.0[metric].iter().enumerate() {
                    if below + c >= k {
                        let at = (metric, b as i64);
                        out[metric][i] = values.value(self, q, at, model, k - below - 1)?;
                        break;
                    }
                    below += c;
                }
            }
        }
        Ok(group(model, counts, out))
    }

    fn raw_values(
        &self,
        since: i64,
        until: i64,
        model: Option<&str>,
        mut f: impl FnMut(&str, usize, f64),
    ) -> QueryResult<()> {
        let mut stmt = self.conn.prepare_cached(RAW_SQL).map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![since, until, model])
            .map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let model: String = r.get(0).map_err(|e| self.err(e))?;
            f(&model, 0, r.get(1).map_err(|e| self.err(e))?);
            if let Some(t) = r.get::<_, Option<f64>>(2).map_err(|e| self.err(e))? {
                f(&model, 1, t);
            }
        }
        Ok(())
    }

    /// The same report from every raw value of the window (no aggregates needed).
    pub(crate) fn latency_by_scan(&self, q: &LatencyQuery) -> QueryResult<LatencyReport> {
        let mut by_model: HashMap<String, [Vec<f64>; 2]> = HashMap::new();
        self.raw_values(q.since, q.until, q.model.as_deref(), |model, metric, v| {
            by_model.entry(model.to_owned()).or_default()[metric].push(v);
        })?;
        let mut overall: [Vec<f64>; 2] = Default::default();
        for values in by_model.values_mut() {
            for (metric, v) in values.iter_mut().enumerate() {
                v.sort_by(f64::total_cmp);
                overall[metric].extend_from_slice(v);
            }
        }
        let mut report: LatencyReport = group_from_values(q.model.as_deref(), &mut overall).into();
        if q.group_by_model {
            for (model, values) in &mut by_model {
                let mut g = group_from_values(Some(model), values);
                g.key = Some(model.clone()).filter(|m| !m.is_empty());
                report.groups.push(g);
            }
            sort_groups(&mut report.groups);
        }
        Ok(report)
    }
}

fn group_from_values(model: Option<&str>, values: &mut [Vec<f64>; 2]) -> LatencyGroup {
    let mut out = [[None; 3]; 2];
    for (metric, v) in values.iter_mut().enumerate() {
        v.sort_by(f64::total_cmp);
        for (i, p) in PERCENTILES.iter().enumerate() {
            out[metric][i] = nearest_rank(v, *p);
        }
    }
    group(model, [values[0].len() as u64, values[1].len() as u64], out)
}

fn group(model: Option<&str>, counts: [u64; 2], p: [[Option<f64>; 3]; 2]) -> LatencyGroup {
    LatencyGroup {
        key: model.filter(|m| !m.is_empty()).map(str::to_owned),
        count: counts[0],
        p50_ms: p[0][0],
        p95_ms: p[0][1],
        p99_ms: p[0][2],
        ttft_count: counts[1],
        ttft_p50_ms: p[1][0],
        ttft_p95_ms: p[1][1],
        ttft_p99_ms: p[1][2],
    }
}

fn sort_groups(groups: &mut [LatencyGroup]) {
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
}
