//! Received OTLP spans into `SpanData` for the gateway's span writer: checked, clipped and
//! counted. Nothing here trusts the sender.
//!
//! - A span with a malformed or zero trace or span id, a malformed parent id, or a start
//!   outside [`EARLIEST_NANOS`] .. now + [`FUTURE_SLACK`] (1970, 2200) is **rejected** and
//!   counted in the response's `partialSuccess.rejectedSpans`, with the first reason.
//! - An end before the start is set to the start; a span that is its own parent, or closes a
//!   parent cycle within the request, loses that parent (the waterfall also survives cycles
//!   across requests).
//! - Names, keys and string values longer than the limits below are cut; attributes and
//!   events past their count limits are left out; `gateway.*` attributes and `gateway.metric`
//!   events are the gateway's own and are left out (a client cannot forge a trace summary, a
//!   cost or a metric snapshot). Every cut or omission is counted on the span
//!   (`gateway.span.clipped`) and on `/metrics`.

use gateway_plugin_sdk::semconv as sc;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::trace::v1 as proto;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest span or event name kept, in bytes.
pub const MAX_NAME: usize = 512;
/// Longest attribute key kept, in bytes.
pub const MAX_KEY: usize = 256;
/// Longest string value kept, in bytes (arrays and maps are JSON text under the same cap).
pub const MAX_VALUE: usize = 8192;
/// Attributes kept per span (and per event).
pub const MAX_ATTRIBUTES: usize = 128;
/// Events kept per span.
pub const MAX_EVENTS: usize = 128;
/// Earliest start accepted: 2000-01-01T00:00:00Z.
pub const EARLIEST_NANOS: u64 = 946_684_800_000_000_000;
/// How far past the receiver's clock a span may end (clock skew).
pub const FUTURE_SLACK: Duration = Duration::from_secs(24 * 3600);

/// What one request turned into.
#[derive(Debug, Default)]
pub struct Converted {
    /// Spans to store.
    pub spans: Vec<SpanData>,
    /// Spans refused.
    pub rejected: u64,
    /// The first reason a span was refused.
    pub first_rejection: Option<String>,
    /// Attributes, events, names or values cut or left out.
    pub clipped: u64,
    /// Parent links removed to break a cycle.
    pub cycles_broken: u64,
}

/// Spans in a request.
pub fn span_count(req: &ExportTraceServiceRequest) -> usize {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

fn cut(s: &mut String, max: usize, clipped: &mut u64) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        *clipped += 1;
    }
}

fn json(v: &common::AnyValue) -> serde_json::Value {
    use common::any_value::Value as V;
    match &v.value {
        Some(V::StringValue(s)) => s.as_str().into(),
        Some(V::BoolValue(b)) => (*b).into(),
        Some(V::IntValue(i)) => (*i).into(),
        Some(V::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or(serde_json::Value::Null, Into::into)
        }
        Some(V::ArrayValue(a)) => a.values.iter().map(json).collect(),
        Some(V::KvlistValue(l)) => l
            .values
            .iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    kv.value.as_ref().map_or(serde_json::Value::Null, json),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Some(V::BytesValue(b)) => b
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
            .into(),
        // A dictionary index: this receiver does not take dictionary-encoded requests.
        Some(V::StringValueStrindex(_)) | None => serde_json::Value::Null,
    }
}

fn value(v: &common::AnyValue, clipped: &mut u64) -> Option<Value> {
    use common::any_value::Value as V;
    let string = |mut s: String, clipped: &mut u64| {
        cut(&mut s, MAX_VALUE, clipped);
        Value::String(s.into())
    };
    Some(match v.value.as_ref()? {
        V::StringValue(s) => string(s.clone(), clipped),
        V::BoolValue(b) => Value::Bool(*b),
        V::IntValue(i) => Value::I64(*i),
        V::DoubleValue(d) => Value::F64(*d),
        V::ArrayValue(a)
            if a.values
                .iter()
                .all(|x| matches!(x.value, Some(V::StringValue(_)))) =>
        {
            let mut total = 0usize;
            let mut items: Vec<StringValue> = Vec::new();
            for x in &a.values {
                let Some(V::StringValue(s)) = &x.value else {
                    continue;
                };
                if total + s.len() > MAX_VALUE || items.len() >= MAX_ATTRIBUTES {
                    *clipped += 1;
                    break;
                }
                total += s.len();
                items.push(s.clone().into());
            }
            Value::Array(Array::String(items))
        }
        // Other arrays, maps and bytes are kept as JSON text.
        _ => string(json(v).to_string(), clipped),
    })
}

