//! A blocking WebSocket client for the Live API tests: open a session (or the API's live feed)
//! with extra headers, and read its JSON messages. A read that never completes fails the test
//! after [`READ_BOUND`] instead of blocking it.

use serde_json::Value;
use std::net::TcpStream;
use std::time::Duration;
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// A client WebSocket.
pub type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

/// Bounds a read that never completes (a hang fails the test instead of blocking it).
pub const READ_BOUND: Duration = Duration::from_secs(60);

/// Opens `url` (`http://` becomes `ws://`) with `headers`; the upgrade must answer 101.
pub fn open(url: &str, headers: &[(&str, &str)]) -> Ws {
    let mut req = url
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    let (ws, resp) = tungstenite::connect(req).unwrap();
    assert_eq!(resp.status(), 101);
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(READ_BOUND)).unwrap();
    }
    ws
}

/// The next data message as JSON.
pub fn next(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("the socket stays open") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Binary(b) => return serde_json::from_slice(&b).unwrap(),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

/// The next feed message of type `kind`, skipping others (`stats`).
pub fn next_of(feed: &mut Ws, kind: &str) -> Value {
    loop {
        let m = next(feed);
        if m["type"] == kind {
            return m;
        }
    }
}
