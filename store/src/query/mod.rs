//! The read side: every query the API runs, on a [`Reader`] connection.
//!
//! A [`Reader`] never creates the database file and runs with `PRAGMA query_only`, so it can sit
//! next to the gateway's writer on the same WAL file without ever blocking it. It never
//! creates, alters or counts a table the gateway does not own (the drift detector's table is
//! only read, through the `[drift]` mapping).
//!
//! Result types derive `serde::Serialize` (and `utoipa::ToSchema` with the `openapi` feature) so
//! the API can return them as they are. Percentiles are exact, by the nearest-rank method: the
//! p-th percentile of `n` values is the value of rank `ceil(p * n / 100)` in ascending order.

pub(crate) mod buckets;
mod cache_storage;
mod cost;
mod drift;
mod drift_units;
mod latency;
mod live;
mod metered;
mod models;
pub mod money;
mod reader;
pub mod seed;
mod sessions;
mod snapshots;
mod traces;
mod window;

#[cfg(test)]
mod tests;

pub use cache_storage::{CacheStorageCost, CacheStorageModel};
pub use cost::{CostGroup, CostGroupBy, CostPoint, CostQuery, CostReport};
pub use drift::{
    CORRELATION_SQL as DRIFT_CORRELATION_SQL, DriftCorrelation, DriftQuery, DriftReport,
    DriftSnapshot, WorstTrace,
};
pub use latency::{LatencyGroup, LatencyQuery, LatencyReport};
pub use live::LiveStats;
pub use metered::{MeteredIds, OnceKind};
pub use reader::{QueryError, QueryResult, Reader};
pub use sessions::{
    MAX_CHAIN_LOOKUPS, MAX_CHAIN_TRACES, MAX_SESSION_TRACES, SessionKind, SessionPage,
    SessionQuery, SessionTotals, SessionTrace,
};
pub use snapshots::{MetricSnapshot, SnapshotFilter};
pub use traces::{Cursor, SpanRecord, TraceFilter, TracePage, TraceSummary};

/// Operations whose missing cost means "unpriced" rather than "free".
pub const LLM_OPERATIONS: [&str; 4] = ["generate_content", "chat", "embeddings", "invoke_agent"];

/// Nanoseconds in an hour.
pub const HOUR_NS: i64 = 3_600_000_000_000;
/// Nanoseconds in a day.
pub const DAY_NS: i64 = 24 * HOUR_NS;

/// The nearest-rank percentile of sorted values: rank `ceil(p * n / 100)`, 1-based.
pub fn nearest_rank(sorted: &[f64], p: u32) -> Option<f64> {
    let k = rank(sorted.len() as u64, p)?;
    sorted.get(k as usize - 1).copied()
}

/// The 1-based nearest rank of percentile `p` among `n` values (`None` when `n` is 0).
pub(crate) fn rank(n: u64, p: u32) -> Option<u64> {
    if n == 0 {
        return None;
    }
    let k = (u64::from(p) * n).div_ceil(100);
    Some(k.clamp(1, n))
}
