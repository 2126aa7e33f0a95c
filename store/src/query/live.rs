//! The rolling numbers of the live feed: cost today and in the last hour, percentiles and
//! request counts of the last hour.

use super::{CostQuery, DAY_NS, HOUR_NS, LatencyQuery, QueryResult, Reader};
use serde::Serialize;

/// Rolling statistics at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveStats {
    /// When they were computed, unix nanos.
    pub at_unix_nano: i64,
    /// Traces that started in the last hour.
    pub requests_last_hour: u64,
    /// Of those, traces whose status is not `ok`.
    pub errors_last_hour: u64,
    /// Traces that started since midnight UTC.
    pub requests_today: u64,
    /// Cost of the priced traces of the last hour, USD.
    #[serde(serialize_with = "super::money::usd")]
    pub cost_last_hour_usd: f64,
    /// Cost of the priced traces since midnight UTC, USD.
    #[serde(serialize_with = "super::money::usd")]
    pub cost_today_usd: f64,
    /// Unpriced traces of the last hour.
    pub unpriced_last_hour: u64,
    /// Unpriced traces since midnight UTC.
    pub unpriced_today: u64,
    /// Median duration of the last hour, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile duration of the last hour, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile duration of the last hour, ms.
    pub p99_ms: Option<f64>,
    /// Median time to first token of the last hour, ms.
    pub ttft_p50_ms: Option<f64>,
    /// 95th percentile time to first token of the last hour, ms.
    pub ttft_p95_ms: Option<f64>,
    /// 99th percentile time to first token of the last hour, ms.
    pub ttft_p99_ms: Option<f64>,
}

impl Reader {
    /// The live statistics as of `now` (unix nanos).
    pub fn live_stats(&self, now: i64) -> QueryResult<LiveStats> {
        let until = now.saturating_add(1);
        let hour_ago = now - HOUR_NS;
        let midnight = now.div_euclid(DAY_NS) * DAY_NS;
        let cost = |since: i64, bucket_ns: i64| {
            self.cost(&CostQuery {
                since,
                until,
                bucket_ns,
                group_by: None,
                model: None,
            })
        };
        let today = cost(midnight, DAY_NS)?;
        let hour = cost(hour_ago, HOUR_NS)?;
        let lat = self.latency(&LatencyQuery {
            since: hour_ago,
            until,
            model: None,
            group_by_model: false,
        })?;
        let errors: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM traces WHERE start_time_unix_nano >= ?1
                 AND start_time_unix_nano < ?2 AND status <> 'ok'",
            )
            .and_then(|mut s| s.query_row([hour_ago, until], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        Ok(LiveStats {
            at_unix_nano: now,
            requests_last_hour: hour.requests,
            errors_last_hour: errors.max(0) as u64,
            requests_today: today.requests,
            cost_last_hour_usd: hour.total_usd,
            cost_today_usd: today.total_usd,
            unpriced_last_hour: hour.unpriced_count,
            unpriced_today: today.unpriced_count,
            p50_ms: lat.p50_ms,
            p95_ms: lat.p95_ms,
            p99_ms: lat.p99_ms,
            ttft_p50_ms: lat.ttft_p50_ms,
            ttft_p95_ms: lat.ttft_p95_ms,
            ttft_p99_ms: lat.ttft_p99_ms,
        })
    }
}
