//! `gateway pricing`: the price table in force at a date, and the models the database has seen
//! that have no price there (they are stored with cost NULL and flagged unpriced).

use crate::config::Config;
use anyhow::Context;
use gateway_cost::render_table;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DD` (UTC midnight) as a time.
fn parse_date(s: &str) -> anyhow::Result<SystemTime> {
    let mut it = s.splitn(3, '-').map(str::parse::<i64>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (it.next(), it.next(), it.next()) else {
        anyhow::bail!("--at {s:?} is not YYYY-MM-DD");
    };
    anyhow::ensure!(
        (1..=12).contains(&m) && (1..=31).contains(&d),
        "--at {s:?} is not a date"
    );
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400).context("dates before 1970 are not priced")?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
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
