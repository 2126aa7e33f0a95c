//! One row of a price table (shipped `prices.toml`, an operator file, `[[pricing.rows]]`),
//! the service tiers, and the shipped table itself.

use crate::ModelPrice;
use crate::date::parse_date;
use serde::{Deserialize, Deserializer};
use std::sync::LazyLock;

/// A Gemini service tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// The default tier.
    Standard,
    /// Flex: 50% of standard unless the model has a flex row.
    Flex,
    /// Priority: only where the model has a priority row.
    Priority,
    /// Batch API: 50% of standard unless the model has a batch row.
    Batch,
}

impl Tier {
    /// All tiers, in display order.
    pub const ALL: [Tier; 4] = [Tier::Standard, Tier::Flex, Tier::Priority, Tier::Batch];

    /// Parses a lowercase tier name (`standard`, `flex`, `priority`, `batch`).
    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Flex => "flex",
            Tier::Priority => "priority",
            Tier::Batch => "batch",
        }
    }
}

/// One price row, as written in a price file or `[[pricing.rows]]`. See the crate docs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // The fields are those of `ModelPrice` plus the row's identity.
pub struct PriceRow {
    pub model: String,
    #[serde(default, deserialize_with = "date_text")]
    pub effective_from: Option<String>,
    pub tier: Option<String>,
    pub input: f64,
    pub output: f64,
    pub cached_input: Option<f64>,
    pub input_audio: Option<f64>,
    pub cached_input_audio: Option<f64>,
    pub output_image: Option<f64>,
    pub output_audio: Option<f64>,
    pub long_context_threshold: Option<u64>,
    pub input_long: Option<f64>,
    pub output_long: Option<f64>,
    pub cached_input_long: Option<f64>,
    pub cache_storage_per_hour: Option<f64>,
    pub search_per_1k: Option<f64>,
    pub grounded_prompt_per_1k: Option<f64>,
    pub source: Option<String>,
    pub note: Option<String>,
}

/// `effective_from` as text, written `"2027-01-01"` or as a bare TOML date `2027-01-01`.
fn date_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a date written \"YYYY-MM-DD\"")]
    enum Raw {
        Text(String),
        Date(toml::value::Datetime),
    }
    Ok(Option::<Raw>::deserialize(d)?.map(|r| match r {
        Raw::Text(s) => s,
        Raw::Date(d) => d.to_string(),
    }))
}

/// A price file: `[[rows]]` entries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceFile {
    #[serde(default)]
    pub rows: Vec<PriceRow>,
}

/// A checked row, as the book keeps it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub tier: Tier,
    /// Day (since 1970-01-01) from which the row is in force; `None` = always.
    pub from: Option<i64>,
    pub from_text: Option<String>,
    pub source: String,
    pub note: Option<String>,
    pub price: ModelPrice,
}

impl PriceRow {
    /// The rates of this row.
    pub fn price(&self) -> ModelPrice {
        ModelPrice {
            input: self.input,
            output: self.output,
            cached_input: self.cached_input,
            input_audio: self.input_audio,
            cached_input_audio: self.cached_input_audio,
            long_context_threshold: self.long_context_threshold,
            input_long: self.input_long,
            output_long: self.output_long,
            cached_input_long: self.cached_input_long,
            output_image: self.output_image,
            output_audio: self.output_audio,
            cache_storage_per_hour: self.cache_storage_per_hour,
            search_per_1k: self.search_per_1k,
            grounded_prompt_per_1k: self.grounded_prompt_per_1k,
        }
    }

    /// `model "x", tier flex, effective_from 2027-01-01`: how errors name the row.
    pub(crate) fn label(&self) -> String {
        let mut s = format!("model {:?}", self.model);
        if let Some(t) = &self.tier {
            s.push_str(&format!(", tier {t:?}"));
        }
        if let Some(d) = &self.effective_from {
            s.push_str(&format!(", effective_from {d:?}"));
        }
        s
    }

    /// Checks the row; `default_source` fills a missing `source` (`None`: it is required).
    /// Returns the base model name and the entry.
    pub(crate) fn check(&self, default_source: Option<&str>) -> Result<(String, Entry), String> {
        let model = self.model.strip_prefix("models/").unwrap_or(&self.model);
        if model.trim().is_empty() {
            return Err("model is empty".into());
        }
        let tier = match self.tier.as_deref() {
            None => Tier::Standard,
            Some(t) => Tier::parse(t).ok_or_else(|| {
                format!("unknown tier {t:?} (expected standard, flex, priority or batch)")
            })?,
        };
        let from = self.effective_from.as_deref().map(parse_date).transpose()?;
        let price = self.price();
        price.validate()?;
        let source = match (self.source.as_deref(), default_source) {
            (Some(s), _) if !s.trim().is_empty() => s.to_owned(),
            (_, Some(d)) => d.to_owned(),
            _ => return Err("source is required in the shipped table".into()),
        };
        let entry = Entry {
            tier,
            from,
            from_text: self.effective_from.clone(),
            source,
            note: self.note.clone(),
            price,
        };
        Ok((model.to_owned(), entry))
    }
}

static SHIPPED: LazyLock<Result<Vec<PriceRow>, String>> = LazyLock::new(|| {
    toml::from_str::<PriceFile>(include_str!("../prices.toml"))
        .map(|f| f.rows)
        .map_err(|e| format!("shipped prices.toml: {e}"))
});

/// The rows of the shipped `prices.toml`, parsed once.
pub(crate) fn shipped_rows() -> Result<&'static [PriceRow], String> {
    SHIPPED.as_deref().map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_row_checks_and_has_a_source() {
        let rows = shipped_rows().expect("prices.toml parses");
        assert!(rows.len() >= 29, "{}", rows.len());
        for row in rows {
            let (_, entry) = row
                .check(None)
                .unwrap_or_else(|e| panic!("{}: {e}", row.label()));
            assert!(entry.source.len() > 10, "{}", row.label());
        }
    }

    #[test]
    fn rows_are_checked() {
        let row = |f: fn(&mut PriceRow)| {
            let mut r = PriceRow {
                model: "m".into(),
                input: 1.0,
                output: 1.0,
                ..PriceRow::default()
            };
            f(&mut r);
            r.check(Some("gateway.toml")).map(|(m, e)| (m, e.tier))
        };
        assert_eq!(row(|_| ()), Ok(("m".into(), Tier::Standard)));
        assert!(row(|r| r.tier = Some("turbo".into())).is_err_and(|e| e.contains("turbo")));
        assert!(row(|r| r.input = -1.0).is_err_and(|e| e.contains("input = -1")));
        assert!(row(|r| r.cached_input = Some(f64::NAN)).is_err_and(|e| e.contains("cached")));
        assert!(row(|r| r.output_long = Some(2.0)).is_err_and(|e| e.contains("threshold")));
        assert!(row(|r| r.effective_from = Some("2027-02-30".into())).is_err());
        assert!(row(|r| r.model = "models/ ".into()).is_err());
        let none = PriceRow {
            model: "m".into(),
            ..PriceRow::default()
        };
        assert!(none.check(None).is_err_and(|e| e.contains("source")));
    }
}
