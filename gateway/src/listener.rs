//! The proxy's own listener: plain HTTP on `[proxy] listen`, or TLS there when `[proxy]
//! tls_cert` and `tls_key` are set (rustls; HTTP/1.1 and h2 chosen by ALPN), so that clients
//! which insist on `https://` / `wss://` (the Python SDK's Live client) can reach the gateway.
//!
//! The certificate and key are read and checked here, before pingora sees them (pingora
//! panics on a bad pair): a missing, unreadable or mismatched file is a startup error naming
//! it. The upstream's CA file (`[proxy] upstream_ca_file`) is checked here too, so that both
//! sides' TLS material fails startup the same way.

use crate::config::Config;
use pingora::listeners::tls::TlsSettings;
use pingora::services::listening::Service;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use std::path::Path;
use std::sync::Arc;

/// Adds the proxy's listening endpoint to `service`, with TLS when configured, after checking
/// the TLS files of both sides.
pub fn add<A>(service: &mut Service<A>, config: &Config) -> anyhow::Result<()> {
    if let Some(ca) = config.upstream().ca_file {
        crate::upstream::load_ca_roots(&ca)?;
    }
    let (Some(cert), Some(key)) = (&config.proxy.tls_cert, &config.proxy.tls_key) else {
        service.add_tcp(&config.proxy.listen);
        return Ok(());
    };
    let (cert, key) = (config.resolve(cert), config.resolve(key));
    let certified = load_pair(&cert, &key)?;
    let mut settings = TlsSettings::intermediate("", "")
        .map_err(|e| anyhow::anyhow!("cannot set up TLS on the proxy listener: {e}"))?;
    settings.set_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    settings.enable_h2();
    service.add_tls_with_settings(&config.proxy.listen, None, settings);
    tracing::info!(
        listen = %config.proxy.listen,
        cert = %cert.display(),
        "Proxy listener speaks TLS (h2 and http/1.1 by ALPN)."
    );
    Ok(())
}

/// Reads a PEM certificate chain and its private key; every error names the file at fault.
pub fn load_pair(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!(
                "[proxy] tls_cert {}: cannot read a PEM certificate chain ({e})",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        anyhow::bail!(
            "[proxy] tls_cert {}: no CERTIFICATE block in the file",
            cert.display()
        );
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        anyhow::anyhow!(
            "[proxy] tls_key {}: cannot read a PEM private key ({e})",
            key.display()
        )
    })?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, private, &provider).map_err(|e| {
        anyhow::anyhow!(
            "[proxy] tls_key {} does not go with [proxy] tls_cert {}: {e}",
            key.display(),
            cert.display()
        )
    })
}
