//! TLS on both sides of the real gateway binary, with certificates generated at test time.
//!
//! Upstream: the fake Gemini behind rustls (h2 and http/1.1 by ALPN, or http/1.1 only), the
//! gateway trusting the test CA through `[proxy] upstream_ca_file`: unary, SSE (events arrive
//! one by one: the fake holds the stream after its first event until the test has read it),
//! a resumable upload, SNI and ALPN read from the fake, tokens and cost of the stored rows; a
//! certificate from an unknown CA and one for another host name give Gemini-shaped 502s.
//! Listener: `[proxy] tls_cert` / `tls_key`, reached by HTTP/1.1 and h2 clients that trust
//! the test CA; a startup with a mismatched key fails and names the file.

#![allow(clippy::unwrap_used)]

mod util;

use bytes::Bytes;
use fake_gemini::{Alpn, FakeConfig, FakeGemini, FakeTls};
use http_body_util::{BodyExt, Full};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use util::{Gateway, client, read_until, trace_id, trace_row};

const KEY: &str = "test-key";
const MODEL: &str = "gemini-3.8-flash";

/// A CA generated for one test, which signs server certificates.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// Writes `<stem>-ca.pem`, and `<stem>.pem` / `<stem>-key.pem` for a server certificate
    /// valid for `names`; returns (ca, cert, key) paths.
    fn issue(&self, dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let paths = (
            dir.join(format!("{stem}-ca.pem")),
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}-key.pem")),
        );
        std::fs::write(&paths.0, &self.pem).unwrap();
        std::fs::write(&paths.1, cert.pem()).unwrap();
        std::fs::write(&paths.2, key.serialize_pem()).unwrap();
        paths
    }
}

/// A TLS fake on 127.0.0.1 serving `cert`, and its URL by host name (`https://localhost:P`).
fn tls_fake(cert: &Path, key: &Path, alpn: Alpn) -> (FakeGemini, String) {
    let fake = fake_gemini::spawn_tls_in_thread(
        FakeConfig::default(),
        FakeTls {
            cert: cert.to_owned(),
            key: key.to_owned(),
            alpn,
        },
    );
    let url = fake.url_for("localhost");
    (fake, url)
}

fn toml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

fn gemini_body(text: &str) -> String {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}).to_string()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12_f64.max(b.abs() * 1e-9)
}

/// The stored row of `id` carries the answer's model, tokens and cost.
fn assert_metered(gw: &Gateway, id: &str, usage: &Value, what: &str) {
    let (model, input, output, cost, unpriced) = trace_row(gw, id);
    assert_eq!(model.as_deref(), Some(MODEL), "{what}");
    assert_eq!(input, usage["promptTokenCount"].as_i64(), "{what}");
    let out = usage["candidatesTokenCount"].as_i64().unwrap()
        + usage["thoughtsTokenCount"].as_i64().unwrap_or(0);
    assert_eq!(output, Some(out), "{what}");
    assert!(!unpriced, "{what}");
    assert!(
        close(cost.unwrap(), util::flash_38_cost(usage)),
        "{what}: {cost:?}"
    );
}

