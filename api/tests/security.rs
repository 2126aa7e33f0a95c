//! Host and Origin checks over real sockets: raw HTTP/1.1 requests (any `Host`, any `Origin`)
//! and tokio-tungstenite WebSocket upgrades against [`gateway_api::serve`].

use crate::util::*;
use gateway_api::{ApiOptions, AppState};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// A served API on 127.0.0.1; dropping it stops the server.
struct Server {
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
    _db: TestDb,
}

async fn serve(configure: impl FnOnce(&mut ApiOptions, SocketAddr)) -> Server {
    let mut db = TestDb::new();
    db.write(&[trace(&tid(1), now() - 1000 * MS, 12.0)]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut opts = ApiOptions::new(&db.path);
    configure(&mut opts, addr);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gateway_api::serve(
        listener,
        AppState::new(opts),
        async move {
            let _ = stopped.await;
        },
    ));
    Server {
        addr,
        _stop: stop,
        _db: db,
    }
}

/// A response: status, lowercase header lines, JSON body (`Null` when not JSON).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `METHOD path` over a fresh connection with exactly these headers (`Host` included)
/// and reads the whole response.
async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("Connection: close\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(text.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("response within 10 s")
        .expect("read");
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

async fn get_as(addr: SocketAddr, path: &str, host: &str, origin: Option<&str>) -> Reply {
    let mut headers = vec![("Host", host)];
    headers.extend(origin.map(|o| ("Origin", o)));
    request(addr, "GET", path, &headers).await
}

/// A WebSocket upgrade of `/api/live` with this `Host` and `Origin`: the first JSON message,
/// or the HTTP status and error body of the refusal.
async fn live(addr: SocketAddr, host: &str, origin: Option<&str>) -> Result<Value, (u16, Value)> {
    let mut req = format!("ws://{addr}/api/live")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("host", host.parse().expect("host value"));
    if let Some(o) = origin {
        req.headers_mut()
            .insert("origin", o.parse().expect("origin value"));
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((mut ws, _)) => {
            use futures::StreamExt;
            let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("a message within 10 s")
                .expect("open")
                .expect("frame");
            let tungstenite::Message::Text(t) = msg else {
                panic!("not text: {msg:?}")
            };
            Ok(serde_json::from_str(t.as_str()).expect("json"))
        }
        Err(tungstenite::Error::Http(res)) => {
            let body = res.body().as_deref().unwrap_or_default();
            Err((
                res.status().as_u16(),
                serde_json::from_slice(body).unwrap_or(Value::Null),
            ))
        }
        Err(e) => panic!("unexpected WebSocket error: {e}"),
    }
}

#[tokio::test]
async fn a_foreign_host_is_refused_on_every_route_with_421() {
    let s = serve(|_, _| {}).await;
    let port = s.addr.port();
    let evil = format!("rebind.attacker.example:{port}");
    for path in [
        "/api/traces",
        "/healthz",
        "/metrics",
        "/",
        "/api/openapi.json",
    ] {
        let r = get_as(s.addr, path, &evil, None).await;
        assert_eq!(r.status, 421, "{path}: {}", r.body);
        assert_eq!(r.body["error"]["code"], 421, "{path}");
        let m = message(&r.body);
        assert!(
            m.contains("[api] allowed_hosts") && m.contains(&evil),
            "{m}"
        );
    }
    let (status, body) = live(s.addr, &evil, None).await.expect_err("refused");
    assert_eq!(status, 421, "{body}");
    // Loopback names only with the listen port.
    let other_port = format!("localhost:{}", port.wrapping_add(1));
    for host in [
        other_port.as_str(),
        "localhost",
        "localhost.:1",
        "a b",
        "evil.example",
    ] {
        let r = get_as(s.addr, "/api/traces", host, None).await;
        assert!(r.status == 421 || r.status == 400, "{host}: {}", r.status);
    }
}

#[tokio::test]
async fn loopback_names_with_the_listen_port_are_accepted() {
    let s = serve(|_, _| {}).await;
    let port = s.addr.port();
    for name in ["127.0.0.1", "localhost", "LocalHost", "[::1]"] {
        let host = format!("{name}:{port}");
        let r = get_as(s.addr, "/api/traces", &host, None).await;
        assert_eq!(r.status, 200, "{host}: {}", r.body);
        assert_eq!(r.body["traces"][0]["trace_id"], tid(1).as_str());
        assert_eq!(get_as(s.addr, "/healthz", &host, None).await.status, 200);
    }
    // No Host at all (HTTP/1.0 style): not a browser, not checked.
    let r = request(s.addr, "GET", "/api/traces", &[]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn allowed_hosts_are_accepted() {
    let s = serve(|o, _| {
        o.allowed_hosts = vec!["gateway.internal".into(), "exact.internal:9999".into()];
    })
    .await;
    for host in [
        "gateway.internal",
        "gateway.internal:443",
        "GATEWAY.internal:8081",
    ] {
        let r = get_as(s.addr, "/api/traces", host, None).await;
        assert_eq!(r.status, 200, "{host}: {}", r.body);
    }
    assert_eq!(
        get_as(s.addr, "/api/traces", "exact.internal:9999", None)
            .await
            .status,
        200
    );
    let wrong_port = format!("exact.internal:{}", s.addr.port());
    assert_eq!(
        get_as(s.addr, "/api/traces", &wrong_port, None)
            .await
            .status,
        421
    );
    let snapshot = live(s.addr, "gateway.internal:8081", None)
        .await
        .expect("accepted");
    assert_eq!(snapshot["type"], "snapshot");
}

#[tokio::test]
async fn cross_origin_rest_is_refused_with_403_and_no_cors_headers() {
    let s = serve(|_, _| {}).await;
    let host = s.addr.to_string();
    let own = format!("http://{host}");
    let other_port = format!("http://127.0.0.1:{}", s.addr.port().wrapping_add(1));
    for origin in [
        "http://evil.example",
        other_port.as_str(),
        "null",
        &format!("http://localhost:{}", s.addr.port()),
    ] {
        for path in ["/api/traces", "/metrics", "/healthz", "/"] {
            let r = get_as(s.addr, path, &host, Some(origin)).await;
            assert_eq!(r.status, 403, "{origin} {path}: {}", r.body);
            assert_eq!(r.body["error"]["code"], 403);
            let m = message(&r.body);
            assert!(
                m.contains("[api] allowed_origins") && m.contains(origin),
                "{m}"
            );
            assert_eq!(r.header("access-control-allow-origin"), None);
        }
    }
    // A CORS preflight from another origin is refused as well.
    let preflight = request(
        s.addr,
        "OPTIONS",
        "/api/traces",
        &[
            ("Host", &host),
            ("Origin", "http://evil.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
    )
    .await;
    assert_eq!(preflight.status, 403);
    assert_eq!(preflight.header("access-control-allow-origin"), None);
    // Same origin and no Origin at all are fine.
    assert_eq!(
        get_as(s.addr, "/api/traces", &host, Some(&own))
            .await
            .status,
        200
    );
    assert_eq!(get_as(s.addr, "/api/traces", &host, None).await.status, 200);
}

#[tokio::test]
async fn allowed_origins_are_accepted_with_cors_headers_for_them_only() {
    let grafana = "https://grafana.example.com";
    let s = serve(|o, _| o.allowed_origins = vec![grafana.into()]).await;
    let host = s.addr.to_string();
    let r = get_as(s.addr, "/api/traces", &host, Some(grafana)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("access-control-allow-origin"), Some(grafana));
    let preflight = request(
        s.addr,
        "OPTIONS",
        "/api/traces",
        &[
            ("Host", &host),
            ("Origin", grafana),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
    )
    .await;
    assert_eq!(preflight.status, 200);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(grafana)
    );
    let r = get_as(s.addr, "/api/traces", &host, Some("https://evil.example")).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let msg = live(s.addr, &host, Some(grafana)).await.expect("accepted");
    assert_eq!(msg["type"], "snapshot");
}

#[tokio::test]
async fn cross_origin_websocket_upgrades_are_refused_even_with_the_token() {
    let s = serve(|o, _| *o = o.clone().token("tok")).await;
    let host = s.addr.to_string();
    for origin in ["http://evil.example", "https://evil.example:443"] {
        let mut req = format!("ws://{host}/api/live?token=tok")
            .into_client_request()
            .expect("request");
        req.headers_mut()
            .insert("origin", origin.parse().expect("value"));
        match tokio_tungstenite::connect_async(req).await {
            Err(tungstenite::Error::Http(res)) => {
                assert_eq!(res.status().as_u16(), 403, "{origin}");
                let body: Value = serde_json::from_slice(res.body().as_deref().unwrap_or_default())
                    .expect("json error body");
                assert!(message(&body).contains("[api] allowed_origins"), "{body}");
            }
            other => panic!("{origin}: expected 403, got {:?}", other.map(|_| ())),
        }
    }
    // Same origin with the token: the feed. Without a token: still 401.
    let mut req = format!("ws://{host}/api/live?token=tok")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("origin", format!("http://{host}").parse().expect("value"));
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("same origin connects");
    use futures::StreamExt;
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a message within 10 s");
    assert!(matches!(first, Some(Ok(tungstenite::Message::Text(_)))));
    let (status, _) = live(s.addr, &host, Some(&format!("http://{host}")))
        .await
        .expect_err("no token");
    assert_eq!(status, 401);
}

#[tokio::test]
async fn websocket_same_origin_and_no_origin_are_accepted() {
    let s = serve(|_, _| {}).await;
    let host = s.addr.to_string();
    let own = format!("http://{host}");
    for origin in [Some(own.as_str()), None] {
        let msg = live(s.addr, &host, origin).await.expect("accepted");
        assert_eq!(msg["type"], "snapshot", "{origin:?}");
        assert_eq!(msg["traces"][0]["trace_id"], tid(1).as_str());
    }
    let (status, body) = live(s.addr, &host, Some("http://evil.example"))
        .await
        .expect_err("refused");
    assert_eq!(status, 403, "{body}");
}
