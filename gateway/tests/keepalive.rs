//! An idle keep-alive client cannot hold a connection forever: after a request, the gateway
//! closes a connection that stays idle for `IDLE_KEEPALIVE_SECONDS` (60 s). The wait for the
//! close is bounded at 150 s; no duration is asserted.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use util::Gateway;

#[test]
fn an_idle_keepalive_connection_is_closed() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let mut s = TcpStream::connect(gw.addr).unwrap();
    let body = r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#;
    write!(
        s,
        "POST /v1beta/models/gemini-3.8-flash:generateContent HTTP/1.1\r\nhost: x\r\n\
         x-goog-api-key: k\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(150))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    // The answer first (the connection is kept alive after it).
    while !String::from_utf8_lossy(&got).contains("usageMetadata") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    // Then nothing from the client: the gateway ends the idle connection (EOF), well before
    // the 150 s read timeout of this test would fire.
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) => panic!("the idle connection was not closed: {e}"),
        }
    }
}
