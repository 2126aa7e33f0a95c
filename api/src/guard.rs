//! Host and Origin checks on every route, before auth: DNS rebinding and cross-origin reads.
//!
//! - `Host` must name this API: `localhost` or a loopback IP, or the listen IP, with the listen
//!   port (any port until [`crate::serve`] knows the listener), or an `[api] allowed_hosts`
//!   entry (`host[:port]`, no port = any). Otherwise 421: a DNS-rebound page sends its own
//!   domain name. A request without `Host` (not HTTP/1.1, never a browser) is not checked.
//! - `Origin`, when present (browsers send it on cross-origin fetches and on every WebSocket
//!   upgrade), must be the API's own origin (`http://` or `https://` + the `Host` it came to) or
//!   an `[api] allowed_origins` entry. Otherwise 403. Requests without `Origin` (curl, SDKs,
//!   servers) are unaffected.

use crate::error::AppError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};

/// The normalized allow-lists of an [`AppState`].
#[derive(Debug, Default)]
pub(crate) struct AllowLists {
    /// `(lowercase name, port)`; `None` = any port.
    hosts: Vec<(String, Option<u16>)>,
    /// Lowercase `scheme://host[:port]`.
    origins: Vec<String>,
}

impl AllowLists {
    /// Normalizes the lists; malformed entries (not validated by `gateway-config`) are dropped
    /// with a warning, so they never widen access.
    pub(crate) fn new(hosts: &[String], origins: &[String]) -> Self {
        let hosts = hosts
            .iter()
            .filter_map(|h| {
                let parsed = split_host(h);
                if parsed.is_none() {
                    tracing::warn!(entry = %h, "Ignoring a malformed [api] allowed_hosts entry.");
                }
                parsed
            })
            .collect();
        let origins = origins
            .iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect();
        Self { hosts, origins }
    }
}

/// `(lowercase name, port)` of `name[:port]` or `[ipv6][:port]`; `None` when malformed.
pub(crate) fn split_host(s: &str) -> Option<(String, Option<u16>)> {
    let (name, port) = match s.strip_prefix('[') {
        Some(rest) => {
            let (ip, port) = rest.split_once(']')?;
            ip.parse::<std::net::Ipv6Addr>().ok()?;
            (&s[..ip.len() + 2], port)
        }
        None => {
            let name = s.split(':').next().unwrap_or_default();
            let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
            if name.is_empty() || !name.chars().all(valid) {
                return None;
            }
            (name, &s[name.len()..])
        }
    };
    let port = match port {
        "" => None,
        p => Some(p.strip_prefix(':')?.parse::<u16>().ok()?),
    };
    Some((name.to_ascii_lowercase(), port))
}

/// Whether `host` names this API listening on `listen` (`None`: not known yet).
pub(crate) fn host_allowed(host: &str, listen: Option<SocketAddr>, lists: &AllowLists) -> bool {
    let Some((name, port)) = split_host(host) else {
        return false;
    };
    // Browsers omit the port when it is the scheme's default; the API speaks plain HTTP.
    let port = port.unwrap_or(80);
    if lists
        .hosts
        .iter()
        .any(|(n, p)| *n == name && p.is_none_or(|p| p == port))
    {
        return true;
    }
    let ip = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let local = name == "localhost"
        || ip.is_some_and(|ip| {
            ip.to_canonical().is_loopback() || listen.is_some_and(|l| l.ip() == ip)
        });
    local && listen.is_none_or(|l| l.port() == port)
}

/// Whether a request with `Origin: origin` that came to `host` may proceed.
pub(crate) fn origin_allowed(origin: &str, host: Option<&str>, lists: &AllowLists) -> bool {
    let origin = origin.to_ascii_lowercase();
    if lists.origins.contains(&origin) {
        return true;
    }
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

/// A header value as shown in an error message: printable ASCII, at most 100 characters.
fn shown(value: &[u8]) -> String {
    String::from_utf8_lossy(value)
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .take(100)
        .collect()
}

/// Refuses requests whose `Host` or `Origin` is not allowed (421 / 403, JSON error body).
pub(crate) async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let lists = &state.inner.allow;
    let mut hosts = req.headers().get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => {
            return AppError::BadRequest("several Host headers".into()).into_response();
        }
        (Some(h), None) => Some(h.to_str().map_err(|_| shown(h.as_bytes()))),
        (None, _) => req.uri().authority().map(|a| Ok(a.as_str())),
    };
    let host = match host {
        Some(Ok(h)) if host_allowed(h, state.inner.listen.get().copied(), lists) => Some(h),
        None => None,
        Some(Ok(h)) => return refuse(AppError::MisdirectedHost(shown(h.as_bytes()))),
        Some(Err(shown)) => return refuse(AppError::MisdirectedHost(shown)),
    };
    if let Some(origin) = req.headers().get(ORIGIN) {
        let ok = origin
            .to_str()
            .is_ok_and(|o| origin_allowed(o, host, lists));
        if !ok {
            return refuse(AppError::ForbiddenOrigin(shown(origin.as_bytes())));
        }
    }
    next.run(req).await
}

fn refuse(e: AppError) -> Response {
    tracing::debug!(error = %e, "Refused a request.");
    e.into_response()
}
