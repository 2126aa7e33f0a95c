//! Civil dates (`YYYY-MM-DD`, UTC) as day numbers since 1970-01-01, without a date crate.
//!
//! The conversions are Howard Hinnant's `days_from_civil` / `civil_from_days` (proleptic
//! Gregorian calendar).

use std::time::{SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: u64 = 86_400;

/// Days since 1970-01-01 of the civil date `y-m-d` (`m` in 1..=12, `d` in 1..=31).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let (m, d) = (i64::from(m), i64::from(d));
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of day `z` since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // `m` is in 1..=12 and `d` in 1..=31 by construction.
    (y, m as u32, d as u32)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses a strict `YYYY-MM-DD` into days since 1970-01-01.
pub(crate) fn parse_date(s: &str) -> Result<i64, String> {
    let bad = || format!("effective_from {s:?} is not a date written YYYY-MM-DD");
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().map_err(|_| bad());
    let (y, m, d) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return Err(format!("effective_from {s:?} is not a calendar date"));
    }
    Ok(days_from_civil(y, m, d))
}

/// The UTC day (since 1970-01-01) that contains `at`; days before 1970 are negative.
pub(crate) fn day_of(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs() / SECS_PER_DAY).unwrap_or(i64::MAX),
        Err(e) => {
            let nanos_per_day = u128::from(SECS_PER_DAY) * 1_000_000_000;
            let before = e.duration().as_nanos().div_ceil(nanos_per_day);
            i64::try_from(before).map_or(i64::MIN, |d| -d)
        }
    }
}

/// `YYYY-MM-DD` of day `z`.
pub(crate) fn format_day(z: i64) -> String {
    let (y, m, d) = civil_from_days(z);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Midnight (UTC) of a strict `YYYY-MM-DD`, for pricing at a chosen day (`gateway pricing --at`).
pub fn start_of_day(s: &str) -> Result<SystemTime, String> {
    let days = parse_date(s).map_err(|e| e.replace("effective_from", "date"))?;
    let secs = u64::try_from(days)
        .map_err(|_| format!("date {s:?} is before 1970"))?
        .saturating_mul(SECS_PER_DAY);
    Ok(UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Nanoseconds since the epoch of an RFC 3339 timestamp as Gemini writes them
/// (`2026-12-01T10:00:00Z`, `…:00.123456Z`, `…+05:30`); `None` when it is not one. Years up to
/// 9999 are exact (`i128`), so a far-future `expireTime` is not mistaken for a small one.
pub fn parse_timestamp(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let day = i128::from(parse_date(s.get(..10)?).ok()?);
    let num = |r: std::ops::Range<usize>| -> Option<i128> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    let mut frac: i128 = 0;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        frac = format!("{:0<9}", &r[..n]).parse().ok()?;
        rest = &r[n..];
    }
    let offset = match rest.as_bytes() {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let v = num(rest.len() + 19 - 5..rest.len() + 19 - 3)
                .zip(num(rest.len() + 19 - 2..rest.len() + 19))
                .map(|(hh, mm)| hh * 3600 + mm * 60)?;
            if *sign == b'-' { -v } else { v }
        }
        _ => return None,
    };
    let secs = day * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(secs * 1_000_000_000 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_parse_as_gemini_writes_them() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:01.25Z"),
            Some(1_250_000_000)
        );
        assert_eq!(
            parse_timestamp("1970-01-01T01:00:01+01:00"),
            Some(1_000_000_000)
        );
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:01-00:30"),
            Some(1_801_000_000_000)
        );
        assert_eq!(
            parse_timestamp("2027-01-01T00:00:00.000000001Z"),
            Some(1_798_761_600_000_000_001)
        );
        assert!(parse_timestamp("9999-12-31T23:59:59Z").is_some_and(|n| n > i128::from(i64::MAX)));
        for bad in [
            "",
            "2027-01-01",
            "2027-01-01T00:00:00",
            "2027-02-30T00:00:00Z",
            "x027-01-01T00:00:00Z",
            "2027-01-01T24:00:00Z",
            "2027-01-01T00:00:00.Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2000-03-01"), Ok(11_017));
        // 2027-01-01T00:00:00Z = 1798761600 s.
        assert_eq!(parse_date("2027-01-01"), Ok(1_798_761_600 / 86_400));
        assert_eq!(
            parse_date("2024-02-29").map(format_day).as_deref(),
            Ok("2024-02-29")
        );
    }

    #[test]
    fn round_trip_over_centuries() {
        for z in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn bad_dates_are_rejected() {
        for s in [
            "2027-1-01",
            "2027/01/01",
            "2027-13-01",
            "2027-02-29",
            "2100-02-29",
            "2027-04-31",
            "2027-00-10",
            "2027-01-00",
            "+027-01-01",
            "",
        ] {
            assert!(parse_date(s).is_err(), "{s}");
        }
    }

    #[test]
    fn instants_fall_on_their_utc_day() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(day_of(at(1_798_761_599)), 20_818); // 2026-12-31T23:59:59Z
        assert_eq!(day_of(at(1_798_761_600)), 20_819); // 2027-01-01T00:00:00Z
        assert_eq!(day_of(UNIX_EPOCH - Duration::from_nanos(1)), -1);
        assert_eq!(day_of(UNIX_EPOCH - Duration::from_secs(86_400)), -1);
        assert_eq!(day_of(UNIX_EPOCH - Duration::from_secs(86_401)), -2);
    }
}