/// Unary, SSE (held after its first event) and a resumable upload through `gw` (plain HTTP) to
/// the TLS fake; the fake saw SNI `localhost` and ALPN `alpn` on every connection.
fn exercise_tls_upstream(gw: &Gateway, fake: &FakeGemini, alpn: &str) {
    let c = client();
    // Unary.
    let r = c
        .post(gw.url(&format!("/v1beta/models/{MODEL}:generateContent")))
        .header("x-goog-api-key", KEY)
        .body(gemini_body("tell me about transport layer security"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", gw.log_text());
    assert_eq!(r.headers()["x-fake-tls-sni"], "localhost");
    assert_eq!(r.headers()["x-fake-tls-alpn"], alpn);
    let id = trace_id(&r);
    let v: Value = r.json().unwrap();
    assert_metered(gw, &id, &v["usageMetadata"], &format!("unary over {alpn}"));

    // SSE: the fake holds the stream after its first event; the client reads that event
    // through the gateway before the rest exists, so nothing is buffered on the way.
    let hold = format!("tls-{alpn}");
    let mut r = c
        .post(gw.url(&format!(
            "/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
        )))
        .header("x-goog-api-key", KEY)
        .header("x-fake-hold", &hold)
        .body(gemini_body("stream four events over tls please"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-fake-tls-alpn"], alpn);
    let id = trace_id(&r);
    let first = read_until(&mut r, b"\r\n\r\n");
    let first = String::from_utf8(first).unwrap();
    assert_eq!(
        first.matches("data: ").count(),
        1,
        "one event before the release: {first}"
    );
    assert!(!first.contains("finishReason"), "{first}");
    fake.release(&hold);
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut r, &mut rest).unwrap();
    let all = first + &String::from_utf8(rest).unwrap();
    assert_eq!(all.matches("data: ").count(), 4, "{all}");
    let usage: Value = all
        .rsplit("data: ")
        .filter_map(|e| serde_json::from_str::<Value>(e.trim()).ok())
        .find_map(|v| v.get("usageMetadata").cloned())
        .unwrap();
    assert_metered(gw, &id, &usage, &format!("stream over {alpn}"));

    // Resumable upload: start, then upload + finalize at the URL the gateway hands back.
    let start = c
        .post(gw.url("/upload/v1beta/files"))
        .header("x-goog-api-key", KEY)
        .header("x-goog-upload-protocol", "resumable")
        .header("x-goog-upload-command", "start")
        .header("x-goog-upload-header-content-length", "11")
        .header("x-goog-upload-header-content-type", "text/plain")
        .body(r#"{"file":{"displayName":"tls-notes"}}"#)
        .send()
        .unwrap();
    assert_eq!(start.status(), 200);
    let url = start.headers()["x-goog-upload-url"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&gw.url("/upload/")), "{url}");
    let done = c
        .post(&url)
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "0")
        .body("hello world")
        .send()
        .unwrap();
    assert_eq!(done.status(), 200);
    assert_eq!(done.headers()["x-fake-tls-alpn"], alpn);
    let file: Value = done.json().unwrap();
    assert_eq!(file["file"]["sizeBytes"], "11");
    assert_eq!(file["file"]["displayName"], "tls-notes");

    let conns = fake.tls_connections();
    assert!(!conns.is_empty());
    for conn in &conns {
        assert_eq!(conn.sni.as_deref(), Some("localhost"), "{conns:?}");
        assert_eq!(conn.alpn.as_deref(), Some(alpn), "{conns:?}");
    }
}

#[test]
fn tls_upstream_over_h2_and_over_http1() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("tls test CA");
    let (ca_pem, cert, key) = ca.issue(dir.path(), "upstream", &["localhost"]);
    for (alpn, expected) in [(Alpn::H2AndHttp11, "h2"), (Alpn::Http11Only, "http/1.1")] {
        let (fake, url) = tls_fake(&cert, &key, alpn);
        let mut gw = Gateway::start(
            &url,
            &format!("upstream_ca_file = {}\n", toml_path(&ca_pem)),
            "",
        );
        exercise_tls_upstream(&gw, &fake, expected);
        // The fake's own view, over its control endpoint (outside the Gemini surface).
        let seen: Value = tokio_block_on(async {
            let tls = client_tls(&ca_pem, &[b"http/1.1"]);
            let (_, resp) = send(tls, fake.addr(), get("/__fake/tls")).await;
            serde_json::from_slice(&body_bytes(resp).await).unwrap()
        });
        assert!(
            seen.as_array()
                .unwrap()
                .iter()
                .any(|c| c["sni"] == "localhost" && c["alpn"] == expected),
            "{seen}"
        );
        gw.stop();
    }
}

#[test]
fn refused_upstream_certificates_give_gemini_shaped_502() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = Ca::new("trusted test CA");
    let stranger = Ca::new("unknown test CA");
    let (ca_pem, _, _) = trusted.issue(dir.path(), "trusted", &["localhost"]);
    let (_, other_cert, other_key) = stranger.issue(dir.path(), "stranger", &["localhost"]);
    let (_, wrong_cert, wrong_key) = trusted.issue(dir.path(), "wrong", &["elsewhere.test"]);
    let cases = [
        (other_cert, other_key, "unknown issuer"),
        (
            wrong_cert,
            wrong_key,
            "not valid for the upstream host name",
        ),
    ];
    for (cert, key, why) in cases {
        let (fake, url) = tls_fake(&cert, &key, Alpn::H2AndHttp11);
        let mut gw = Gateway::start(
            &url,
            &format!("upstream_ca_file = {}\n", toml_path(&ca_pem)),
            "[api]\nlisten = \"127.0.0.1:0\"\n",
        );
        let r = client()
            .post(gw.url(&format!("/v1beta/models/{MODEL}:generateContent")))
            .header("x-goog-api-key", KEY)
            .body(gemini_body("this must not reach the upstream"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 502, "{why}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let id = trace_id(&r);
        let body: Value = r.json().unwrap();
        assert_eq!(body["error"]["code"], 502, "{body}");
        assert_eq!(body["error"]["status"], "UNAVAILABLE", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{why}: {message}");
        gw.wait_for_log("Upstream TLS handshake refused.");
        assert!(gw.log_text().contains(why), "{}", gw.log_text());
        assert!(fake.requests().is_empty(), "nothing reached the upstream");
        // Stored as an upstream error, and counted on /metrics.
        let (model, ..) = trace_row(&gw, &id);
        assert_eq!(model.as_deref(), Some(MODEL));
        let metrics = client()
            .get(gw.api_url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let failed: f64 = metrics
            .lines()
            .filter(|l| l.contains("_count{") && l.contains("upstream_unreachable"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(
            failed >= 1.0,
            "{why}: no upstream error counted:\n{metrics}"
        );
        gw.stop();
    }
}

// --- The gateway's own TLS listener -------------------------------------------------------

fn tokio_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A rustls client config trusting only the PEM CA at `ca`, offering `alpn`.
fn client_tls(ca: &Path, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn get(path: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(path)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn post(path: &str, body: String) -> http::Request<Full<Bytes>> {
    http::Request::post(path)
        .header("x-goog-api-key", KEY)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// Connects to `addr` as `localhost` over TLS, speaks whatever ALPN chose (h2 or HTTP/1.1),
/// and sends `req` (a path-only request); returns the negotiated protocol and the answer.
async fn send(
    tls: Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
    mut req: http::Request<Full<Bytes>>,
) -> (String, http::Response<hyper::body::Incoming>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .unwrap();
    let alpn = stream
        .get_ref()
        .1
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    let io = TokioIo::new(stream);
    let authority = format!("localhost:{}", addr.port());
    let resp = if alpn == "h2" {
        let uri = format!("https://{authority}{}", req.uri());
        *req.uri_mut() = uri.parse().unwrap();
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        sender.send_request(req).await.unwrap()
    } else {
        req.headers_mut()
            .insert(http::header::HOST, authority.parse().unwrap());
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(req).await.unwrap()
    };
    (alpn, resp)
}

async fn body_bytes(resp: http::Response<hyper::body::Incoming>) -> Bytes {
    resp.into_body().collect().await.unwrap().to_bytes()
}

/// A gateway whose listener speaks TLS with a certificate for `localhost` from a test CA, in
/// front of `upstream`; returns it with the CA's path.
fn tls_gateway(dir: &Path, upstream: &str, extra_proxy: &str) -> (Gateway, PathBuf) {
    let ca = Ca::new("listener test CA");
    let (ca_pem, cert, key) = ca.issue(dir, "listener", &["localhost", "127.0.0.1"]);
    let gw = Gateway::start(
        upstream,
        &format!(
            "tls_cert = {}\ntls_key = {}\n{extra_proxy}",
            toml_path(&cert),
            toml_path(&key)
        ),
        "",
    );
    (gw, ca_pem)
}

#[test]
fn tls_listener_serves_http1_and_h2_and_streams() {
    let fake = fake_gemini::spawn_in_thread(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let (mut gw, ca) = tls_gateway(dir.path(), &fake.base_url(), "");
    gw.wait_for_log("Proxy listener speaks TLS");
    let path = format!("/v1beta/models/{MODEL}:generateContent");
    tokio_block_on(async {
        for (offer, expected) in [
            (vec![b"http/1.1".as_slice()], "http/1.1"),
            (vec![b"h2".as_slice(), b"http/1.1".as_slice()], "h2"),
        ] {
            let tls = client_tls(&ca, &offer);
            let (alpn, resp) = send(tls, gw.addr, post(&path, gemini_body("hello over tls"))).await;
            assert_eq!(alpn, expected);
            assert_eq!(resp.status(), 200, "{expected}");
            let id = resp.headers()["x-gateway-trace-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let v: Value = serde_json::from_slice(&body_bytes(resp).await).unwrap();
            assert_metered(&gw, &id, &v["usageMetadata"], expected);
        }

        // A stream through the h2 listener: the first event arrives while the fake holds the
        // rest.
        let tls = client_tls(&ca, &[b"h2"]);
        let sse = format!("/v1beta/models/{MODEL}:streamGenerateContent?alt=sse");
        let mut req = post(&sse, gemini_body("stream through the tls listener"));
        req.headers_mut()
            .insert("x-fake-hold", "listener".parse().unwrap());
        let (alpn, resp) = send(tls, gw.addr, req).await;
        assert_eq!(alpn, "h2");
        assert_eq!(resp.status(), 200);
        let id = resp.headers()["x-gateway-trace-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let mut body = resp.into_body();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let frame =
                tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), body.frame())
                    .await
                    .expect("the first event arrives before the release")
                    .unwrap()
                    .unwrap();
            if let Ok(data) = frame.into_data() {
                got.extend_from_slice(&data);
            }
        }
        let first = String::from_utf8(got.clone()).unwrap();
        assert_eq!(first.matches("data: ").count(), 1, "{first}");
        fake.release("listener");
        let rest = body.collect().await.unwrap().to_bytes();
        got.extend_from_slice(&rest);
        let all = String::from_utf8(got).unwrap();
        assert_eq!(all.matches("data: ").count(), 4, "{all}");
        let usage: Value = all
            .rsplit("data: ")
            .filter_map(|e| serde_json::from_str::<Value>(e.trim()).ok())
            .find_map(|v| v.get("usageMetadata").cloned())
            .unwrap();
        assert_metered(&gw, &id, &usage, "stream through the TLS listener");

        // A plain-HTTP request to the TLS port is not served.
        let plain = reqwest::Client::new()
            .get(format!("http://{}/v1beta/models", gw.addr))
            .header("x-goog-api-key", KEY)
            .send()
            .await;
        assert!(
            plain.map(|r| !r.status().is_success()).unwrap_or(true),
            "plain HTTP is not answered by a TLS listener"
        );
    });
    gw.stop();
}

#[test]
fn tls_listener_in_front_of_a_tls_upstream_over_h2() {
    let dir = tempfile::tempdir().unwrap();
    let upstream_ca = Ca::new("upstream CA");
    let (ca_pem, cert, key) = upstream_ca.issue(dir.path(), "upstream", &["localhost"]);
    let (fake, url) = tls_fake(&cert, &key, Alpn::H2AndHttp11);
    let (mut gw, listener_ca) = tls_gateway(
        dir.path(),
        &url,
        &format!("upstream_ca_file = {}\n", toml_path(&ca_pem)),
    );
    tokio_block_on(async {
        let tls = client_tls(&listener_ca, &[b"h2", b"http/1.1"]);
        let path = format!("/v1beta/models/{MODEL}:generateContent");
        let (alpn, resp) = send(tls, gw.addr, post(&path, gemini_body("h2 all the way"))).await;
        assert_eq!(alpn, "h2");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-fake-tls-alpn"], "h2");
        assert_eq!(resp.headers()["x-fake-tls-sni"], "localhost");
        let id = resp.headers()["x-gateway-trace-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let v: Value = serde_json::from_slice(&body_bytes(resp).await).unwrap();
        assert_metered(&gw, &id, &v["usageMetadata"], "h2 on both sides");
    });
    assert!(!fake.tls_connections().is_empty());
    gw.stop();
}

#[test]
fn bad_listener_certificates_are_startup_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("startup test CA");
    let (_, cert, _) = ca.issue(dir.path(), "one", &["localhost"]);
    let (_, _, other_key) = ca.issue(dir.path(), "two", &["localhost"]);
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let missing = dir.path().join("missing.pem");
    let cases = [
        (&cert, &other_key, "two-key.pem"),
        (&garbage, &other_key, "garbage.pem"),
        (&cert, &missing, "missing.pem"),
    ];
    for (cert, key, named) in cases {
        let config = dir.path().join("gateway.toml");
        std::fs::write(
            &config,
            format!(
                "[proxy]\nlisten = \"127.0.0.1:0\"\nupstream = \"http://127.0.0.1:9\"\n\
                 tls_cert = {}\ntls_key = {}\n[storage]\npath = {}\n",
                toml_path(cert),
                toml_path(key),
                toml_path(&dir.path().join("gateway.db"))
            ),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{named}: the gateway must not start");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{named} not named in:\n{stderr}");
    }
}

/// An HTTP/2 client over TLS that sends its connection preface a byte at a time and stops
/// before its empty line: the header timeout closes the connection, as it does a trickled
/// HTTP/1 header, although the gateway's HTTP/2 side writes its own preface first. Counted on
/// `/metrics`.
#[test]
fn a_trickled_h2_preface_over_tls_is_closed_at_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fake = fake_gemini::spawn_in_thread(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("listener test CA");
    let (ca_pem, cert, key) = ca.issue(dir.path(), "listener", &["localhost", "127.0.0.1"]);
    let gw = Gateway::start(
        &fake.base_url(),
        &format!(
            "tls_cert = {}\ntls_key = {}\nheader_timeout_seconds = 1\n",
            toml_path(&cert),
            toml_path(&key)
        ),
        "[api]\nlisten = \"127.0.0.1:0\"\n",
    );
    gw.wait_for_log("Proxy listener speaks TLS");
    let closed = tokio_block_on(async {
        let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let stream = tokio_rustls::TlsConnector::from(client_tls(&ca_pem, &[b"h2"]))
            .connect(name, tcp)
            .await
            .unwrap();
        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(b"h2".as_slice()));
        let (mut rd, mut wr) = tokio::io::split(stream);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while let Ok(n) = rd.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        });
        // The preface up to its empty line, a byte every 100 ms, then nothing more.
        for &b in b"PRI * HTTP/2.0\r\n" {
            if reader.is_finished() || wr.write_all(&[b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .is_ok()
    });
    assert!(closed, "the trickled h2 preface kept its connection");
    let page = util::metrics(&gw.api_url(""));
    assert_eq!(
        util::metric_value(&page, "gateway_client_header_timeouts_total"),
        1.0
    );
}
