//! File descriptors and client connections, against the real binary under a small file limit
//! (`prlimit`): the soft limit is raised to the hard one at start, client connections are
//! capped below it (half of what is left after 128 descriptors), a connection past the cap is
//! closed at once, and once clients go the proxy serves again. Every wait has a deadline only.
//! Needs `prlimit` (util-linux).

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use util::{Gateway, client};

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
