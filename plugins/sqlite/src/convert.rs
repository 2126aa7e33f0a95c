//! Conversion of `SpanData` into store rows.

use gateway_plugin_sdk::semconv as sc;
use gateway_store::{MetricRow, SpanRow, TraceRow};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use std::time::{SystemTime, UNIX_EPOCH};

fn unix_nano(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn kind(k: &SpanKind) -> &'static str {
    match k {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

// The JSON is written into a `String`: only `&str`s and ASCII go in, so it needs no UTF-8
// check at the end. Numbers are formatted as serde_json formats them (`itoa`, `zmij`).

fn push_f64(out: &mut String, f: f64) {
    if f.is_finite() {
        out.push_str(zmij::Buffer::new().format_finite(f));
    } else {
        out.push_str("null");
    }
}

fn push_i64(out: &mut String, i: i64) {
    out.push_str(itoa::Buffer::new().format(i));
}

fn push_str(out: &mut String, s: &str) {
    // Most keys and values need no escaping: copied as they are, quoted.
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // A string always serialises.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

/// Whether JSON needs some byte of `s` escaped (a quote, a backslash or a control character).
/// Every byte is tested in 16-byte blocks without a branch per byte (fixed length, so that it
/// is vectorised): the whole blocks, then the last 16 bytes (overlapping the blocks), or for a
/// shorter string a block padded with spaces. A byte-by-byte tail cost more than the blocks for
/// the typical key of 20 to 40 bytes.
fn needs_escape(s: &[u8]) -> bool {
    #[inline(always)]
    fn any_bad(block: &[u8; 16]) -> bool {
        let bad = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
        block.iter().fold(0u8, |any, &b| any | u8::from(bad(b))) != 0
    }
    let Some(start) = s.len().checked_sub(16) else {
        let mut block = [b' '; 16];
        block[..s.len()].copy_from_slice(s);
        return any_bad(&block);
    };
    s.chunks_exact(16)
        .any(|block| block.try_into().is_ok_and(any_bad))
        || s[start..].try_into().is_ok_and(any_bad)
}

/// Lowercase hex of an id's bytes, the form OpenTelemetry displays. `hex::encode` (a `char`
/// iterator collected into a `String`) was 3% of the writer's samples, the id's `Display` (a
/// padded `{:032x}`) some 900 instructions a trace id, and pushing `char`s about 300; this is
/// a table lookup per digit into a stack buffer, then one allocation of the right size.
fn hex_string<const N: usize, const M: usize>(bytes: [u8; N]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; M];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
    // Hex digits are ASCII, so this never falls back.
    std::str::from_utf8(&out)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// A trace id as lowercase hex (32 digits), as it is stored and as `TraceId` displays it.
pub fn trace_hex(id: opentelemetry::trace::TraceId) -> String {
    hex_string::<16, 32>(id.to_bytes())
}

/// A span id as lowercase hex (16 digits), as it is stored and as `SpanId` displays it.
pub fn span_hex(id: opentelemetry::trace::SpanId) -> String {
    hex_string::<8, 16>(id.to_bytes())
}

fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::I64(i) => push_i64(out, *i),
        Value::F64(f) => push_f64(out, *f),
        Value::String(s) => push_str(out, s.as_str()),
        Value::Array(a) => {
            out.push('[');
            match a {
                Array::Bool(v) => join(out, v, |o, b| push_value(o, &Value::Bool(*b))),
                Array::I64(v) => join(out, v, |o, i| push_i64(o, *i)),
                Array::F64(v) => join(out, v, |o, f| push_f64(o, *f)),
                Array::String(v) => join(out, v, |o, s| push_str(o, s.as_str())),
                _ => {}
            }
            out.push(']');
        }
        other => push_str(out, &other.to_string()),
    }
}

fn join<T>(out: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, item);
    }
}

