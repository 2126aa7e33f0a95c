//! Context-cache storage over a window: the cost line of its own in the cost report, never
//! folded into the token cost.
//!
//! Each `cache_storage` row is an interval a cache was stored at one TTL (see migration 7). Its
//! cost in a window is `tokens × hours × usd_per_mtok_hour / 1e6`, the hours being the part of
//! `[start, end)` inside the window and before now: storage accrues as time passes, so a TTL of
//! years costs only what has elapsed. An interval without a token count, a rate or an end (a
//! DELETE of a cache whose create was never seen, a model without a storage rate) is counted in
//! `unpriced` and adds nothing; caches whose create the gateway never saw are counted apart.

use super::{HOUR_NS, QueryResult, Reader};
use rusqlite::params;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

/// Storage of one model's caches in the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CacheStorageModel {
    /// The served model; null when unknown.
    pub model: Option<String>,
    /// Storage cost accrued in the window, USD.
    #[serde(serialize_with = "super::money::usd")]
    pub usd: f64,
    /// Token-hours accrued in the window.
    pub token_hours: f64,
    /// Caches stored in the window.
    pub caches: u64,
}

/// Context-cache storage in the window: not included in `total_usd`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CacheStorageCost {
    /// Storage cost accrued in the window (token-hours at each model's storage rate), USD.
    #[serde(serialize_with = "super::money::usd")]
    pub usd: f64,
    /// Token-hours accrued in the window.
    pub token_hours: f64,
    /// Caches stored in the window.
    pub caches: u64,
    /// Storage intervals that cannot be priced (no rate, no token count or no end), not in `usd`.
    pub unpriced: u64,
    /// Caches updated or deleted whose create the gateway never saw.
    pub unseen_creates: u64,
    /// Per model, costliest first.
    pub models: Vec<CacheStorageModel>,
}

const ROWS: &str = "SELECT cache_name, model, tokens, start_unix_nano, end_unix_nano,
        usd_per_mtok_hour, create_seen
    FROM cache_storage
    WHERE start_unix_nano < ?2 AND (end_unix_nano IS NULL OR end_unix_nano >= ?1)
      AND (?3 IS NULL OR COALESCE(model, '') = ?3)";

fn now_unix_nano() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Reader {
    /// Cache storage accrued in `[since, until)` (and before now), for `model` or all.
    pub fn cache_storage(
        &self,
        since: i64,
        until: i64,
        model: Option<&str>,
    ) -> QueryResult<CacheStorageCost> {
        let mut out = CacheStorageCost::default();
        if !self.has_table("cache_storage")? {
            return Ok(out);
        }
        let hi_bound = until.min(now_unix_nano());
        let mut stmt = self.conn.prepare_cached(ROWS).map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![since, until, model])
            .map_err(|e| self.err(e))?;
        let mut names = HashSet::new();
        let mut unseen = HashSet::new();
        let mut by_model: HashMap<Option<String>, (CacheStorageModel, HashSet<String>)> =
            HashMap::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let row = (|| {
                Ok::<_, rusqlite::Error>((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<f64>>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })()
            .map_err(|e| self.err(e))?;
            let (name, model, tokens, start, end, rate, seen) = row;
            if seen == 0 {
                unseen.insert(name.clone());
            }
            let (Some(tokens), Some(end), Some(rate)) = (tokens, end, rate) else {
                out.unpriced += 1;
                continue;
            };
            let lo = start.max(since);
            let hi = end.min(hi_bound);
            if hi <= lo {
                continue;
            }
            let token_hours = tokens as f64 * (hi - lo) as f64 / HOUR_NS as f64;
            let usd = token_hours * rate / 1e6;
            out.usd += usd;
            out.token_hours += token_hours;
            names.insert(name.clone());
            let (m, set) = by_model.entry(model.clone()).or_default();
            m.model = model;
            m.usd += usd;
            m.token_hours += token_hours;
            set.insert(name);
        }
        out.caches = names.len() as u64;
        out.unseen_creates = unseen.len() as u64;
        out.models = by_model
            .into_values()
            .map(|(mut m, set)| {
                m.caches = set.len() as u64;
                m
            })
            .collect();
        out.models
            .sort_by(|a, b| b.usd.total_cmp(&a.usd).then_with(|| a.model.cmp(&b.model)));
        Ok(out)
    }
}
