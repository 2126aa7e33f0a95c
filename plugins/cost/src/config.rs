//! `[pricing]` in `gateway.toml`, and how it builds a [`PriceBook`] over the shipped table.

use crate::row::{Entry, PriceFile, PriceRow, shipped_rows};
use crate::{ModelPrice, PriceBook, Tier};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Source recorded for operator rows that do not name one.
const OPERATOR_SOURCE: &str = "gateway.toml";

/// `[pricing]` in `gateway.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    /// Per-model standard rates; each replaces every shipped standard row of that model and is
    /// in force always.
    #[serde(default)]
    pub models: HashMap<String, ModelPrice>,
    /// Names priced as another model, e.g. `"tunedModels/my-tune" = "gemini-2.5-flash"`.
    #[serde(default)]
    pub aliases: HashMap<String, String>,
    /// A price file (`[[rows]]`, the shipped format) added on top of the shipped table.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Inline rows (`[[pricing.rows]]`), added last.
    #[serde(default)]
    pub rows: Vec<PriceRow>,
}

impl PricingConfig {
    /// Builds the price book: shipped rows, then `models`, then `file`, then `rows` (a later
    /// row replaces one with the same model, tier and effective_from), then `aliases`. A
    /// relative `file` is read from the current directory; see [`build_in`](Self::build_in).
    ///
    /// Errors name the offending entry, e.g. `pricing.rows[2] (model "x", tier "turbo"): …`.
    pub fn build(&self) -> Result<PriceBook, String> {
        self.build_in(Path::new(""))
    }

    /// As [`build`](Self::build), reading a relative `file` from `base_dir` (the directory of
    /// `gateway.toml`).
    pub fn build_in(&self, base_dir: &Path) -> Result<PriceBook, String> {
        let mut book = PriceBook::default();
        book.add_rows(shipped_rows()?, "shipped prices.toml rows", None)?;
        let mut models: Vec<_> = self.models.iter().collect();
        models.sort_by(|a, b| a.0.cmp(b.0));
        for (name, price) in models {
            price
                .validate()
                .map_err(|e| format!("pricing.models.{name:?}: {e}"))?;
            let key = name.strip_prefix("models/").unwrap_or(name);
            if key.trim().is_empty() {
                return Err(format!("pricing.models.{name:?}: model name is empty"));
            }
            if let Some(entries) = book.models.get_mut(key) {
                entries.retain(|e| e.tier != Tier::Standard);
            }
            let entry = Entry {
                tier: Tier::Standard,
                from: None,
                from_text: None,
                source: OPERATOR_SOURCE.into(),
                note: None,
                price: *price,
            };
            book.insert(key.to_owned(), entry);
        }
        if let Some(file) = &self.file {
            let path = base_dir.join(file);
            let shown = path.display().to_string();
            let what = format!("pricing.file {shown:?}");
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("{what}: cannot read it: {e}"))?;
            let parsed: PriceFile = toml::from_str(&text).map_err(|e| format!("{what}: {e}"))?;
            book.add_rows(&parsed.rows, &format!("{what}: rows"), Some(&shown))?;
        }
        book.add_rows(&self.rows, "pricing.rows", Some(OPERATOR_SOURCE))?;
        for (name, target) in &self.aliases {
            if book.key(target).is_none() {
                return Err(format!(
                    "pricing.aliases.{name:?}: {target:?} has no price (add it to pricing.models or pricing.rows)"
                ));
            }
        }
        book.aliases = self.aliases.clone();
        Ok(book)
    }

    /// The most of this configuration that builds, for a constructor that cannot fail: all of
    /// it; else without `file` and `rows`; else only valid `models`; else the shipped table.
    pub(crate) fn build_lenient(&self) -> PriceBook {
        let models: HashMap<_, _> = self
            .models
            .iter()
            .filter(|(_, p)| p.validate().is_ok())
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let with_aliases = PricingConfig {
            models: models.clone(),
            aliases: self.aliases.clone(),
            ..PricingConfig::default()
        };
        let bare = PricingConfig {
            models,
            ..PricingConfig::default()
        };
        [self, &with_aliases, &bare, &PricingConfig::default()]
            .into_iter()
            .find_map(|c| c.build().ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_builds() {
        let book = PricingConfig::default().build().expect("shipped table");
        assert!(book.models.len() >= 22, "{}", book.models.len());
    }

    #[test]
    fn a_models_entry_replaces_every_dated_standard_row() {
        let cfg: PricingConfig =
            toml::from_str("[models.\"gemini-3.8-flash\"]\ninput = 1.0\noutput = 2.0\n")
                .expect("toml");
        let book = cfg.build().expect("build");
        let entries = &book.models["gemini-3.8-flash"];
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].from, entries[0].price.input), (None, 1.0));
    }

    #[test]
    fn bad_aliases_and_missing_files_are_errors() {
        let cfg = PricingConfig {
            aliases: HashMap::from([("t".into(), "gemini-nope".into())]),
            ..PricingConfig::default()
        };
        assert!(
            cfg.build()
                .is_err_and(|e| e.contains("pricing.aliases") && e.contains("gemini-nope"))
        );
        let cfg = PricingConfig {
            file: Some("/nonexistent/prices.toml".into()),
            ..PricingConfig::default()
        };
        let err = cfg.build().expect_err("missing file");
        assert!(
            err.starts_with("pricing.file \"/nonexistent/prices.toml\": cannot read"),
            "{err}"
        );
        assert!(
            !cfg.build_lenient().models.is_empty(),
            "lenient keeps the shipped table"
        );
    }
}