/// One of 64 bits for a key, from its length and two of its bytes: equal keys have equal bits,
/// so a key whose bit no later key set is not repeated later. With the gateway's keys (20 to 25
/// on a span) three or four keys a span share their bit with a later one and are compared.
/// (128 bits halved those comparisons but cost more than they saved.)
fn key_bit(key: &[u8]) -> u64 {
    let n = key.len();
    let mid = key.get(n / 2).copied().map_or(0, usize::from);
    let last = key.last().copied().map_or(0, usize::from);
    1 << ((n.wrapping_mul(5) ^ mid.wrapping_mul(3) ^ last) & 63)
}

fn write_attributes(out: &mut String, attrs: &[KeyValue]) {
    out.push('{');
    let mut first = true;
    // Later values of a key win, as when they were set; each key is written once. Only a key
    // whose bit a later key set is compared with the later keys.
    let mut later_bits = 0u64;
    for (i, kv) in attrs.iter().enumerate().rev() {
        let key = kv.key.as_str();
        let bit = key_bit(key.as_bytes());
        if later_bits & bit != 0 && attrs[i + 1..].iter().any(|later| later.key.as_str() == key) {
            continue;
        }
        later_bits |= bit;
        if !first {
            out.push(',');
        }
        first = false;
        push_str(out, key);
        out.push(':');
        push_value(out, &kv.value);
    }
    out.push('}');
}

/// Serialises attributes as one JSON object (later keys win), without intermediate values.
pub fn attributes_json(attrs: &[KeyValue]) -> String {
    let mut out = String::with_capacity(64 + attrs.len() * 48);
    write_attributes(&mut out, attrs);
    out
}

/// Converts one span.
pub fn span_row(span: &SpanData) -> SpanRow {
    let (status_code, status_message) = match &span.status {
        Status::Unset => ("unset", None),
        Status::Ok => ("ok", None),
        Status::Error { description } => ("error", Some(description.to_string())),
    };
    let mut events = String::with_capacity(2 + span.events.len() * 128);
    events.push('[');
    // A `gateway.metric` event that is a `metric_snapshots` row ([`metric_rows`]) is stored
    // there only: the row holds all of it.
    for e in span.events.iter().filter(|e| !is_metric_row(e)) {
        if events.len() > 1 {
            events.push(',');
        }
        events.push_str("{\"name\":");
        push_str(&mut events, &e.name);
        events.push_str(",\"time_unix_nano\":");
        push_i64(&mut events, unix_nano(e.timestamp));
        events.push_str(",\"attributes\":");
        write_attributes(&mut events, &e.attributes);
        events.push('}');
    }
    events.push(']');
    let parent = span.parent_span_id;
    SpanRow {
        span_id: span_hex(span.span_context.span_id()),
        trace_id: trace_hex(span.span_context.trace_id()),
        parent_span_id: (parent != opentelemetry::trace::SpanId::INVALID).then(|| span_hex(parent)),
        name: span.name.to_string(),
        kind: kind(&span.span_kind),
        start_time_unix_nano: unix_nano(span.start_time),
        end_time_unix_nano: unix_nano(span.end_time),
        status_code,
        status_message,
        attributes_json: attributes_json(&span.attributes),
        events_json: events,
    }
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .rev()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match find(attrs, key)? {
        Value::I64(i) => Some(*i),
        Value::F64(f) => Some(*f as i64),
        _ => None,
    }
}

fn float(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match find(attrs, key)? {
        Value::F64(f) => Some(*f),
        Value::I64(i) => Some(*i as f64),
        _ => None,
    }
}

fn string(attrs: &[KeyValue], key: &str) -> Option<String> {
    match find(attrs, key)? {
        Value::String(s) => Some(s.as_str().to_owned()),
        other => Some(other.to_string()),
    }
}

fn boolean(attrs: &[KeyValue], key: &str) -> bool {
    matches!(find(attrs, key), Some(Value::Bool(true)))
}

/// Whether `span` is a gateway root span (a SERVER span with `gateway.status`), the carrier of
/// one request's trace summary.
pub(crate) fn is_trace_root(span: &SpanData) -> bool {
    span.span_kind == SpanKind::Server && find(&span.attributes, sc::GATEWAY_STATUS).is_some()
}

