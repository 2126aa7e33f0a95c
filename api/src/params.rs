//! Query-string extraction and validation that name the offending parameter.
//!
//! Handlers take `ApiQuery<T>` where `T` has only `Option<String>` fields, then convert each
//! field with the helpers here, so every rejection is a 400 `invalid parameter '<name>': ...`.

use crate::error::AppError;
use crate::time::{parse_duration, parse_time};
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Like [`axum::extract::Query`], but malformed query strings are an [`AppError`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e| AppError::BadRequest(format!("invalid query string: {}", e.body_text())))
    }
}

/// A page size: a positive integer, `default` when absent, capped at `max`.
pub fn limit(name: &'static str, v: Option<&str>, default: u32, max: u32) -> Result<u32, AppError> {
    let Some(v) = v else { return Ok(default) };
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::param(name, "expected a positive integer"));
    }
    // All digits: an overflow only means "more than the cap".
    let n = v.parse::<u64>().unwrap_or(u64::MAX);
    if n == 0 {
        return Err(AppError::param(name, "must be at least 1"));
    }
    Ok(n.min(u64::from(max)) as u32)
}

/// A time: unix nanoseconds or RFC 3339.
pub fn time(name: &'static str, v: Option<&str>) -> Result<Option<i64>, AppError> {
    v.map(|s| parse_time(s).map_err(|e| AppError::param(name, e)))
        .transpose()
}

/// A duration like `15m`, `1h`, `24h`, `7d`, in nanoseconds.
pub fn duration(name: &'static str, v: Option<&str>, default: &str) -> Result<i64, AppError> {
    parse_duration(v.unwrap_or(default)).map_err(|e| AppError::param(name, e))
}

/// A finite, non-negative number.
pub fn non_negative(name: &'static str, v: Option<&str>) -> Result<Option<f64>, AppError> {
    let Some(s) = v else { return Ok(None) };
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 => Ok(Some(f)),
        _ => Err(AppError::param(name, "expected a finite number >= 0")),
    }
}

/// `true`/`false` (also `1`/`0`).
pub fn boolean(name: &'static str, v: Option<&str>) -> Result<Option<bool>, AppError> {
    match v {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(_) => Err(AppError::param(name, "expected true or false")),
    }
}

/// One of a fixed set of words.
pub fn one_of<'a>(
    name: &'static str,
    v: Option<&'a str>,
    allowed: &[&'static str],
) -> Result<Option<&'a str>, AppError> {
    match v {
        Some(s) if !allowed.contains(&s) => Err(AppError::param(
            name,
            format!("expected one of {}", allowed.join(", ")),
        )),
        other => Ok(other),
    }
}

/// A window `[since, until)`: explicit `since`/`until`, or `until` (default now) minus `window`.
pub fn window(
    window: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
    default: &str,
    now: i64,
) -> Result<(i64, i64), AppError> {
    let until = self::time("until", until)?.unwrap_or(now.saturating_add(1));
    let since = match self::time("since", since)? {
        Some(s) => s,
        None => until.saturating_sub(duration("window", window, default)?),
    };
    if since >= until {
        return Err(AppError::param("since", "must be before until"));
    }
    Ok((since.max(0), until))
}

/// The 32-lowercase-hex-digit form of a trace id.
pub fn trace_id(v: &str) -> Result<(), AppError> {
    if v.len() == 32 && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(AppError::param(
            "trace_id",
            "expected 32 lowercase hex digits",
        ))
    }
}
