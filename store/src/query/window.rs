//! Splits a time window into raw edges and whole hours and days of the pre-aggregates.

use super::{DAY_NS, HOUR_NS};

/// A window `[since, until)` as pieces: raw ranges (unix nanos) to read from `traces`, and unit
/// ranges `[lo, hi)` of hours and days (`start / HOUR_NS`, `start / DAY_NS`) to read from the
/// aggregate tables.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Split {
    pub raw: Vec<(i64, i64)>,
    pub hours: Vec<(i64, i64)>,
    pub days: Vec<(i64, i64)>,
}

fn ceil_to(v: i64, unit: i64) -> i64 {
    v.div_euclid(unit)
        .saturating_add(i64::from(v.rem_euclid(unit) != 0))
        .saturating_mul(unit)
}

fn floor_to(v: i64, unit: i64) -> i64 {
    v.div_euclid(unit) * unit
}

/// Splits `[since, until)`; with `days` false, whole days are returned as hours.
pub(crate) fn split(since: i64, until: i64, days: bool) -> Split {
    let since = since.max(0);
    let mut out = Split::default();
    if until <= since {
        return out;
    }
    let h1 = ceil_to(since, HOUR_NS);
    let h2 = floor_to(until, HOUR_NS);
    if h1 >= h2 {
        out.raw.push((since, until));
        return out;
    }
    if since < h1 {
        out.raw.push((since, h1));
    }
    if h2 < until {
        out.raw.push((h2, until));
    }
    let (d1, d2) = (ceil_to(h1, DAY_NS), floor_to(h2, DAY_NS));
    let hours = |out: &mut Split, a: i64, b: i64| {
        if a < b {
            out.hours.push((a / HOUR_NS, b / HOUR_NS));
        }
    };
    if days && d1 < d2 {
        hours(&mut out, h1, d1);
        out.days.push((d1 / DAY_NS, d2 / DAY_NS));
        hours(&mut out, d2, h2);
    } else {
        hours(&mut out, h1, h2);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_into_edges_hours_and_days() {
        let s = split(DAY_NS - 30, 3 * DAY_NS + HOUR_NS + 5, true);
        assert_eq!(
            s.raw,
            vec![
                (DAY_NS - 30, DAY_NS),
                (3 * DAY_NS + HOUR_NS, 3 * DAY_NS + HOUR_NS + 5)
            ]
        );
        assert_eq!(s.days, vec![(1, 3)]);
        assert_eq!(s.hours, vec![(72, 73)]);
        let s = split(10, 20, true);
        assert_eq!(s.raw, vec![(10, 20)]);
        let s = split(i64::MAX - 5, i64::MAX, true);
        assert_eq!(s.raw, vec![(i64::MAX - 5, i64::MAX)]);
        let s = split(HOUR_NS, 5 * HOUR_NS, true);
        assert_eq!(
            (s.raw.len(), s.hours.clone(), s.days.len()),
            (0, vec![(1, 5)], 0)
        );
    }
}
