//! [`PriceBook`]: the checked, dated price table, and lookups of the row in force.

use crate::date::{day_of, format_day};
use crate::row::{Entry, PriceRow};
use crate::{ModelPrice, Tier, resolve};
use std::collections::HashMap;
use std::time::SystemTime;

/// The price table in use: the shipped rows plus the operator's, by base model name. Build it
/// with [`PricingConfig::build`](crate::PricingConfig::build).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceBook {
    pub(crate) models: HashMap<String, Vec<Entry>>,
    pub(crate) aliases: HashMap<String, String>,
}

/// The rates that apply to one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved<'a> {
    /// The table key the model name resolved to.
    pub model: &'a str,
    /// The tier whose rates apply (standard for an unknown tier string).
    pub tier: Tier,
    /// `false` when the tier string was not a known tier (priced as standard).
    pub tier_known: bool,
    /// `true` when the rates are the standard row at 50% (flex or batch without a row).
    pub derived: bool,
    /// `YYYY-MM-DD` from which the row is in force; `None` = always.
    pub effective_from: Option<&'a str>,
    /// Where the row comes from.
    pub source: &'a str,
    /// The row's note.
    pub note: Option<&'a str>,
    /// The rates, already halved when `derived`.
    pub price: ModelPrice,
}

impl PriceBook {
    /// The shipped table alone (empty if it could not be read, which a unit test rules out).
    pub fn shipped() -> PriceBook {
        crate::PricingConfig::default().build().unwrap_or_default()
    }

    /// Adds a checked row; a row with the same (model, tier, effective_from) is replaced.
    pub(crate) fn insert(&mut self, model: String, entry: Entry) {
        let entries = self.models.entry(model).or_default();
        entries.retain(|e| (e.tier, e.from) != (entry.tier, entry.from));
        entries.push(entry);
    }

    /// Checks and adds `rows`; errors name `what[i]` and the row.
    pub(crate) fn add_rows(
        &mut self,
        rows: &[PriceRow],
        what: &str,
        default_source: Option<&str>,
    ) -> Result<(), String> {
        for (i, row) in rows.iter().enumerate() {
            let (model, entry) = row
                .check(default_source)
                .map_err(|e| format!("{what}[{i}] ({}): {e}", row.label()))?;
            self.insert(model, entry);
        }
        Ok(())
    }

    /// Resolves `model` to its table key, if the table knows it.
    pub fn key<'a>(&'a self, model: &str) -> Option<&'a str> {
        resolve(model, &self.models, &self.aliases).map(|(k, _)| k)
    }

    /// Whether two model names denote the same priced model (the same key when both resolve,
    /// else the same name without `models/`).
    pub fn same_model(&self, a: &str, b: &str) -> bool {
        match (self.key(a), self.key(b)) {
            (Some(ka), Some(kb)) => ka == kb,
            _ => a.strip_prefix("models/").unwrap_or(a) == b.strip_prefix("models/").unwrap_or(b),
        }
    }

    /// The rates for `model` served at `tier` on the day of `at`, or `None` when unpriced.
    pub fn lookup<'a>(&'a self, model: &str, tier: &str, at: SystemTime) -> Option<Resolved<'a>> {
        self.try_lookup(model, tier, at).ok()
    }

    /// As [`lookup`](Self::lookup), with the reason when unpriced.
    pub fn try_lookup<'a>(
        &'a self,
        model: &str,
        tier: &str,
        at: SystemTime,
    ) -> Result<Resolved<'a>, String> {
        let (key, entries) = resolve(model, &self.models, &self.aliases)
            .ok_or_else(|| "no price for this model".to_owned())?;
        let parsed = Tier::parse(tier);
        let want = parsed.unwrap_or(Tier::Standard);
        let day = day_of(at);
        let resolved = |e: &'a Entry, derived: bool| Resolved {
            model: key,
            tier: want,
            tier_known: parsed.is_some(),
            derived,
            effective_from: e.from_text.as_deref(),
            source: &e.source,
            note: e.note.as_deref(),
            price: if derived {
                e.price.scaled(0.5)
            } else {
                e.price
            },
        };
        if let Some(e) = in_force(entries, want, day) {
            return Ok(resolved(e, false));
        }
        match want {
            Tier::Priority => Err(format!("no priority rate for {key}")),
            Tier::Flex | Tier::Batch => in_force(entries, Tier::Standard, day)
                .map(|e| resolved(e, true))
                .ok_or_else(|| no_price_on(key, day)),
            Tier::Standard => Err(no_price_on(key, day)),
        }
    }

    /// Whether `model` has a standard price in force on the day of `at`.
    pub fn is_priced(&self, model: &str, at: SystemTime) -> bool {
        self.try_lookup(model, Tier::Standard.as_str(), at).is_ok()
    }

    /// The explicit rows of `key` in force on `day`, one per tier, in tier order.
    pub(crate) fn rows_in_force(&self, key: &str, day: i64) -> Vec<&Entry> {
        let Some(entries) = self.models.get(key) else {
            return Vec::new();
        };
        Tier::ALL
            .into_iter()
            .filter_map(|t| in_force(entries, t, day))
            .collect()
    }
}

