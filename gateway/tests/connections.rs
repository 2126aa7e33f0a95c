//! File descriptors and client connections, against the real binary under a small file limit
//! (`prlimit`): the soft limit is raised to the hard one at start, client connections are
//! capped below it (half of what is left after 128 descriptors), a connection past the cap is
//! closed at once, and once clients go the proxy serves again. A client that trickles its
//! request header past the header timeout is closed and counted; one whose header came in time
//! keeps its connection past that timeout. Every wait has a deadline only. Needs `prlimit`
//! (util-linux).

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use util::{Gateway, client, metric_value, metrics, read_answer};

/// The hard file limit the gateway runs under; its cap is (300 - 128) / 2.
const HARD: u64 = 300;
const CAP: usize = 86;

fn generate(gw: &Gateway) -> Result<u16, reqwest::Error> {
    client()
        .post(gw.url("/v1beta/models/gemini-3.8-flash:generateContent"))
        .header("x-goog-api-key", "k")
        .body(r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#)
        .send()
        .map(|r| r.status().as_u16())
}

fn wait_for(what: &str, gw: &Gateway, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what}; log:\n{}", gw.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn connections_past_the_cap_are_closed_at_once_and_the_proxy_serves_when_they_go() {
    let fake = spawn_in_thread(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    let limit = format!("--nofile=200:{HARD}");
    let gw = Gateway::start_wrapped(
        dir,
        db,
        &fake.base_url(),
        "",
        "linger_ms = 5",
        "",
        &["prlimit", &limit, "--"],
    );
    let log = gw.log_text();
    assert!(
        log.contains("Raised the open file limit") && log.contains(&format!("now={HARD}")),
        "{log}"
    );
    assert!(log.contains(&format!("max_connections={CAP}")), "{log}");
    assert_eq!(generate(&gw).unwrap(), 200);

    // Idle clients up to the cap (they send nothing).
    let mut held: Vec<TcpStream> = (0..CAP)
        .map(|_| TcpStream::connect(gw.addr).unwrap())
        .collect();
    // One more: closed by the gateway at once, without an answer. (A connection of the first
    // request may still have been counted when the idle ones came: one that is not closed is
    // kept open, so the count reaches the cap whatever the order.)
    wait_for("a connection past the cap closed", &gw, || {
        let mut s = TcpStream::connect(gw.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let closed = match s.read(&mut [0u8; 16]) {
            Ok(n) => n == 0,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        if !closed {
            held.push(s);
        }
        closed && gw.log_text().contains("Client connections at the cap")
    });
    assert!(generate(&gw).is_err(), "a new client is refused at the cap");

    // The idle clients go: the proxy serves again.
    drop(held);
    wait_for("served again once the clients went", &gw, || {
        matches!(generate(&gw), Ok(200))
    });
}

fn metric(gw: &Gateway, name: &str) -> f64 {
    metric_value(&metrics(&gw.api_url("")), name)
}

const REQUEST: &str = "POST /v1beta/models/gemini-3.8-flash:generateContent HTTP/1.1\r\n\
    Host: gw\r\nx-goog-api-key: k\r\ncontent-type: application/json\r\n\
    content-length: 40\r\n\r\n{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}";

#[test]
fn a_header_trickled_past_the_header_timeout_closes_the_connection_and_is_counted() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(
        &fake.base_url(),
        "header_timeout_seconds = 1\n",
        "[api]\nlisten = \"127.0.0.1:0\"\n",
    );
    assert_eq!(metric(&gw, "gateway_client_header_timeouts_total"), 0.0);

    // A header byte every 100 ms, never its last line: each read has a byte to return, so only
    // a deadline on the whole header closes the connection.
    let head = REQUEST.split("\r\n\r\n").next().unwrap().as_bytes();
    let mut slow = TcpStream::connect(gw.addr).unwrap();
    assert!(
        trickled_until_closed(&mut slow, head, &gw),
        "the trickling client kept its connection"
    );
    wait_for("the timeout counted", &gw, || {
        metric(&gw, "gateway_client_header_timeouts_total") >= 1.0
    });
    assert_eq!(metric(&gw, "gateway_client_header_timeouts_total"), 1.0);

    // A header that came in time: the connection stays usable past the timeout (keep-alive).
    let mut s = TcpStream::connect(gw.addr).unwrap();
    let mut pending = Vec::new();
    s.write_all(REQUEST.as_bytes()).unwrap();
    assert_eq!(read_answer(&mut s, &mut pending).0, 200);
    std::thread::sleep(Duration::from_millis(1_500));
    s.write_all(REQUEST.as_bytes()).unwrap();
    assert_eq!(read_answer(&mut s, &mut pending).0, 200);
    assert_eq!(metric(&gw, "gateway_client_header_timeouts_total"), 1.0);
    assert_eq!(metric(&gw, "gateway_client_connections_refused_total"), 0.0);
    assert!(metric(&gw, "gateway_client_connections_open") >= 1.0);

    // A later header on that kept-alive connection has a deadline of its own, from its first
    // byte: trickled, it is closed and counted too.
    assert!(
        trickled_until_closed(&mut s, head, &gw),
        "a trickled second header kept its connection"
    );
    wait_for("the second timeout counted", &gw, || {
        metric(&gw, "gateway_client_header_timeouts_total") >= 2.0
    });
    assert_eq!(metric(&gw, "gateway_client_header_timeouts_total"), 2.0);
}

/// Writes `head` to `stream` a byte every 100 ms, over and over, never its last line; whether
/// the gateway closed the connection (within 60 s) rather than answer.
fn trickled_until_closed(stream: &mut TcpStream, head: &[u8], gw: &Gateway) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    for &b in head.iter().cycle().take(head.len() * 20) {
        assert!(
            Instant::now() < deadline,
            "not closed; log:\n{}",
            gw.log_text()
        );
        if stream.write_all(&[b]).is_err() {
            return true;
        }
        match stream.read(&mut [0u8; 64]) {
            Ok(0) => return true,
            Ok(n) => panic!("an answer to a header never finished ({n} bytes)"),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => {}
        }
    }
    false
}
