//! Header work of the proxy: attribution headers, the W3C trace-context extractor, the
//! rewrite of `x-goog-upload-url`, and how a response body is framed.

use crate::ctx::{Attribution, RequestCtx};
use crate::route::Framing;
use opentelemetry::propagation::Extractor;
use pingora::http::ResponseHeader;

pub(crate) fn rewrite_upload_url(resp: &mut ResponseHeader, ctx: &mut RequestCtx) {
    let Some(url) = resp
        .headers
        .get("x-goog-upload-url")
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let Some(host) = ctx.inbound_host.as_deref() else {
        return;
    };
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return;
    };
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    let rewritten = format!("http://{host}{path}");
    if resp.insert_header("x-goog-upload-url", rewritten).is_ok() {
        ctx.upload_url_rewritten = true;
    }
}

pub(crate) fn framing(ctx: &RequestCtx, resp: &ResponseHeader) -> Framing {
    let Some(route) = ctx.route.as_ref() else {
        return Framing::Opaque;
    };
    if route.framing == Framing::Opaque {
        return Framing::Opaque;
    }
    let ct = resp
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("text/event-stream") {
        Framing::Sse
    } else if ct.contains("json") || ct.is_empty() {
        if route.framing == Framing::JsonArray {
            Framing::JsonArray
        } else {
            Framing::Json
        }
    } else {
        Framing::Opaque
    }
}
/// Attributes a span may hold: the gateway's own (about 40 on the root, cost and usage
/// included), plugin attributes, and at most [`MAX_PROPERTIES`] custom properties.
pub const MAX_SPAN_ATTRIBUTES: u32 = 256;
/// `x-gateway-property-*` headers kept per request; the rest are counted in
/// `gateway.property.dropped`, so they can never push cost or usage out of a span.
pub const MAX_PROPERTIES: usize = 64;
/// Longest property value kept, in bytes (longer ones are cut at a character boundary).
pub const MAX_PROPERTY_BYTES: usize = 1024;

/// The attribution headers, and how many property headers were past [`MAX_PROPERTIES`].
pub(crate) fn attribution(headers: &http::HeaderMap) -> (Attribution, u32) {
    let mut a = Attribution::default();
    let mut dropped = 0u32;
    for (name, value) in headers {
        let name = name.as_str();
        let Some(rest) = name.strip_prefix("x-gateway-") else {
            continue;
        };
        let Ok(value) = value.to_str() else { continue };
        match rest {
            "user-id" => a.user_id = Some(value.to_owned()),
            "session-id" => a.session_id = Some(value.to_owned()),
            _ => {
                if let Some(prop) = rest.strip_prefix("property-")
                    && !prop.is_empty()
                {
                    if a.properties.len() >= MAX_PROPERTIES {
                        dropped += 1;
                        continue;
                    }
                    let value = crate::request::truncate_utf8(value.to_owned(), MAX_PROPERTY_BYTES);
                    a.properties.push((prop.to_owned(), value));
                }
            }
        }
    }
    (a, dropped)
}

pub(crate) struct HeaderExtractor<'a>(pub(crate) &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
