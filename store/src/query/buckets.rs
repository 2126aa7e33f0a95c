//! Value buckets of `latency_hist`, mirroring the `CASE` expression of migration 3.
//!
//! A bucket is a range of whole milliseconds: 1 ms wide below 100 ms, 10 ms below 1 s, 100 ms
//! below 10 s, 1 s below 100 s, 10 s below 1000 s, and one open bucket above. A value `v`
//! falls in bucket `bucket_of(v)` exactly when `lo <= v < hi` for that bucket's bounds, because
//! both sides truncate to whole milliseconds first.

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

/// The value range `[lo, hi)` of a bucket.
pub(crate) fn bounds(b: i64) -> (f64, f64) {
    let (lo, width) = match b {
        i64::MIN..=0 => return (f64::MIN, 1.0),
        1..100 => (b, 1),
        100..190 => (10 * (b - 90), 10),
        190..280 => (100 * (b - 180), 100),
        280..370 => (1_000 * (b - 270), 1_000),
        370..460 => (10_000 * (b - 360), 10_000),
        _ => return (1_000_000.0, f64::MAX),
    };
    (lo as f64, (lo + width) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_line() {
        for b in 0..460 {
            assert_eq!(bounds(b).1, bounds(b + 1).0, "gap after bucket {b}");
        }
        for v in [
            -3.0, 0.0, 0.5, 1.0, 99.99, 100.0, 109.9, 110.0, 999.5, 1000.0, 12_345.6, 1e6, 1e9,
        ] {
            let (lo, hi) = bounds(bucket_of(v));
            assert!(lo <= v && v < hi, "{v} not in its bucket [{lo}, {hi})");
        }
    }
}
