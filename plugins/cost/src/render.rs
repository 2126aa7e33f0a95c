//! `gateway pricing`: the table in force on a date, as aligned text.

use crate::PriceBook;
use crate::date::{day_of, format_day};
use std::fmt::Write as _;
use std::time::SystemTime;

const HEADER: [&str; 18] = [
    "model",
    "tier",
    "input",
    "output",
    "cached",
    "audio_in",
    "audio_cached",
    "image_out",
    "audio_out",
    "long_above",
    "input_long",
    "output_long",
    "cached_long",
    "search_1k",
    "grounded_1k",
    "storage_h",
    "effective_from",
    "source",
];

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The rows in force on the day of `at`, one line per model and tier with an explicit row,
/// sorted by model; then the tier rules and the aliases. Rates are USD per 1M tokens,
/// `search_1k` / `grounded_1k` per 1,000 queries / grounded prompts, `storage_h` per 1M
/// token-hours.
pub fn render_table(book: &PriceBook, at: SystemTime) -> String {
    let day = day_of(at);
    let mut keys: Vec<&String> = book.models.keys().collect();
    keys.sort();
    let mut lines: Vec<Vec<String>> = vec![HEADER.iter().map(|h| (*h).to_owned()).collect()];
    for key in keys {
        for e in book.rows_in_force(key, day) {
            let p = &e.price;
            lines.push(vec![
                key.clone(),
                e.tier.as_str().to_owned(),
                rate(Some(p.input)),
                rate(Some(p.output)),
                rate(p.cached_input),
                rate(p.input_audio),
                rate(p.cached_input_audio),
                rate(p.output_image),
                rate(p.output_audio),
                p.long_context_threshold
                    .map_or_else(|| "-".to_owned(), |t| t.to_string()),
                rate(p.input_long),
                rate(p.output_long),
                rate(p.cached_input_long),
                rate(p.search_per_1k),
                rate(p.grounded_prompt_per_1k),
                rate(p.cache_storage_per_hour),
                e.from_text.clone().unwrap_or_else(|| "always".to_owned()),
                e.source.clone(),
            ]);
        }
    }
    let mut widths = [0usize; HEADER.len()];
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = format!(
        "Prices in force on {} (UTC), USD per 1M tokens; search_1k and grounded_1k per 1,000, \
         storage_h per 1M token-hours.\n",
        format_day(day)
    );
    for line in &lines {
        let last = line.len() - 1;
        for (i, cell) in line.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push('\n');
    }
    out.push_str(
        "flex and batch without a row: the standard row at 50%; priority without a row: unpriced.\n",
    );
    let mut aliases: Vec<_> = book.aliases.iter().collect();
    aliases.sort();
    for (name, target) in aliases {
        let _ = writeln!(out, "alias {name} -> {target}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_table_shows_the_rows_in_force_aligned() {
        let book = PriceBook::shipped();
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        let before = render_table(&book, at(1_798_761_599));
        let after = render_table(&book, at(1_798_761_600));
        assert!(
            before.starts_with("Prices in force on 2026-12-31"),
            "{before}"
        );
        let line = |t: &str, m: &str, tier: &str| {
            t.lines()
                .find(|l| l.starts_with(&format!("{m} ")) && l.contains(&format!(" {tier} ")))
                .map(|l| l.split_whitespace().take(4).collect::<Vec<_>>().join(" "))
        };
        let flash = "gemini-3.8-flash";
        assert_eq!(
            line(&before, flash, "standard").as_deref(),
            Some("gemini-3.8-flash standard 0.75 3.75")
        );
        assert_eq!(
            line(&after, flash, "standard").as_deref(),
            Some("gemini-3.8-flash standard 1.5 7.5")
        );
        let lite = "gemini-3.5-flash-lite";
        assert_eq!(
            line(&after, lite, "priority").as_deref(),
            Some("gemini-3.5-flash-lite priority 0.54 4.5")
        );
        assert!(after.contains("2027-01-01"));
        // Aligned: the source column starts at the same offset on every row.
        let header = after.lines().nth(1).expect("header");
        let col = header.find("source").expect("source column");
        for l in after.lines().skip(2).filter(|l| l.starts_with("gemini-")) {
            assert_eq!(&l[col - 2..col], "  ", "{l}");
            assert_ne!(l.as_bytes()[col], b' ', "{l}");
        }
    }
}
