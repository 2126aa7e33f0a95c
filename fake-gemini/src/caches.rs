//! Context caching: `POST /{ver}/cachedContents` creates a `CachedContent`, `GET` lists or
//! reads one, `PATCH /{ver}/cachedContents/{id}` changes its expiration (`ttl` or
//! `expireTime`, nothing else), `DELETE` removes it. The resource is what the google-genai SDK's
//! `_CachedContent_from_mldev` reads: `{name: "cachedContents/{id}", displayName?, model:
//! "models/…", createTime, updateTime, expireTime, usageMetadata: {totalTokenCount}}`.
//!
//! The cached token count is the crate's prompt count of `contents` and `systemInstruction`.
//! A cache past its `expireTime` is gone (404), as upstream. A later `generateContent` that
//! names the cache reports its tokens as `cachedContentTokenCount` (see [`cached_tokens`]).
//! A `ttl` is protobuf `Duration` JSON (`"3600s"`, `"1.5s"`); a negative, unparsable or
//! absurd one (past year 9999) is 400 INVALID_ARGUMENT, as are both `ttl` and `expireTime`.

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};

use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::errors::ApiError;
use crate::native::json_response;
use crate::state::{Shared, lock};
use crate::tokens::{content_text, words};
use crate::util::{LOWER_CHARS, field, now_micros, random_id, rfc3339};

/// Caches kept; the oldest is dropped beyond this.
const MAX_STORED: usize = 1024;
/// The default TTL when neither `ttl` nor `expireTime` is given: one hour.
const DEFAULT_TTL_MICROS: u64 = 3600 * 1_000_000;
/// The latest expiration accepted: 9999-12-31T23:59:59Z.
const MAX_EXPIRE_MICROS: u64 = 253_402_300_799 * 1_000_000;

#[derive(Debug, Clone)]
struct Cache {
    name: String,
    display_name: Option<String>,
    model: String,
    tokens: u64,
    created: u64,
    updated: u64,
    expire: u64,
}

#[derive(Default)]
struct Store {
    caches: HashMap<String, Cache>,
    order: VecDeque<String>,
}

static STORE: LazyLock<Mutex<Store>> = LazyLock::new(Mutex::default);

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, msg)
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        403,
        format!("CachedContent not found (or permission denied): {name}"),
    )
}

impl Cache {
    fn json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), self.name.clone().into());
        if let Some(d) = &self.display_name {
            m.insert("displayName".into(), d.clone().into());
        }
        m.insert("model".into(), self.model.clone().into());
        m.insert("createTime".into(), rfc3339(self.created).into());
        m.insert("updateTime".into(), rfc3339(self.updated).into());
        m.insert("expireTime".into(), rfc3339(self.expire).into());
        m.insert(
            "usageMetadata".into(),
            json!({ "totalTokenCount": self.tokens }),
        );
        Value::Object(m)
    }
}

/// Parses a protobuf `Duration` in JSON (`"3600s"`, `"0.5s"`) into microseconds.
pub(crate) fn parse_ttl(v: &Value) -> Result<u64, ApiError> {
    let s = v.as_str().ok_or_else(|| {
        bad(format!(
            "Invalid value at 'cached_content.ttl' ({v}): not a Duration"
        ))
    })?;
    let invalid = || {
        bad(format!(
            "Invalid value at 'cached_content.ttl' ({s:?}): Illegal duration format"
        ))
    };
    let digits = s.trim().strip_suffix('s').ok_or_else(invalid)?;
    if digits.starts_with('-') {
        return Err(bad(format!("ttl must be positive: {s:?}")));
    }
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return Err(invalid());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let secs: u64 = whole.parse().map_err(|_| invalid())?;
    let micros_frac: u64 = format!("{frac:0<6}")[..6].parse().unwrap_or(0);
    secs.checked_mul(1_000_000)
        .and_then(|m| m.checked_add(micros_frac))
        .ok_or_else(invalid)
}

