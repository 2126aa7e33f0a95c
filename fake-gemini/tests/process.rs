//! The `fake-gemini` binary and the blocking `spawn_in_thread` helper.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use fake_gemini::{FakeConfig, spawn_in_thread};

/// A raw HTTP/1.1 GET with `Connection: close`; returns the whole answer.
fn raw_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nx-goog-api-key: k\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn spawn_in_thread_serves_blocking_callers() {
    let fake = spawn_in_thread(FakeConfig::default());
    let answer = raw_get(&fake.addr().to_string(), "/v1beta/models/gemini-2.5-flash");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"name\": \"models/gemini-2.5-flash\""));
    assert_eq!(fake.requests().len(), 1);
    let addr = fake.addr();
    drop(fake);
    // Dropping the handle stops the server: its port refuses connections (the deadline only
    // bounds the wait for the runtime to wind down).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while TcpStream::connect(addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "dropping the handle stops the server"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn binary_prints_its_address() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-gemini"))
        .args(["--listen", "127.0.0.1:0", "--chunks", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("line");
    let addr = line
        .trim()
        .strip_prefix("fake-gemini listening on http://")
        .expect("announce line")
        .to_string();
    assert!(!addr.ends_with(":0"), "real port: {addr}");
    let answer = raw_get(&addr, "/v1beta/models");
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("gemini-2.5-flash"));
}
