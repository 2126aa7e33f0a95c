//! The upstream: name resolution off the request path, and the pingora peer for each request.
//!
//! `HttpPeer::new` with a host name resolves it synchronously; a proxy must not do DNS on its
//! worker threads. Addresses are resolved at startup and refreshed by a background thread; the
//! request path only loads an `Arc`.

use arc_swap::ArcSwap;
pub use gateway_config::Upstream;
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
