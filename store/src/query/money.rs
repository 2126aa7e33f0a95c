//! How costs read: USD as JSON numbers rounded to 12 decimal places (a picodollar), so sums of
//! per-call costs never show floating-point noise such as `0.000044300000000000006`.
//!
//! Per-call costs are far above a picodollar (a 1-token call on the cheapest model costs about
//! 4e-8 USD), so rounding there loses nothing a bill shows; it only removes the binary-fraction
//! tail that addition leaves.

use serde::Serializer;

/// Decimal places kept.
pub const USD_DECIMALS: i32 = 12;

/// `usd` rounded to [`USD_DECIMALS`] places (non-finite values are kept as they are).
pub fn round_usd(usd: f64) -> f64 {
    if !usd.is_finite() {
        return usd;
    }
    let scale = 10f64.powi(USD_DECIMALS);
    let scaled = usd * scale;
    if scaled.abs() >= 9.0e15 {
        return usd; // beyond exact integers in f64: nothing to round
    }
    scaled.round() / scale
}

/// `serialize_with` for a USD amount.
pub fn usd<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_usd(*v))
}

/// `serialize_with` for an optional USD amount.
pub fn opt_usd<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&round_usd(*v)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sums_read_like_money() {
        let noisy = 0.000_044_3 + 0.000_000_000_000_000_006;
        assert_eq!(round_usd(noisy), 0.000_044_3);
        assert_eq!(round_usd(0.1 + 0.2), 0.3);
        #[derive(serde::Serialize)]
        struct T {
            #[serde(serialize_with = "usd")]
            a: f64,
            #[serde(serialize_with = "opt_usd")]
            b: Option<f64>,
            #[serde(serialize_with = "opt_usd")]
            c: Option<f64>,
        }
        let json = serde_json::to_string(&T {
            a: 0.1 + 0.2,
            b: Some(4.4300000000000006e-5),
            c: None,
        })
        .unwrap();
        assert_eq!(json, r#"{"a":0.3,"b":0.0000443,"c":null}"#);
        assert!(round_usd(f64::NAN).is_nan());
    }
}