fn attributes(kvs: &[common::KeyValue], clipped: &mut u64, out: &mut Vec<KeyValue>) {
    for kv in kvs {
        if kv.key.starts_with("gateway.") || kv.key.is_empty() {
            *clipped += 1;
            continue;
        }
        if out.len() >= MAX_ATTRIBUTES {
            *clipped += 1;
            continue;
        }
        let Some(v) = kv.value.as_ref().and_then(|v| value(v, clipped)) else {
            continue;
        };
        let mut key = kv.key.clone();
        cut(&mut key, MAX_KEY, clipped);
        out.push(KeyValue::new(key, v));
    }
}

fn kind(k: i32) -> SpanKind {
    match k {
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Internal,
    }
}

fn id<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    let a: [u8; N] = bytes.try_into().ok()?;
    (a != [0; N]).then_some(a)
}

fn time(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// Trace id, span id and parent id of a span that passed the checks.
type Ids = ([u8; 16], [u8; 8], Option<[u8; 8]>);

fn check(s: &proto::Span, latest: u64) -> Result<Ids, String> {
    let trace = id::<16>(&s.trace_id).ok_or("trace id is not 16 non-zero bytes")?;
    let span = id::<8>(&s.span_id).ok_or("span id is not 8 non-zero bytes")?;
    let parent = match s.parent_span_id.len() {
        0 => None,
        8 => id::<8>(&s.parent_span_id),
        _ => return Err("parent span id is not 8 bytes".into()),
    };
    if s.start_time_unix_nano < EARLIEST_NANOS {
        return Err(format!(
            "start {} ns is before 2000-01-01 (a zero or unset timestamp?)",
            s.start_time_unix_nano
        ));
    }
    if s.start_time_unix_nano > latest || s.end_time_unix_nano > latest {
        return Err(format!(
            "span ends after {latest} ns, more than a day past the receiver's clock"
        ));
    }
    Ok((trace, span, parent))
}

/// Converts, checks and clips every span of `req`.
pub fn convert(req: ExportTraceServiceRequest, now: SystemTime) -> Converted {
    let latest = (now + FUTURE_SLACK)
        .duration_since(UNIX_EPOCH)
        .map_or(u64::MAX, |d| d.as_nanos().min(u128::from(u64::MAX)) as u64);
    let mut out = Converted::default();
    for rs in req.resource_spans {
        let mut service = None;
        if let Some(r) = &rs.resource {
            for kv in &r.attributes {
                if kv.key == sc::SERVICE_NAME
                    && let Some(Value::String(s)) =
                        kv.value.as_ref().and_then(|v| value(v, &mut out.clipped))
                {
                    service = Some(s);
                }
            }
        }
        for ss in rs.scope_spans {
            let scope = ss.scope.map_or_else(
                || InstrumentationScope::builder("unknown").build(),
                |s| {
                    let (mut name, mut version) = (s.name, s.version);
                    cut(&mut name, MAX_NAME, &mut out.clipped);
                    cut(&mut version, MAX_NAME, &mut out.clipped);
                    InstrumentationScope::builder(name)
                        .with_version(version)
                        .build()
                },
            );
            for s in ss.spans {
                let (trace, span, parent) = match check(&s, latest) {
                    Ok(ids) => ids,
                    Err(reason) => {
                        out.rejected += 1;
                        out.first_rejection.get_or_insert(reason);
                        continue;
                    }
                };
                let mut clipped = 0u64;
                let mut name = s.name;
                cut(&mut name, MAX_NAME, &mut clipped);
                let mut attrs = Vec::with_capacity(s.attributes.len().min(MAX_ATTRIBUTES) + 4);
                attributes(&s.attributes, &mut clipped, &mut attrs);
                let mut events = SpanEvents::default();
                for e in s.events {
                    if e.name.starts_with("gateway.") || events.events.len() >= MAX_EVENTS {
                        clipped += 1;
                        events.dropped_count += 1;
                        continue;
                    }
                    let mut ename = e.name;
                    cut(&mut ename, MAX_NAME, &mut clipped);
                    let mut ea = Vec::new();
                    attributes(&e.attributes, &mut clipped, &mut ea);
                    let at = e.time_unix_nano.clamp(s.start_time_unix_nano, latest);
                    events
                        .events
                        .push(opentelemetry::trace::Event::new(ename, time(at), ea, 0));
                }
                let end = s.end_time_unix_nano.max(s.start_time_unix_nano);
                if end != s.end_time_unix_nano {
                    clipped += 1;
                }
                let status = match s.status {
                    Some(st) if st.code == 2 => {
                        let mut m = st.message;
                        cut(&mut m, MAX_VALUE, &mut clipped);
                        Status::error(m)
                    }
                    Some(st) if st.code == 1 => Status::Ok,
                    _ => Status::Unset,
                };
                attrs.push(KeyValue::new(sc::GATEWAY_SPAN_SOURCE, sc::SPAN_SOURCE_OTLP));
                if let Some(svc) = &service {
                    attrs.push(KeyValue::new(sc::SERVICE_NAME, svc.clone()));
                }
                if clipped > 0 {
                    attrs.push(KeyValue::new(sc::GATEWAY_SPAN_CLIPPED, clipped as i64));
                }
                out.clipped += clipped;
                out.spans.push(SpanData {
                    span_context: SpanContext::new(
                        TraceId::from_bytes(trace),
                        SpanId::from_bytes(span),
                        TraceFlags::SAMPLED,
                        true,
                        TraceState::NONE,
                    ),
                    parent_span_id: parent.map_or(SpanId::INVALID, SpanId::from_bytes),
                    parent_span_is_remote: false,
                    span_kind: kind(s.kind),
                    name: name.into(),
                    start_time: time(s.start_time_unix_nano),
                    end_time: time(end),
                    dropped_attributes_count: s.dropped_attributes_count,
                    attributes: attrs,
                    events,
                    links: SpanLinks::default(),
                    status,
                    instrumentation_scope: scope.clone(),
                });
            }
        }
    }
    out.cycles_broken = break_cycles(&mut out.spans);
    out
}

/// Removes the parent link that closes each parent cycle among `spans` (a span that is its own
/// parent included). Returns how many links were removed.
pub fn break_cycles(spans: &mut [SpanData]) -> u64 {
    let key = |s: &SpanData| (s.span_context.trace_id(), s.span_context.span_id());
    let index: HashMap<(TraceId, SpanId), usize> =
        spans.iter().enumerate().map(|(i, s)| (key(s), i)).collect();
    // 0 = unvisited, 1 = on the current walk, 2 = done.
    let mut state = vec![0u8; spans.len()];
    let mut broken = 0;
    for start in 0..spans.len() {
        let mut path = Vec::new();
        let mut i = start;
        loop {
            if state[i] == 2 {
                break;
            }
            if state[i] == 1 {
                // `i` is on this walk: the last span of the path points back into it.
                if let Some(&last) = path.last() {
                    let s: &mut SpanData = &mut spans[last];
                    s.parent_span_id = SpanId::INVALID;
                    broken += 1;
                }
                break;
            }
            state[i] = 1;
            path.push(i);
            let s = &spans[i];
            match index.get(&(s.span_context.trace_id(), s.parent_span_id)) {
                Some(&p) if s.parent_span_id != SpanId::INVALID => i = p,
                _ => break,
            }
        }
        for p in path {
            state[p] = 2;
        }
    }
    broken
}
