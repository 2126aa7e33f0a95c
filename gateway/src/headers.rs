//! Header work of the proxy: attribution headers, the W3C trace-context extractor, the
//! rewrite of `x-goog-upload-url` (never trusting a malformed `Host`), and how a response body
//! is framed.

use crate::ctx::{Attribution, RequestCtx};
use crate::route::Framing;
use opentelemetry::propagation::Extractor;
use pingora::http::ResponseHeader;

/// Upload headers whose URL names the upstream; both are rewritten to point at the gateway.
const UPLOAD_URL_HEADERS: [&str; 2] = ["x-goog-upload-url", "x-goog-upload-control-url"];

/// Points the upstream's resumable-upload URLs back at the gateway, keeping their path and
/// query. The base is `[proxy] public_url` when set (verbatim); otherwise the listener's scheme
/// (`https` with `[proxy] tls_cert`) and [`client_authority`].
pub(crate) fn rewrite_upload_url(resp: &mut ResponseHeader, ctx: &mut RequestCtx) {
    let settings = &ctx.rt.settings;
    let base = match (&settings.public_url, &ctx.inbound_host) {
        (Some(url), _) => url.clone(),
        (None, Some(authority)) => {
            let scheme = if settings.listener_tls {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{authority}")
        }
        (None, None) => return,
    };
    for name in UPLOAD_URL_HEADERS {
        let Some(url) = resp.headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let Some(rest) = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
        else {
            continue;
        };
        let path = rest.find('/').map_or("/", |i| &rest[i..]);
        let rewritten = format!("{base}{path}");
        if resp.insert_header(name, rewritten).is_ok() {
            ctx.upload_url_rewritten = true;
        }
    }
}

/// The authority the client reached the gateway at, for URLs handed back to it: the request
/// target's authority (absolute form, or HTTP/2 `:authority`), else the one `Host` header, when
/// it is a valid `host[:port]` ([`is_authority`]); otherwise (missing, repeated or malformed:
/// CR/LF, `/`, `@`, spaces, ...) the local address of the connection, which the client cannot
/// choose. `None` only on a non-IP socket without a valid authority.
pub(crate) fn client_authority(session: &pingora::proxy::Session) -> Option<String> {
    let req = session.req_header();
    let mut hosts = req.headers.get_all(http::header::HOST).iter();
    let claimed = match req.uri.authority() {
        Some(authority) => Some(authority.as_str()),
        None => match (hosts.next(), hosts.next()) {
            (Some(host), None) => host.to_str().ok(),
            _ => None,
        },
    };
    if let Some(authority) = claimed.filter(|a| is_authority(a)) {
        return Some(authority.to_owned());
    }
    session
        .server_addr()
        .and_then(|a| a.as_inet())
        .map(ToString::to_string)
}

/// `host[:port]` with a host that is a DNS name (letters, digits, `.`, `-`, `_`), an IPv4
/// address or a bracketed IPv6 address, and a numeric port; at most 255 bytes. Nothing that
/// could end a header, start a path or carry user info passes.
pub(crate) fn is_authority(s: &str) -> bool {
    if s.is_empty() || s.len() > 255 {
        return false;
    }
    let (host_ok, port) = match s.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, port)) => (ip.parse::<std::net::Ipv6Addr>().is_ok(), port),
            None => return false,
        },
        None => {
            let (name, port) = s.split_at(s.find(':').unwrap_or(s.len()));
            let ok = !name.is_empty()
                && !name.starts_with(['.', '-'])
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
            (ok, port)
        }
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty()
                && p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok()
        });
    host_ok && port_ok
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

#[cfg(test)]
mod tests {
    use super::is_authority;

    #[test]
    fn only_a_plain_host_and_port_is_an_authority() {
        for ok in [
            "localhost",
            "localhost:8080",
            "gw.example.com:443",
            "10.0.0.1:8080",
            "[::1]:8080",
            "[2001:db8::1]",
        ] {
            assert!(is_authority(ok), "{ok:?} refused");
        }
        for bad in [
            "",
            "evil.com\r\nx-injected: 1",
            "evil.com/path",
            "user@evil.com",
            "evil .com",
            "evil.com:",
            "evil.com:99999",
            "evil.com:80:80",
            "evil.com:+80",
            "[::1",
            "[not-ip]:80",
            "-evil.com",
            "evil.com?x",
            "evil.com#x",
            "\u{e9}vil.com",
            &"a".repeat(256),
        ] {
            assert!(!is_authority(bad), "{bad:?} accepted");
        }
    }
}