/// The trace summary carried by a gateway root span (a SERVER span with `gateway.status`), if
/// this is one.
pub fn trace_row(span: &SpanData) -> Option<TraceRow> {
    if span.span_kind != SpanKind::Server {
        return None;
    }
    let a = &span.attributes;
    let status = string(a, sc::GATEWAY_STATUS)?;
    let input_tokens = int(a, sc::GEN_AI_USAGE_INPUT_TOKENS);
    let output_tokens = int(a, sc::GEN_AI_USAGE_OUTPUT_TOKENS);
    let cost_usd = float(a, sc::GATEWAY_COST_USD);
    let unpriced = unpriced(
        a,
        &status,
        cost_usd,
        input_tokens.or(output_tokens).is_some(),
    );
    Some(TraceRow {
        trace_id: trace_hex(span.span_context.trace_id()),
        start_time_unix_nano: unix_nano(span.start_time),
        end_time_unix_nano: unix_nano(span.end_time),
        model: string(a, sc::GEN_AI_REQUEST_MODEL),
        operation: string(a, sc::GEN_AI_OPERATION_NAME),
        stream: boolean(a, sc::GEN_AI_REQUEST_STREAM),
        http_status: int(a, sc::HTTP_RESPONSE_STATUS_CODE),
        status,
        error_type: string(a, sc::ERROR_TYPE),
        input_tokens,
        output_tokens,
        cached_tokens: int(a, sc::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        reasoning_tokens: int(a, sc::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
        ttft_ms: float(a, sc::GATEWAY_TTFT_MS),
        cost_usd,
        unpriced,
        user_id: string(a, sc::USER_ID),
        session_id: string(a, sc::SESSION_ID),
    })
}

/// Whether a gateway root span is unpriced, by the store's one rule
/// ([`gateway_store::is_unpriced`]).
fn unpriced(a: &[KeyValue], status: &str, cost_usd: Option<f64>, has_usage: bool) -> bool {
    let metering = match find(a, sc::GATEWAY_METERING) {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    gateway_store::is_unpriced(&gateway_store::Pricing {
        flagged: boolean(a, sc::GATEWAY_COST_UNPRICED),
        cost_usd,
        has_usage,
        metering,
        status,
    })
}

/// Whether a gateway root span (see [`trace_row`]) is unpriced: what `gateway_unpriced_calls_total`
/// counts, by the rule its `traces` row is written with.
pub fn is_unpriced_root(span: &SpanData) -> bool {
    if !is_trace_root(span) {
        return false;
    }
    let a = &span.attributes;
    let status = string(a, sc::GATEWAY_STATUS).unwrap_or_default();
    let usage = int(a, sc::GEN_AI_USAGE_INPUT_TOKENS)
        .or(int(a, sc::GEN_AI_USAGE_OUTPUT_TOKENS))
        .is_some();
    unpriced(a, &status, float(a, sc::GATEWAY_COST_USD), usage)
}

pub use gateway_store::{METRIC_EVENT, METRIC_LLM_SPAN_ID};

/// The `metric_snapshots` rows carried by a span's `gateway.metric` events. Each row records
/// the id of that span (the gateway puts the events on its `post_processing` span), the LLM
/// call the value measures (the event's [`METRIC_LLM_SPAN_ID`], a 16-digit hex id; anything
/// else is left out) and the request's root span (the carrying span's parent), from which the
/// writer derives the request's position in a merged trace (see docs/schema.md).
pub fn metric_rows(span: &SpanData, out: &mut Vec<MetricRow>) {
    let mut events = span
        .events
        .iter()
        .filter(|e| e.name == METRIC_EVENT)
        .peekable();
    // Most spans carry none: their ids are not hexed for nothing.
    if events.peek().is_none() {
        return;
    }
    let span_id = span_hex(span.span_context.span_id());
    let parent = span.parent_span_id;
    let request_span_id =
        (parent != opentelemetry::trace::SpanId::INVALID).then(|| span_hex(parent));
    let mut trace_id = None;
    for e in events {
        let a = &e.attributes;
        // The rule of `is_metric_row`, which leaves the same events out of `spans.events`.
        let (Some(metric), Some(value)) = (string(a, "metric"), float(a, "value")) else {
            continue;
        };
        let threshold = float(a, "threshold");
        out.push(MetricRow {
            trace_id: trace_id
                .get_or_insert_with(|| trace_hex(span.span_context.trace_id()))
                .clone(),
            metric,
            value,
            threshold,
            breached: threshold.is_some_and(|t| value > t),
            model: string(a, "model"),
            created_at_unix_nano: unix_nano(e.timestamp),
            span_id: Some(span_id.clone()),
            llm_span_id: string(a, METRIC_LLM_SPAN_ID).filter(|id| is_span_id(id)),
            request_span_id: request_span_id.clone(),
        });
    }
}

/// The event is a [`METRIC_EVENT`] with a metric and a value: a `metric_snapshots` row (the
/// events [`metric_rows`] turns into rows). The row keeps every attribute the gateway gives
/// such an event (metric, value, threshold, breached, model, [`METRIC_LLM_SPAN_ID`]) and its
/// time.
fn is_metric_row(e: &opentelemetry::trace::Event) -> bool {
    e.name == METRIC_EVENT
        && find(&e.attributes, "metric").is_some()
        && float(&e.attributes, "value").is_some()
}

/// 16 lowercase hex digits, not all zero (a valid W3C span id).
fn is_span_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && id.bytes().any(|b| b != b'0')
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod span_tests;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_are_written_as_opentelemetry_displays_them() {
        use opentelemetry::trace::{SpanId, TraceId};
        for t in [1u128, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210, u128::MAX] {
            assert_eq!(trace_hex(TraceId::from(t)), TraceId::from(t).to_string());
        }
        for s in [1u64, 0x00ab_cdef_0123_4567, u64::MAX] {
            assert_eq!(span_hex(SpanId::from(s)), SpanId::from(s).to_string());
        }
    }

    /// The block test agrees with a byte-by-byte one for every length up to three blocks and
    /// a bad byte at each position (or none).
    #[test]
    fn needs_escape_finds_every_byte_that_json_escapes() {
        for len in 0..50 {
            for bad_at in (0..len).map(Some).chain([None]) {
                for bad in [b'"', b'\\', b'\n', 0x00, 0x1f] {
                    let mut s = vec![b'a'; len];
                    if let Some(i) = bad_at {
                        s[i] = bad;
                    }
                    // Bytes just outside the escaped ranges never count.
                    for (i, b) in s.iter_mut().enumerate() {
                        if Some(i) != bad_at && i % 3 == 0 {
                            *b = [b' ', b'!', b'#', b'[', b']', 0x7f, 0xc3][i % 7];
                        }
                    }
                    let want = s.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
                    assert_eq!(needs_escape(&s), want, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn attributes_are_valid_json_and_later_keys_win() {
        let attrs = vec![
            KeyValue::new("a", "first"),
            KeyValue::new("q", "quote \" and \\ and \n and é"),
            KeyValue::new("plain", "gemini-2.5-flash é"),
            KeyValue::new("ctl", "tab\there\u{1f}"),
            KeyValue::new("n", 3),
            KeyValue::new("f", f64::NAN),
            KeyValue::new("x", 1.5),
            KeyValue::new(
                "list",
                Value::Array(vec![opentelemetry::StringValue::from("STOP")].into()),
            ),
            KeyValue::new("a", "second"),
        ];
        let v: serde_json::Value = serde_json::from_str(&attributes_json(&attrs)).unwrap();
        assert_eq!(v["a"], "second");
        assert_eq!(v["q"], "quote \" and \\ and \n and é");
        assert_eq!((v["n"].as_i64(), v["x"].as_f64()), (Some(3), Some(1.5)));
        assert!(v["f"].is_null());
        assert_eq!(v["list"][0], "STOP");
        assert_eq!(v["plain"], "gemini-2.5-flash é");
        assert_eq!(v["ctl"], "tab\there\u{1f}");
        assert_eq!(v.as_object().unwrap().len(), 8);
    }

    /// Among many keys, some set up to three times, each key is written once, with its last
    /// value.
    #[test]
    fn each_key_is_written_once_with_its_last_value_among_many() {
        let keys: Vec<String> = (0..700)
            .map(|i| match i % 3 {
                0 => format!("k{i}"),
                1 => format!("gateway.attribute.number.{i}.value"),
                _ => format!("{}{i}", "x".repeat(i % 40)),
            })
            .collect();
        let mut attrs = Vec::new();
        let mut last = std::collections::HashMap::new();
        for round in 0..3i64 {
            for (i, k) in keys.iter().enumerate() {
                // Round 1 sets the keys with i % 3 == 1 again, round 2 those with i % 3 == 2.
                if round == 0 || i % 3 == round as usize {
                    attrs.push(KeyValue::new(k.clone(), round * 1000 + i as i64));
                    last.insert(k.clone(), round * 1000 + i as i64);
                }
            }
        }
        let text = attributes_json(&attrs);
        for k in &keys {
            assert_eq!(text.matches(&format!("\"{k}\":")).count(), 1, "{k}");
        }
        let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(v.len(), keys.len());
        for (k, n) in &last {
            assert_eq!(v[k], *n, "{k}");
        }
    }

    /// Different keys that share a bit are both written; the same key under the same bit is
    /// written once, with its last value.
    #[test]
    fn keys_sharing_a_bit_are_told_apart() {
        let keys: Vec<String> = (0..200).map(|i| format!("gen_ai.k{i}")).collect();
        let (a, b) = keys
            .iter()
            .enumerate()
            .find_map(|(i, a)| {
                keys[i + 1..]
                    .iter()
                    .find(|b| key_bit(b.as_bytes()) == key_bit(a.as_bytes()))
                    .map(|b| (a.clone(), b.clone()))
            })
            .unwrap();
        let attrs = vec![
            KeyValue::new(a.clone(), 1),
            KeyValue::new(b.clone(), 2),
            KeyValue::new(a.clone(), 3),
        ];
        let v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&attributes_json(&attrs)).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!((v[&a].as_i64(), v[&b].as_i64()), (Some(3), Some(2)));
    }

    /// Every byte that needs escaping is found at every position, in the 16-byte blocks and in
    /// the tail alike, and strings without one are copied as they are.
    #[test]
    fn strings_are_escaped_wherever_the_byte_is() {
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100] {
            let clean = "é".repeat(len / 2) + &"a".repeat(len % 2);
            let mut out = String::new();
            push_str(&mut out, &clean);
            assert_eq!(out, format!("\"{clean}\""));
            for at in 0..clean.len().max(1) {
                for bad in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
                    let mut s: Vec<char> = "a".repeat(clean.len().max(1)).chars().collect();
                    s[at] = bad;
                    let s: String = s.into_iter().collect();
                    let mut out = String::new();
                    push_str(&mut out, &s);
                    let back: String = serde_json::from_str(&out).unwrap();
                    assert_eq!(back, s, "len {len}, {bad:?} at {at}");
                }
            }
        }
    }

    #[test]
    fn integers_are_written_whole() {
        for i in [0i64, -1, 42, i64::MIN, i64::MAX] {
            let mut out = String::new();
            push_value(&mut out, &Value::I64(i));
            assert_eq!(out, i.to_string());
        }
    }

    /// Numbers come out exactly as serde_json writes them, non-finite floats as `null`.
    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        let floats = [
            0.0,
            -0.0,
            1.5,
            2.8e-6,
            0.1 + 0.2,
            1e21,
            1e-7,
            123_456_789.012_345_68,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for f in floats {
            let mut out = String::new();
            push_value(&mut out, &Value::F64(f));
            assert_eq!(out, serde_json::to_string(&f).unwrap(), "{f:e}");
            let mut list = String::new();
            push_value(&mut list, &Value::Array(vec![f, f].into()));
            assert_eq!(list, serde_json::to_string(&[f, f]).unwrap(), "{f:e}");
        }
        for i in [0i64, 7, -300, i64::MIN, i64::MAX] {
            let mut list = String::new();
            push_value(&mut list, &Value::Array(vec![i, i].into()));
            assert_eq!(list, serde_json::to_string(&[i, i]).unwrap());
        }
    }
}
