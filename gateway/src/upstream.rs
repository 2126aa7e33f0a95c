//! The upstream: name resolution off the request path, and the pingora peer for each request.
//!
//! `HttpPeer::new` with a host name resolves it synchronously; a proxy must not do DNS on its
//! worker threads. Addresses are resolved at startup and refreshed by a background thread; the
//! request path only loads an `Arc`.
//!
//! TLS: the certificate is always verified (chain and host name, SNI = the configured host),
//! h2 and http/1.1 are offered by ALPN. `[proxy] upstream_ca_file` adds CA certificates to the
//! system's roots ([`load_ca_roots`]); [`tls_refusal`] says why a handshake was refused.

use arc_swap::ArcSwap;
pub use gateway_config::Upstream;
use pingora::protocols::ALPN;
use pingora::protocols::tls::CaType;
use pingora::upstreams::peer::HttpPeer;
use pingora::utils::tls::WrappedX509;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
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
    /// The system's roots plus `upstream_ca_file`, when that is set (else pingora's default
    /// store, the system's roots, is used).
    ca: Option<Arc<CaType>>,
}

impl UpstreamTarget {
    /// Resolves `upstream` now (a failure is logged, not fatal) and refreshes every 30 s.
    /// `upstream.ca_file` is read now; an unusable file is logged here and refused at startup
    /// by [`crate::listener::add`].
    pub fn start(
        upstream: Upstream,
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> Arc<Self> {
        let ca = upstream
            .ca_file
            .as_deref()
            .and_then(|path| match load_ca_roots(path) {
                Ok(roots) => Some(Arc::<CaType>::from(roots.into_boxed_slice())),
                Err(error) => {
                    tracing::error!(%error, "Cannot use [proxy] upstream_ca_file.");
                    None
                }
            });
        let target = Arc::new(Self {
            addrs: ArcSwap::from_pointee(Vec::new()),
            upstream,
            connect_timeout,
            read_timeout,
            ca,
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
        o.ca = self.ca.clone();
        o.alpn = if self.upstream.tls {
            ALPN::H2H1
        } else {
            ALPN::H1
        };
        Some(Box::new(peer))
    }
}

/// The system's trust roots (honouring `SSL_CERT_FILE` / `SSL_CERT_DIR`) followed by every
/// certificate of the PEM file at `path`. Errors name the file: unreadable, no certificate,
/// a PEM block that is not a certificate, or a certificate that does not parse.
pub fn load_ca_roots(path: &Path) -> anyhow::Result<Vec<WrappedX509>> {
    use rustls::pki_types::pem::{PemObject, SectionKind};
    let named =
        |what: String| anyhow::anyhow!("[proxy] upstream_ca_file {}: {what}", path.display());
    let text = std::fs::read(path).map_err(|e| named(format!("cannot read it ({e})")))?;
    let mut ours = Vec::new();
    for item in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(&text) {
        match item.map_err(|e| named(format!("not PEM ({e})")))? {
            (SectionKind::Certificate, der) => ours.push(der),
            (kind, _) => {
                return Err(named(format!(
                    "holds a {kind:?} block; only CERTIFICATE blocks belong in a CA file"
                )));
            }
        }
    }
    if ours.is_empty() {
        return Err(named("no CERTIFICATE block in the file".into()));
    }
    let mut roots = Vec::new();
    // pingora parses every root with x509-parser and panics on one it cannot parse: parse
    // first, refuse ours with a clear error, skip (and count) the system's.
    let mut skipped = 0usize;
    for der in ours {
        if let Err(e) = x509_parser::parse_x509_certificate(&der) {
            return Err(named(format!("a certificate does not parse ({e})")));
        }
        roots.push(WrappedX509::new(der, pingora::utils::tls::parse_x509));
    }
    let system = pingora::tls::load_native_certs()
        .map_err(|e| anyhow::anyhow!("cannot load the system's trust roots: {e}"))?;
    for cert in system {
        let der = cert.as_ref().to_vec();
        if x509_parser::parse_x509_certificate(&der).is_ok() {
            roots.push(WrappedX509::new(der, pingora::utils::tls::parse_x509));
        } else {
            skipped += 1;
        }
    }
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "System trust roots that do not parse were left out."
        );
    }
    Ok(roots)
}

/// Why a TLS handshake with the upstream was refused, in words, when `e` is one: an unknown
/// issuer, a certificate for another host name, an expired certificate…; `None` otherwise.
pub fn tls_refusal(e: &pingora::Error) -> Option<String> {
    use pingora::ErrorType::{InvalidCert, TLSHandshakeFailure};
    if !matches!(e.etype(), TLSHandshakeFailure | InvalidCert) {
        return None;
    }
    let text = e.to_string();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    let why = if has(&["UnknownIssuer"]) {
        "its TLS certificate is not signed by a trusted CA (unknown issuer; a private CA goes in \
         [proxy] upstream_ca_file)"
    } else if has(&["NotValidForName", "not valid for name"]) {
        "its TLS certificate is not valid for the upstream host name"
    } else if has(&["Expired", "certificate expired"]) {
        "its TLS certificate has expired"
    } else if has(&["NotValidYet", "certificate not valid yet"]) {
        "its TLS certificate is not valid yet"
    } else if has(&["invalid peer certificate"]) {
        "its TLS certificate was refused"
    } else {
        "the TLS handshake failed"
    };
    Some(why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::ErrorType;

    #[test]
    fn refused_certificates_are_explained_and_other_errors_are_not() {
        let unknown = pingora::Error::explain(
            ErrorType::TLSHandshakeFailure,
            "TLS connect() failed: invalid peer certificate: UnknownIssuer, SNI: localhost",
        );
        assert!(tls_refusal(&unknown).is_some_and(|w| w.contains("unknown issuer")));
        let name = pingora::Error::explain(
            ErrorType::TLSHandshakeFailure,
            "invalid peer certificate: certificate not valid for name \"localhost\"",
        );
        assert!(tls_refusal(&name).is_some_and(|w| w.contains("host name")));
        let refused = pingora::Error::explain(ErrorType::ConnectRefused, "refused");
        assert_eq!(tls_refusal(&refused), None);
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .expect("write");
        let err = load_ca_roots(&path).expect_err("a key is not a CA");
        assert!(err.to_string().contains("ca.pem"), "{err}");
        std::fs::write(&path, "nothing here").expect("write");
        let err = load_ca_roots(&path).expect_err("no certificate");
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
    }
}
