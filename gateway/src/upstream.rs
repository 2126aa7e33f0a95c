//! The upstream: name resolution off the request path, and the pingora peer for each request.
//!
//! `HttpPeer::new` with a host name resolves it synchronously; a proxy must not do DNS on its
//! worker threads. Addresses are resolved at startup and refreshed by a background thread; the
//! request path only loads an `Arc`.

use arc_swap::ArcSwap;
use pingora::protocols::ALPN;
use pingora::upstreams::peer::HttpPeer;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Where requests go, with resolved addresses.
#[derive(Debug)]
pub struct UpstreamTarget {
    /// The configured upstream.
    pub upstream: Upstream,
    addrs: ArcSwap<Vec<SocketAddr>>,
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl UpstreamTarget {
    /// Resolves `upstream` now (a failure is logged, not fatal) and refreshes every 30 s.
    pub fn start(
        upstream: Upstream,
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> Arc<Self> {
        let target = Arc::new(Self {
            addrs: ArcSwap::from_pointee(Vec::new()),
            upstream,
            connect_timeout,
            read_timeout,
        });
        target.refresh();
        let weak = Arc::downgrade(&target);
        let spawned = std::thread::Builder::new()
            .name("upstream-dns".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(30));
                    match weak.upgrade() {
                        Some(t) => t.refresh(),
                        None => return,
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "Cannot start the DNS refresh thread; addresses stay as resolved at startup.");
        }
        target
    }

    fn refresh(&self) {
        match (self.upstream.host.as_str(), self.upstream.port).to_socket_addrs() {
            Ok(addrs) => {
                let mut addrs: Vec<SocketAddr> = addrs.collect();
                addrs.sort_by_key(|a| !a.is_ipv4());
                if !addrs.is_empty() {
                    self.addrs.store(Arc::new(addrs));
                }
            }
            Err(error) => {
                tracing::warn!(host = %self.upstream.host, %error, "Cannot resolve the upstream host.");
            }
        }
    }

    /// The peer for one request, or `None` while the host does not resolve.
    pub fn peer(&self) -> Option<Box<HttpPeer>> {
        let addrs = self.addrs.load();
        let addr = *addrs.first()?;
        let mut peer = HttpPeer::new(addr, self.upstream.tls, self.upstream.host.clone());
        let o = &mut peer.options;
        o.connection_timeout = Some(self.connect_timeout);
        o.total_connection_timeout = Some(self.connect_timeout);
        o.read_timeout = Some(self.read_timeout);
        o.idle_timeout = Some(Duration::from_secs(90));
        o.verify_cert = true;
        o.verify_hostname = true;
        o.alpn = if self.upstream.tls {
            ALPN::H2H1
        } else {
            ALPN::H1
        };
        Some(Box::new(peer))
    }
}

/// A parsed `proxy.upstream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Host name (also the TLS SNI and the `Host` header).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Whether to use TLS.
    pub tls: bool,
}

impl Upstream {
    /// Parses `scheme://host[:port]` (no path).
    pub fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("{url:?} must start with https:// or http://"));
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') || rest.contains('?') {
            return Err(format!("{url:?} must be scheme://host[:port] with no path"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("{url:?} has an invalid port {p:?}"))?;
                (h.trim_matches(|c| c == '[' || c == ']').to_string(), port)
            }
            _ => (rest.to_string(), if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(Self { host, port, tls })
    }

    /// The value for the `Host` header.
    pub fn authority(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}