/// The row of `tier` with the latest `effective_from` on or before `day`.
fn in_force(entries: &[Entry], tier: Tier, day: i64) -> Option<&Entry> {
    entries
        .iter()
        .filter(|e| e.tier == tier && e.from.is_none_or(|f| f <= day))
        .max_by_key(|e| e.from)
}

fn no_price_on(key: &str, day: i64) -> String {
    format!("no price in force for {key} on {}", format_day(day))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn day(s: &str) -> SystemTime {
        let d = crate::date::parse_date(s).expect("date");
        UNIX_EPOCH + Duration::from_secs(u64::try_from(d).expect("after 1970") * 86_400)
    }

    #[test]
    fn the_latest_row_in_force_wins() {
        let book = PriceBook::shipped();
        let input = |at: &str| {
            book.lookup("gemini-3.8-flash", "standard", day(at))
                .map(|r| r.price.input)
        };
        assert_eq!(input("2026-12-31"), Some(0.75));
        assert_eq!(input("2027-01-01"), Some(1.50));
        assert_eq!(input("2030-06-01"), Some(1.50));
    }

    #[test]
    fn tiers_follow_the_documented_rules() {
        let book = PriceBook::shipped();
        let at = day("2026-12-01");
        let flex = book
            .try_lookup("gemini-3.1-pro-preview", "flex", at)
            .expect("flex");
        assert!(flex.derived);
        assert_eq!(flex.price.input, 1.0);
        assert_eq!(flex.price.search_per_1k, Some(14.0), "fees are not halved");
        let batch = book
            .try_lookup("gemini-3.5-flash-lite", "batch", at)
            .expect("batch");
        assert!(!batch.derived);
        assert_eq!(batch.price.cached_input, Some(0.02));
        assert_eq!(
            book.try_lookup("gemini-3.8-flash", "priority", at),
            Err("no priority rate for gemini-3.8-flash".into())
        );
        let odd = book
            .try_lookup("gemini-3.8-flash", "deferred", at)
            .expect("odd");
        assert_eq!(
            (odd.tier, odd.tier_known, odd.price.input),
            (Tier::Standard, false, 0.75)
        );
        assert!(book.is_priced("models/gemini-3.8-flash-001", at));
        assert!(!book.is_priced("gemini-9-ultra", at));
    }

    #[test]
    fn served_and_requested_names_compare_by_key() {
        let book = PriceBook::shipped();
        assert!(book.same_model("models/gemini-2.0-flash-001", "gemini-2.0-flash"));
        assert!(!book.same_model("gemini-2.5-pro", "gemini-3.8-flash"));
        assert!(!book.same_model("gemini-flash-lite-latest", "gemini-3.5-flash-lite"));
        assert!(book.same_model("models/x-tune", "x-tune"));
    }
}
