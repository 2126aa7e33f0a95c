//! `gateway pricing`: the price table in force at a date, and the models the database has seen
//! that have no price there (they are stored with cost NULL and flagged unpriced).

use crate::config::Config;
use anyhow::Context;
use gateway_cost::render_table;
use std::time::{Duration, SystemTime};

/// `YYYY-MM-DD` (UTC midnight) as a time.
fn parse_date(s: &str) -> anyhow::Result<SystemTime> {
    gateway_cost::start_of_day(s).map_err(|e| anyhow::anyhow!("--at: {e}"))
}

/// Prints the table and the unpriced models seen in `config.storage.path`.
pub fn print(config: &Config, at: Option<&str>) -> anyhow::Result<()> {
    let at = match at {
        Some(s) => parse_date(s)?,
        None => SystemTime::now(),
    };
    let book = config
        .pricing
        .build_in(&config.base_dir)
        .map_err(|e| anyhow::anyhow!("pricing: {e}"))?;
    print!("{}", render_table(&book, at));
    let path = &config.storage.path;
    if !path.exists() {
        println!("\nNo database at {} yet: no models seen.", path.display());
        return Ok(());
    }
    let reader = gateway_store::query::Reader::open(path, Duration::from_secs(5))
        .with_context(|| format!("cannot open {}", path.display()))?;
    let seen = reader.models_seen()?;
    let unpriced: Vec<_> = seen
        .iter()
        .filter(|(m, _)| !book.is_priced(m, at))
        .collect();
    if unpriced.is_empty() {
        println!("\nEvery model seen in {} has a price.", path.display());
    } else {
        println!(
            "\nModels seen in {} with no price (add them under [pricing]):",
            path.display()
        );
        for (model, n) in unpriced {
            println!("  {model}  ({n} calls)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn dates_parse_to_utc_midnight() {
        let t = parse_date("2027-01-01").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_798_761_600
        );
        assert!(parse_date("2027-13-01").is_err());
        assert!(parse_date("soon").is_err());
    }
}