/// Parses an RFC 3339 UTC timestamp (`2026-12-01T10:00:00Z`, fractions allowed, `Z` or an
/// offset) into microseconds since the epoch.
pub(crate) fn parse_time(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        let digits = &r[..n];
        frac = format!("{digits:0<6}").get(..6)?.parse().ok()?;
        rest = &r[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let hh: i64 = o[1..3].parse().ok()?;
            let mm: i64 = o[4..6].parse().ok()?;
            let v = hh * 3600 + mm * 60;
            if o.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(frac as u64)
}

/// The expiration a create or PATCH body asks for, from `now`.
fn expiration(body: &Value, now: u64, required: bool) -> Result<u64, ApiError> {
    let ttl = body.get("ttl");
    let expire = field(body, "expireTime", "expire_time");
    let at = match (ttl, expire) {
        (Some(_), Some(_)) => return Err(bad("Only one of ttl and expire_time may be set.")),
        (Some(t), None) => now
            .checked_add(parse_ttl(t)?)
            .ok_or_else(|| bad("ttl is too large"))?,
        (None, Some(e)) => e.as_str().and_then(parse_time).ok_or_else(|| {
            bad(format!(
                "Invalid value at 'cached_content.expire_time' ({e})"
            ))
        })?,
        (None, None) if required => {
            return Err(bad("Either ttl or expire_time must be set in the update."));
        }
        (None, None) => now + DEFAULT_TTL_MICROS,
    };
    if at > MAX_EXPIRE_MICROS {
        return Err(bad("expire_time is beyond 9999-12-31T23:59:59Z."));
    }
    if at <= now {
        return Err(bad("expire_time must be in the future."));
    }
    Ok(at)
}

/// The tokens a cache of `body` holds: its contents and system instruction.
fn count(body: &Value) -> u64 {
    let mut n: u64 = body
        .get("contents")
        .and_then(Value::as_array)
        .map_or(0, |cs| cs.iter().map(|c| words(&content_text(c))).sum());
    if let Some(si) = field(body, "systemInstruction", "system_instruction") {
        n += words(&content_text(si));
    }
    n.max(1)
}

/// Drops caches past their expiration.
fn sweep(store: &mut Store, now: u64) {
    let Store { caches, order } = store;
    caches.retain(|_, c| c.expire > now);
    order.retain(|k| caches.contains_key(k));
}

/// `POST /{ver}/cachedContents`.
pub(crate) fn create(shared: &Shared, body: &Value) -> Result<Response, ApiError> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| bad("CachedContent.model: model is required"))?;
    let model = if model.starts_with("models/") {
        model.to_owned()
    } else {
        format!("models/{model}")
    };
    let now = now_micros();
    let expire = expiration(body, now, false)?;
    let id = random_id(shared.next_seq(), 16, LOWER_CHARS);
    let cache = Cache {
        name: format!("cachedContents/{id}"),
        display_name: field(body, "displayName", "display_name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        model,
        tokens: count(body),
        created: now,
        updated: now,
        expire,
    };
    let view = cache.json();
    let mut store = lock(&STORE);
    sweep(&mut store, now);
    store.order.push_back(cache.name.clone());
    store.caches.insert(cache.name.clone(), cache);
    while store.order.len() > MAX_STORED {
        if let Some(old) = store.order.pop_front() {
            store.caches.remove(&old);
        }
    }
    Ok(json_response(&view))
}

/// `GET /{ver}/cachedContents/{id}`.
pub(crate) fn get(id: &str) -> Result<Response, ApiError> {
    let name = format!("cachedContents/{id}");
    let mut store = lock(&STORE);
    sweep(&mut store, now_micros());
    let cache = store.caches.get(&name).ok_or_else(|| not_found(&name))?;
    Ok(json_response(&cache.json()))
}

/// `GET /{ver}/cachedContents`: every live cache, oldest first.
pub(crate) fn list() -> Response {
    let mut store = lock(&STORE);
    sweep(&mut store, now_micros());
    let all: Vec<Value> = store
        .order
        .iter()
        .filter_map(|k| store.caches.get(k))
        .map(Cache::json)
        .collect();
    if all.is_empty() {
        return json_response(&Map::new());
    }
    json_response(&json!({ "cachedContents": all }))
}

/// `PATCH /{ver}/cachedContents/{id}`: a new `ttl` (from now) or `expireTime`.
pub(crate) fn update(id: &str, body: &Value) -> Result<Response, ApiError> {
    let name = format!("cachedContents/{id}");
    let now = now_micros();
    let expire = expiration(body, now, true)?;
    let mut store = lock(&STORE);
    sweep(&mut store, now);
    let cache = store
        .caches
        .get_mut(&name)
        .ok_or_else(|| not_found(&name))?;
    cache.expire = expire;
    cache.updated = now;
    Ok(json_response(&cache.json()))
}

/// `DELETE /{ver}/cachedContents/{id}` → `{}`.
pub(crate) fn delete(id: &str) -> Result<Response, ApiError> {
    let name = format!("cachedContents/{id}");
    let mut store = lock(&STORE);
    sweep(&mut store, now_micros());
    if store.caches.remove(&name).is_none() {
        return Err(not_found(&name));
    }
    store.order.retain(|k| *k != name);
    Ok(json_response(&Map::new()))
}

/// The tokens of the live cache `name` (`cachedContents/{id}`), for calls that name it.
pub(crate) fn cached_tokens(name: &str) -> Option<u64> {
    let store = lock(&STORE);
    store
        .caches
        .get(name)
        .filter(|c| c.expire > now_micros())
        .map(|c| c.tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_and_times_parse_strictly() {
        assert_eq!(parse_ttl(&json!("3600s")).ok(), Some(3_600_000_000));
        assert_eq!(parse_ttl(&json!("1.5s")).ok(), Some(1_500_000));
        for bad in ["-5s", "abc", "5", "s", "1.x s", "99999999999999999999s"] {
            assert!(parse_ttl(&json!(bad)).is_err(), "{bad}");
        }
        assert!(parse_ttl(&json!(5)).is_err());
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:01.25Z"), Some(1_250_000));
        assert_eq!(parse_time("1970-01-01T01:00:01+01:00"), Some(1_000_000));
        assert_eq!(
            parse_time(&rfc3339(1_765_000_000_123_456)),
            Some(1_765_000_000_123_456)
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn expiration_rules() {
        let now = 1_000_000;
        assert_eq!(
            expiration(&json!({}), now, false).ok(),
            Some(now + DEFAULT_TTL_MICROS)
        );
        assert!(expiration(&json!({}), now, true).is_err());
        assert!(expiration(&json!({"ttl": "1s", "expireTime": "x"}), now, false).is_err());
        assert!(
            expiration(&json!({"ttl": "400000000000s"}), now, false).is_err(),
            "past 9999"
        );
        assert!(expiration(&json!({"expireTime": "1970-01-01T00:00:00Z"}), now, false).is_err());
    }
}
