//! The time units of a drift detector's window columns: the SQL that converts them to unix
//! nanoseconds, and the check that the data looks like the declared unit.
//!
//! A detector that writes milliseconds but is mapped as `ns` (or the reverse) would match
//! nothing and say nothing. So every report looks at the whole table: windows that convert to a
//! date before the year 2000 or after 2200 are a warning naming the column, the unit and the
//! year they land in; values that cannot be converted at all (not a number, or beyond what
//! nanoseconds since 1970 can hold) are a warning too.

use super::drift::{DriftQuery, ident};
use super::{QueryResult, Reader};

/// 2000-01-01 and 2200-01-01, unix nanos: window times outside are a wrong `time_unit`.
const PLAUSIBLE_NS: (i64, i64) = (946_684_800_000_000_000, 7_258_118_400_000_000_000);

/// `expr` (of `unit`) as integer unix nanoseconds; NULL when the result would not fit in 64
/// bits (e.g. milliseconds declared as seconds).
pub(super) fn to_ns(expr: &str, unit: &str) -> Option<String> {
    let scaled = |factor: i64| {
        let limit = i64::MAX / factor;
        format!(
            "(CASE WHEN abs({expr}) > {limit} THEN NULL \
             WHEN typeof({expr}) = 'integer' THEN {expr} * {factor} \
             ELSE CAST(ROUND({expr} * {factor}.0) AS INTEGER) END)"
        )
    };
    Some(match unit {
        "s" => scaled(1_000_000_000),
        "ms" => scaled(1_000_000),
        "us" => scaled(1_000),
        "ns" => format!("CAST({expr} AS INTEGER)"),
        "iso8601" => format!(
            "(CAST(ROUND((julianday({expr}) - 2440587.5) * 86400000.0) AS INTEGER) * 1000000)"
        ),
        _ => return None,
    })
}

/// The year (proleptic Gregorian, UTC) of a time in unix nanoseconds.
fn year_of(ns: i64) -> i64 {
    // Days to civil date (H. Hinnant's algorithm), only the year.
    let z = ns.div_euclid(86_400_000_000_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    yoe + era * 400 + i64::from(mp >= 10)
}

impl Reader {
    /// Warnings about window values that do not look like `[drift] time_unit`, over every row
    /// of the detector's table (which must exist and fit the mapping).
    pub(super) fn drift_unit_warnings(&self, q: &DriftQuery) -> QueryResult<Vec<String>> {
        let mut out = Vec::new();
        for column in [&q.window_start_column, &q.window_end_column] {
            let raw = format!("src.{}", ident(column));
            let Some(ns) = to_ns(&raw, &q.time_unit) else {
                continue;
            };
            let sql = format!(
                "SELECT MIN(v), MAX(v), SUM(v IS NULL AND r IS NOT NULL)
                 FROM (SELECT {ns} AS v, {raw} AS r FROM {} AS src)",
                ident(&q.table)
            );
            let (min, max, unreadable): (Option<i64>, Option<i64>, Option<i64>) = self
                .conn
                .prepare_cached(&sql)
                .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
                .map_err(|e| self.err(e))?;
            let unit = &q.time_unit;
            if let Some(min) = min.filter(|v| *v < PLAUSIBLE_NS.0) {
                out.push(format!(
                    "{column} has values that, read as [drift] time_unit = {unit:?}, fall in the \
                     year {} (before 2000): check time_unit",
                    year_of(min)
                ));
            } else if let Some(max) = max.filter(|v| *v > PLAUSIBLE_NS.1) {
                out.push(format!(
                    "{column} has values that, read as [drift] time_unit = {unit:?}, fall in the \
                     year {} (after 2200): check time_unit",
                    year_of(max)
                ));
            } else if unreadable.unwrap_or(0) > 0 {
                out.push(format!(
                    "{column} has values that cannot be read as [drift] time_unit = {unit:?} \
                     (not a number, or after the year 2200 in that unit): check time_unit"
                ));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_of_known_instants() {
        assert_eq!(year_of(0), 1970);
        assert_eq!(year_of(PLAUSIBLE_NS.0), 2000);
        assert_eq!(year_of(PLAUSIBLE_NS.0 - 1), 1999);
        assert_eq!(year_of(PLAUSIBLE_NS.1), 2200);
        assert_eq!(year_of(1_767_225_600_000_000_000), 2026);
        assert_eq!(year_of(i64::MAX), 2262);
        assert_eq!(year_of(-1), 1969);
    }
}
