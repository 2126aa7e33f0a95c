//! OTLP/JSON (`application/json`) into the protobuf message types, so both encodings share one
//! conversion. Follows the OTLP/HTTP JSON mapping: lowerCamelCase keys (snake_case accepted),
//! trace and span ids as hex, 64-bit integers as strings or numbers, enums as integers (names
//! accepted). Unknown fields are ignored, as the specification asks.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Request {
    #[serde(alias = "resource_spans")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ResourceSpans {
    resource: Option<Attrs>,
    #[serde(alias = "scope_spans")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Attrs {
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Scope {
    name: String,
    version: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ScopeSpans {
    scope: Option<Scope>,
    spans: Vec<Span>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Span {
    #[serde(alias = "trace_id")]
    trace_id: String,
    #[serde(alias = "span_id")]
    span_id: String,
    #[serde(alias = "parent_span_id")]
    parent_span_id: String,
    name: String,
    kind: Enum,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: U64,
    #[serde(alias = "end_time_unix_nano")]
    end_time_unix_nano: U64,
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: u32,
    events: Vec<Event>,
    status: Option<Status>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Event {
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: U64,
    name: String,
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Status {
    code: Enum,
    message: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyValue {
    key: String,
    value: Option<AnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct AnyValue {
    #[serde(alias = "string_value")]
    string_value: Option<String>,
    #[serde(alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(alias = "int_value")]
    int_value: Option<I64>,
    #[serde(alias = "double_value")]
    double_value: Option<f64>,
    #[serde(alias = "array_value")]
    array_value: Option<ArrayValue>,
    #[serde(alias = "kvlist_value")]
    kvlist_value: Option<Attrs2>,
    #[serde(alias = "bytes_value")]
    bytes_value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ArrayValue {
    values: Vec<AnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Attrs2 {
    values: Vec<KeyValue>,
}

/// A 64-bit unsigned integer written as a string or a number.
#[derive(Default)]
struct U64(u64);

/// A 64-bit signed integer written as a string or a number.
struct I64(i64);

/// An enum written as its number or its name (`SPAN_KIND_CLIENT`, `STATUS_CODE_ERROR`).
#[derive(Default)]
struct Enum(i32);

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n.as_u64().map(U64),
            serde_json::Value::String(s) => s.parse().ok().map(U64),
            serde_json::Value::Null => Some(U64(0)),
            _ => None,
        }
        .ok_or_else(|| serde::de::Error::custom("expected an unsigned 64-bit integer"))
    }
}

impl<'de> Deserialize<'de> for I64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n.as_i64().map(I64),
            serde_json::Value::String(s) => s.parse().ok().map(I64),
            _ => None,
        }
        .ok_or_else(|| serde::de::Error::custom("expected a signed 64-bit integer"))
    }
}

impl<'de> Deserialize<'de> for Enum {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = [
            ("SPAN_KIND_UNSPECIFIED", 0),
            ("SPAN_KIND_INTERNAL", 1),
            ("SPAN_KIND_SERVER", 2),
            ("SPAN_KIND_CLIENT", 3),
            ("SPAN_KIND_PRODUCER", 4),
            ("SPAN_KIND_CONSUMER", 5),
            ("STATUS_CODE_UNSET", 0),
            ("STATUS_CODE_OK", 1),
            ("STATUS_CODE_ERROR", 2),
        ];
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
            serde_json::Value::String(s) => names.iter().find(|(n, _)| *n == s).map(|(_, v)| *v),
            serde_json::Value::Null => Some(0),
            _ => None,
        }
        .map(Enum)
        .ok_or_else(|| serde::de::Error::custom("expected an enum number or name"))
    }
}

/// Hex ids; a malformed id becomes bytes of the wrong length, refused per span later.
fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|_| vec![0xff; 3])
}

fn value(v: AnyValue) -> common::AnyValue {
    use common::any_value::Value as V;
    let value = if let Some(s) = v.string_value {
        Some(V::StringValue(s))
    } else if let Some(b) = v.bool_value {
        Some(V::BoolValue(b))
    } else if let Some(i) = v.int_value {
        Some(V::IntValue(i.0))
    } else if let Some(d) = v.double_value {
        Some(V::DoubleValue(d))
    } else if let Some(a) = v.array_value {
        Some(V::ArrayValue(common::ArrayValue {
            values: a.values.into_iter().map(value).collect(),
        }))
    } else if let Some(l) = v.kvlist_value {
        Some(V::KvlistValue(common::KeyValueList {
            values: attrs(l.values),
        }))
    } else {
        v.bytes_value.map(|b| V::BytesValue(b.into_bytes()))
    };
    common::AnyValue { value }
}

fn attrs(v: Vec<KeyValue>) -> Vec<common::KeyValue> {
    v.into_iter()
        .map(|kv| common::KeyValue {
            key: kv.key,
            value: kv.value.map(value),
            ..Default::default()
        })
        .collect()
}

/// Parses an OTLP/JSON export request.
pub(crate) fn decode(body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    let req: Request =
        serde_json::from_slice(body).map_err(|e| format!("invalid OTLP/JSON: {e}"))?;
    Ok(ExportTraceServiceRequest {
        resource_spans: req
            .resource_spans
            .into_iter()
            .map(|rs| trace::ResourceSpans {
                resource: rs.resource.map(|r| Resource {
                    attributes: attrs(r.attributes),
                    ..Default::default()
                }),
                scope_spans: rs
                    .scope_spans
                    .into_iter()
                    .map(|ss| trace::ScopeSpans {
                        scope: ss.scope.map(|s| common::InstrumentationScope {
                            name: s.name,
                            version: s.version,
                            ..Default::default()
                        }),
                        spans: ss.spans.into_iter().map(span).collect(),
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    })
}

fn span(s: Span) -> trace::Span {
    trace::Span {
        trace_id: hex(&s.trace_id),
        span_id: hex(&s.span_id),
        parent_span_id: hex(&s.parent_span_id),
        name: s.name,
        kind: s.kind.0,
        start_time_unix_nano: s.start_time_unix_nano.0,
        end_time_unix_nano: s.end_time_unix_nano.0,
        attributes: attrs(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .into_iter()
            .map(|e| trace::span::Event {
                time_unix_nano: e.time_unix_nano.0,
                name: e.name,
                attributes: attrs(e.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        status: s.status.map(|st| trace::Status {
            code: st.code.0,
            message: st.message,
        }),
        ..Default::default()
    }
}
