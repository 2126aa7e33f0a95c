//! Time parsing: unix nanoseconds or RFC 3339, and durations like `15m`, `1h`, `7d`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, now.
pub fn now_unix_nano() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Longest accepted duration: 100 years (longer values are clamped to it).
pub const MAX_DURATION_NS: i64 = 100 * 365 * 86_400 * 1_000_000_000;

/// Parses `<n><unit>` with unit `ms`, `s`, `m`, `h`, `d` or `w` into nanoseconds (> 0).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    let unit_ns: i64 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        "w" => 7 * 86_400 * 1_000_000_000,
        _ => return Err("expected a number and a unit (ms, s, m, h, d, w), e.g. 15m".into()),
    };
    if num.is_empty() {
        return Err("expected a number before the unit, e.g. 15m".into());
    }
    // Very long digit strings saturate: they only mean "everything".
    let n: i64 = num.parse().unwrap_or(i64::MAX);
    if n == 0 {
        return Err("must be greater than zero".into());
    }
    Ok(n.saturating_mul(unit_ns).min(MAX_DURATION_NS))
}

/// Parses unix nanoseconds (an integer) or an RFC 3339 timestamp.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    parse_rfc3339(s).ok_or_else(|| {
        "expected unix nanoseconds or an RFC 3339 time like 2025-01-31T12:00:00Z".into()
    })
}

fn num(s: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let part = s.get(range)?;
    part.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| part.parse().ok())?
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, as unix nanos.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(s, 0..4)?, num(s, 5..7)?, num(s, 8..10)?);
    let (h, mi, sec) = (num(s, 11..13)?, num(s, 14..16)?, num(s, 17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let kept = &frac[..digits.min(9)];
        nanos = kept.parse::<i64>().ok()? * 10i64.pow(9 - kept.len() as u32);
        rest = &frac[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            sign * (num(rest, 1..3)? * 3600 + num(rest, 4..6)? * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times_and_durations() {
        assert_eq!(
            parse_time("1700000000000000000"),
            Ok(1_700_000_000_000_000_000)
        );
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Ok(1_000_000_000));
        assert_eq!(
            parse_time("2023-11-14T22:13:20.5+00:00"),
            Ok(1_700_000_000_500_000_000)
        );
        assert_eq!(
            parse_time("2023-11-15T00:13:20+02:00"),
            Ok(1_700_000_000_000_000_000)
        );
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration("15m"), Ok(900_000_000_000));
        assert_eq!(parse_duration("7d"), Ok(604_800_000_000_000));
        assert_eq!(parse_duration("99999999999999999999w"), Ok(MAX_DURATION_NS));
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("5 h").is_err());
    }
}
