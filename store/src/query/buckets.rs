//! Value buckets of `latency_hist`, mirroring the `CASE` expression of migration 3.
//!
//! A bucket is a range of whole milliseconds: 1 ms wide below 100 ms, 10 ms below 1 s, 100 ms
//! below 10 s, 1 s below 100 s, 10 s below 1000 s, and one open bucket above. Migration 14's
//! value indexes lead with the same `CASE`, so the API reads a bucket's values by its number.

/// Migration 3's bucket `CASE` over the SQL expression `$x`, parenthesised, as the leading
/// expression of migration 14's value indexes repeats it: a query must spell it the same way
/// for SQLite to match those indexes.
#[rustfmt::skip]
macro_rules! bucket_case {
    ($x:literal) => {
        concat!(
            "(CASE WHEN CAST(", $x, " AS INTEGER) < 100 THEN MAX(CAST(", $x, " AS INTEGER), 0)
            WHEN CAST(", $x, " AS INTEGER) < 1000 THEN 90 + CAST(", $x, " AS INTEGER) / 10
            WHEN CAST(", $x, " AS INTEGER) < 10000 THEN 180 + CAST(", $x, " AS INTEGER) / 100
            WHEN CAST(", $x, " AS INTEGER) < 100000 THEN 270 + CAST(", $x, " AS INTEGER) / 1000
            WHEN CAST(", $x, " AS INTEGER) < 1000000 THEN 360 + CAST(", $x, " AS INTEGER) / 10000
            ELSE 460 END)"
        )
    };
}
pub(crate) use bucket_case;

/// The bucket of a value in milliseconds (as SQLite computes it in the migration's triggers).
pub(crate) fn bucket_of(v: f64) -> i64 {
    // `as` truncates toward zero like SQLite's CAST(... AS INTEGER) and saturates the same way.
    let ms = v as i64;
    match ms {
        i64::MIN..100 => ms.max(0),
        100..1_000 => 90 + ms / 10,
        1_000..10_000 => 180 + ms / 100,
        10_000..100_000 => 270 + ms / 1_000,
        100_000..1_000_000 => 360 + ms / 10_000,
        _ => 460,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `bucket_of` is migration 3's `CASE` (as migration 14's indexes repeat it), value for
    /// value, around every bound and beyond both ends; and buckets never decrease with the value.
    #[test]
    fn buckets_are_the_schemas_case_and_ordered() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sql = concat!("SELECT ", bucket_case!("?1"));
        let mut values = vec![-1e300, -3.0, -0.5, 0.0, 1e-9, 0.5, 1e7, 1e300];
        for bound in [
            1.0, 99.0, 100.0, 110.0, 999.0, 1_000.0, 9_999.0, 10_000.0, 100_000.0, 1e6,
        ] {
            values.extend([bound - 1e-9, bound, bound + 1e-9, bound + 0.5]);
        }
        values.extend((0..20_000).map(|i| f64::from(i) * 0.731));
        values.sort_by(f64::total_cmp);
        let mut last = i64::MIN;
        for v in values {
            let want: i64 = conn.query_row(sql, [v], |r| r.get(0)).unwrap();
            assert_eq!(bucket_of(v), want, "{v}");
            assert!(want >= last, "{v}");
            last = want;
        }
    }
}
