//! `gateway --demo --demo-tls`: a demo CA and a server certificate for `localhost`,
//! `127.0.0.1` and `::1`, written next to the demo's database (kept across runs so a client
//! that trusts the CA keeps trusting it), the proxy listener switched to TLS, and a small
//! HTTPS/1.1 client for the demo's own traffic.
//!
//! rcgen (from the rustls project, on the ring backend pingora already links) generates the
//! pair; nothing is ever checked in.

use crate::config::Config;
use anyhow::Context;
use bytes::Bytes;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The demo's TLS files.
#[derive(Debug, Clone)]
pub struct DemoTls {
    /// The CA certificate clients trust.
    pub ca: PathBuf,
    /// The server certificate chain (server, then CA).
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

/// Writes (or reuses) the pair under `<database dir>/demo-tls/`, points the listener at it and
/// prints how to trust the CA.
pub fn enable(config: &mut Config) -> anyhow::Result<DemoTls> {
    let base = config
        .storage
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tls = generate(&base.join("demo-tls"))?;
    crate::listener::load_pair(&tls.cert, &tls.key)?;
    config.proxy.tls_cert = Some(tls.cert.clone());
    config.proxy.tls_key = Some(tls.key.clone());
    let ca = tls.ca.display();
    let url = format!("https://{}", config.proxy.listen);
    eprintln!(
        "Demo TLS: the proxy listens on {url} (h2 and HTTP/1.1) with a certificate from a demo CA.\n\
         Trust that CA in the client, e.g.:\n  \
         curl --cacert {ca} {url}/v1beta/models -H 'x-goog-api-key: demo-key'\n  \
         Python SDK: SSL_CERT_FILE={ca} with HttpOptions(base_url=\"{url}\")\n  \
         Node: NODE_EXTRA_CA_CERTS={ca}\n\
         The CA's key is not kept: it can sign nothing else."
    );
    Ok(tls)
}

/// The pair in `dir`: reused when the three files are there, else generated.
pub fn generate(dir: &Path) -> anyhow::Result<DemoTls> {
    let tls = DemoTls {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    };
    if tls.ca.exists() && tls.cert.exists() && tls.key.exists() {
        return Ok(tls);
    }
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Gemini gateway demo CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
    let mut server = CertificateParams::new(names)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "gateway demo");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&key, &issuer)?;
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write(&tls.key, key.serialize_pem())?;
    restrict(&tls.key)?;
    write(&tls.cert, server_cert.pem() + &ca_cert.pem())?;
    write(&tls.ca, ca_cert.pem())?;
    Ok(tls)
}

#[cfg(unix)]
fn restrict(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", path.display()))
}

#[cfg(not(unix))]
fn restrict(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// A minimal HTTPS/1.1 client (one connection per request) trusting only the demo CA.
pub struct TlsClient {
    config: Arc<rustls::ClientConfig>,
    addr: String,
}

impl TlsClient {
    /// A client of the proxy at `addr` (`ip:port`) trusting `ca`.
    pub fn new(ca: &Path, addr: &str) -> anyhow::Result<Self> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca)? {
            roots.add(cert?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            addr: addr.to_owned(),
        })
    }

    /// Sends one request and returns the answer's body (an error status is not an error).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Bytes> {
        let name = rustls::pki_types::ServerName::try_from("localhost")?;
        let conn = rustls::ClientConnection::new(self.config.clone(), name)?;
        let tcp = std::net::TcpStream::connect(&self.addr)?;
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        tls.write_all(head.as_bytes())?;
        tls.write_all(body)?;
        tls.flush()?;
        let mut raw = Vec::new();
        match tls.read_to_end(&mut raw) {
            Ok(_) => {}
            // A peer that closes without close_notify still sent the whole answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(e.into()),
        }
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("no end of headers in the answer")?;
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let rest = &raw[split + 4..];
        if head.contains("transfer-encoding: chunked") {
            Ok(Bytes::from(dechunk(rest)))
        } else {
            Ok(Bytes::copy_from_slice(rest))
        }
    }
}

/// The payload of a chunked body (what is there of it).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size.filter(|s| *s > 0) else {
            break;
        };
        let start = eol + 2;
        let end = (start + size).min(b.len());
        out.extend_from_slice(&b[start..end]);
        b = b.get(end + 2..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"), b"abcde");
    }

    #[test]
    fn generated_pair_loads_and_is_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = generate(dir.path()).expect("generate");
        crate::listener::load_pair(&first.cert, &first.key).expect("a matching pair");
        let ca = std::fs::read(&first.ca).expect("ca");
        let again = generate(dir.path()).expect("reuse");
        assert_eq!(std::fs::read(&again.ca).expect("ca"), ca, "the CA is kept");
    }
}
