//! TLS for the fake: rustls in front of the same router, HTTP/2 and HTTP/1.1 chosen by ALPN
//! (hyper-util's auto builder), as `generativelanguage.googleapis.com` serves them.
//!
//! Every accepted connection is recorded with the SNI name the client sent and the ALPN
//! protocol negotiated. Tests read them from [`crate::FakeGemini::tls_connections`], from
//! `GET /__fake/tls` (JSON, newest last), or per answer from the `x-fake-tls-sni` and
//! `x-fake-tls-alpn` response headers (`-` when absent). None of this is part of the Gemini
//! wire surface.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower_service::Service;

/// Connections kept in the log; older ones are forgotten.
const MAX_RECORDED: usize = 4096;

/// Which protocols the fake offers by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alpn {
    /// `h2` then `http/1.1` (what Google offers).
    #[default]
    H2AndHttp11,
    /// `http/1.1` only (the client then speaks HTTP/1.1 over TLS).
    Http11Only,
}

/// Certificate and key (PEM files) for a TLS fake, and the protocols it offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeTls {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Protocols offered by ALPN.
    pub alpn: Alpn,
}

/// One accepted TLS connection, as [`crate::FakeGemini::tls_connections`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsConnection {
    /// The SNI host name the client sent, if any.
    pub sni: Option<String>,
    /// The ALPN protocol negotiated (`h2`, `http/1.1`), if any.
    pub alpn: Option<String>,
}

/// The connections accepted so far.
#[derive(Debug, Default)]
pub(crate) struct TlsLog(Mutex<Vec<TlsConnection>>);

impl TlsLog {
    fn push(&self, c: TlsConnection) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() >= MAX_RECORDED {
            v.remove(0);
        }
        v.push(c);
    }

    /// Every recorded connection, oldest first.
    pub(crate) fn all(&self) -> Vec<TlsConnection> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Reads the PEM files into a rustls server config; the error names the file at fault.
pub(crate) fn server_config(tls: &FakeTls) -> std::io::Result<Arc<ServerConfig>> {
    let invalid = |path: &Path, what: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: {what}", path.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(&tls.cert, format!("cannot read the certificates: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(&tls.cert, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| invalid(&tls.key, format!("cannot read the private key: {e}")))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&tls.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&tls.key, format!("does not match the certificate: {e}")))?;
    config.alpn_protocols = match tls.alpn {
        Alpn::H2AndHttp11 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        Alpn::Http11Only => vec![b"http/1.1".to_vec()],
    };
    Ok(Arc::new(config))
}

/// Accepts TLS connections on `listener` until `stop`, serving `app` on each.
pub(crate) async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    log: Arc<TlsLog>,
    stop: Arc<Notify>,
) {
    let acceptor = TlsAcceptor::from(config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!("accept failed: {e}");
                    continue;
                }
            },
            () = stop.notified() => break,
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::trace!("set_nodelay failed: {e}");
        }
        let acceptor = acceptor.clone();
        let app = app.clone();
        let log = log.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
            };
            let session = tls.get_ref().1;
            let conn = TlsConnection {
                sni: session.server_name().map(str::to_owned),
                alpn: session
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned()),
            };
            log.push(conn.clone());
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let mut app = app.clone();
                let conn = conn.clone();
                let log = log.clone();
                async move {
                    if req.uri().path() == "/__fake/tls" {
                        return Ok::<_, Infallible>(connections_json(&log.all()));
                    }
                    let mut req = req;
                    // h2 carries the host in `:authority`; the router reads `Host`.
                    if !req.headers().contains_key(axum::http::header::HOST)
                        && let Some(v) = req
                            .uri()
                            .authority()
                            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                    {
                        req.headers_mut().insert(axum::http::header::HOST, v);
                    }
                    let mut resp: Response<Body> = match app.call(req.map(Body::new)).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    let h = resp.headers_mut();
                    for (name, value) in [
                        ("x-fake-tls-sni", &conn.sni),
                        ("x-fake-tls-alpn", &conn.alpn),
                    ] {
                        let v = value.as_deref().unwrap_or("-");
                        if let Ok(v) = HeaderValue::from_str(v) {
                            h.insert(name, v);
                        }
                    }
                    Ok(resp)
                }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let served = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(served.into_owned()).await {
                tracing::debug!(%peer, "TLS connection ended: {e}");
            }
        });
    }
    graceful.shutdown().await;
}

fn connections_json(all: &[TlsConnection]) -> Response<Body> {
    let body = serde_json::to_vec(all).unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
