//! Small helpers: Google-style JSON rendering, camelCase/snake_case field
//! lookup, RFC 3339 timestamps, ids and deterministic hashing.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

/// serde_json formatter that writes `": "` after keys and `,` without space,
/// like Google's single-line SSE payloads.
struct GoogleCompact;

impl serde_json::ser::Formatter for GoogleCompact {
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

/// Render `v` on one line in Google's compact style (`{"a": 1,"b": 2}`).
pub(crate) fn google_line<T: Serialize>(v: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoogleCompact);
    if v.serialize(&mut ser).is_err() {
        return "{}".to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| "{}".to_string())
}

/// Render `v` pretty-printed with a 2-space indent.
pub(crate) fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".to_string())
}

/// Field `camel` or its snake_case spelling `snake` of a JSON object.
pub(crate) fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel)
        .or_else(|| v.get(snake))
        .filter(|x| !x.is_null())
}

/// Interpret a JSON number or numeric string as `u64`.
pub(crate) fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Microseconds since the Unix epoch.
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    now_micros() / 1_000_000
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// RFC 3339 UTC timestamp with microseconds, e.g. `2026-08-21T10:00:00.123456Z`.
pub(crate) fn rfc3339(micros: u64) -> String {
    let secs = i64::try_from(micros / 1_000_000).unwrap_or(i64::MAX / 2);
    let frac = micros % 1_000_000;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:06}Z")
}

/// ISO 8601 UTC timestamp to the second, e.g. `2026-08-21T10:00:00Z`
/// (the Interactions API's `created` / `updated` format).
pub(crate) fn iso_seconds(micros: u64) -> String {
    let full = rfc3339(micros);
    match full.split_once('.') {
        Some((secs, _)) => format!("{secs}Z"),
        None => full,
    }
}

/// SplitMix64 step: a well-mixed 64-bit value from `x`.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a hash of `bytes` (deterministic across runs and platforms).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `len` characters from `alphabet`, pseudo-random from `seed`, the clock and a count of the
/// calls in this process. The count keeps ids apart between fakes running in one process (the
/// Rust tests start one per test, in parallel threads): each numbers its own `seed`s from 0, and
/// two of them asking in the same microsecond got the same file id, whose bytes the
/// process-wide [`crate::file_contents`] store then joined.
pub(crate) fn random_id(seed: u64, len: usize, alphabet: &[u8]) -> String {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    random_id_at(seed, now_micros(), call, len, alphabet)
}

/// [`random_id`] at clock reading `micros`, for call number `call`.
fn random_id_at(seed: u64, micros: u64, call: u64, len: usize, alphabet: &[u8]) -> String {
    let mut state = mix64(seed ^ micros.rotate_left(17) ^ mix64(call).rotate_left(41));
    (0..len)
        .map(|_| {
            state = mix64(state);
            let n = alphabet.len().max(1);
            let i = usize::try_from(state % n as u64).unwrap_or(0);
            char::from(alphabet.get(i).copied().unwrap_or(b'x'))
        })
        .collect()
}

/// Alphabet of Gemini `responseId`s (URL-safe base64).
pub(crate) const ID_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Alphabet of file ids (lowercase alphanumerics).
pub(crate) const LOWER_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Standard base64 (with padding) of `data`.
pub(crate) fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(T[idx]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Value of query parameter `name` (no percent-decoding beyond `%2F`/`%3A`).
pub(crate) fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fakes in one process asking with the same seed in the same microsecond (each numbers its
    /// seeds from 0) get different ids: the calls differ.
    #[test]
    fn ids_from_equal_seeds_at_one_moment_differ_by_call() {
        let ids: std::collections::HashSet<String> = (0..20_000u64)
            .map(|call| random_id_at(3, 1_796_000_000_000_000, call, 12, LOWER_CHARS))
            .collect();
        assert_eq!(ids.len(), 20_000);
        assert_ne!(random_id(3, 12, LOWER_CHARS), random_id(3, 12, LOWER_CHARS));
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(951_782_400_000_001), "2000-02-29T00:00:00.000001Z");
        assert_eq!(
            rfc3339(1_787_314_245_500_000),
            "2026-08-21T12:10:45.500000Z"
        );
        assert_eq!(iso_seconds(1_787_314_245_500_000), "2026-08-21T12:10:45Z");
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn google_line_style() {
        let v = serde_json::json!({"a": [1, 2], "b": {"c": "x"}});
        assert_eq!(google_line(&v), r#"{"a": [1,2],"b": {"c": "x"}}"#);
    }

    #[test]
    fn query_and_fields() {
        assert_eq!(query_param(Some("alt=sse&key=k"), "key"), Some("k"));
        assert_eq!(query_param(Some("alt"), "alt"), Some(""));
        assert_eq!(query_param(None, "alt"), None);
        let v = serde_json::json!({"system_instruction": 1});
        assert!(field(&v, "systemInstruction", "system_instruction").is_some());
    }
}
