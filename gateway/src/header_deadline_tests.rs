//! Tests of the header deadline: the scanner, and the wrapper over real loopback sockets.
#![allow(clippy::unwrap_used)]

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Whether `text`, read in pieces of `piece` bytes, completes a header.
fn ends(text: &[u8], piece: usize) -> bool {
    let mut h = Header::new();
    text.chunks(piece).any(|c| h.ends_header(c))
}

#[test]
fn a_header_ends_at_its_empty_line_in_any_piece_size() {
    let complete: [&[u8]; 6] = [
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\r\n{\"body\":1}",
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"GET / HTTP/1.1\r\nHost: a\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ];
    let incomplete: [&[u8]; 6] = [
        b"\r\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: \r\r\nY: \r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\r\n",
        b"GET / HTTP/1.1\r\nX: \r\r\r\nY: z\r\n",
        b"",
    ];
    for (texts, want) in [(complete, true), (incomplete, false)] {
        for text in texts {
            for piece in 1..=text.len().max(1) {
                assert_eq!(ends(text, piece), want, "{text:?} in pieces of {piece}");
            }
        }
    }
}

/// The scanner agrees with a byte-at-a-time reading of the rule on every text of up to 9
/// bytes of `\r`, `\n` and `a`, in every piece size.
#[test]
fn the_scanner_agrees_with_the_rule_byte_by_byte() {
    fn by_bytes(text: &[u8]) -> bool {
        let mut at_line_start = false;
        for &b in text {
            match b {
                b'\n' if at_line_start => return true,
                b'\n' => at_line_start = true,
                b'\r' => {}
                _ => at_line_start = false,
            }
        }
        false
    }
    let alphabet = [b'\r', b'\n', b'a'];
    for len in 0..=9u32 {
        for mut n in 0..3usize.pow(len) {
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    let b = alphabet[n % 3];
                    n /= 3;
                    b
                })
                .collect();
            for piece in 1..=text.len().max(1) {
                assert_eq!(ends(&text, piece), by_bytes(&text), "{text:?} by {piece}");
            }
        }
    }
}

/// The accepted side of a loopback connection, wrapped with `timeout`, and its client.
async fn wrapped(
    timeout: Duration,
) -> (HeaderDeadline, tokio::net::TcpStream, Arc<ConnectionStats>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let stats = Arc::new(ConnectionStats::default());
    let stream: Stream = Box::new(pingora::protocols::l4::stream::Stream::from(server));
    (
        HeaderDeadline::new(stream, timeout, stats.clone()),
        client,
        stats,
    )
}

#[tokio::test]
async fn a_late_header_fails_every_read_and_is_counted_once() {
    let (mut server, mut client, stats) = wrapped(Duration::from_millis(50)).await;
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        server.read(&mut buf).await.unwrap() > 0,
        "bytes before the deadline pass"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.write_all(b"X: y\r\n").await.unwrap();
    for _ in 0..3 {
        let e = server.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    }
    assert_eq!(stats.header_timeouts.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn after_a_whole_header_the_deadline_no_longer_applies() {
    let (mut server, mut client, stats) = wrapped(Duration::from_millis(50)).await;
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while !got.ends_with(b"\r\n\r\n") {
        let n = server.read(&mut buf).await.unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.write_all(b"GET /next HTTP/1.1\r\n").await.unwrap();
    assert!(server.read(&mut buf).await.unwrap() > 0);
    server.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
    assert!(client.read(&mut buf).await.unwrap() > 0);
    assert_eq!(stats.header_timeouts.load(Ordering::Relaxed), 0);
}

/// Reads until the end of a header, and returns what was read.
async fn read_header(server: &mut HeaderDeadline) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while !got.ends_with(b"\r\n\r\n") {
        let n = server.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

/// Sends `bytes` from the client and reads them on the wrapped side (all, or an error).
async fn pass(
    server: &mut HeaderDeadline,
    client: &mut tokio::net::TcpStream,
    bytes: &[u8],
) -> std::io::Result<()> {
    client.write_all(bytes).await.unwrap();
    let mut got = 0;
    let mut buf = [0u8; 64];
    while got < bytes.len() {
        got += server.read(&mut buf).await?;
    }
    Ok(())
}

async fn past(timeout: Duration) {
    tokio::time::sleep(timeout * 2).await;
}

/// Sends the start of a header, waits past `timeout`, sends a line more: its read must fail.
async fn trickle_a_header_past(
    timeout: Duration,
    server: &mut HeaderDeadline,
    client: &mut tokio::net::TcpStream,
) {
    pass(server, client, b"GET /2 HTTP/1.1\r\n").await.unwrap();
    past(timeout).await;
    let e = pass(server, client, b"X: y\r\n").await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn a_later_header_trickled_past_its_deadline_fails_and_is_counted() {
    let t = Duration::from_millis(50);
    let (mut server, mut client, stats) = wrapped(t).await;
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    read_header(&mut server).await;
    server.write_all(OK).await.unwrap();
    // Idle past the timeout: the next header's deadline runs from its first byte.
    past(t).await;
    trickle_a_header_past(t, &mut server, &mut client).await;
    // Once failed, always failed, and counted once.
    for _ in 0..2 {
        let e = pass(&mut server, &mut client, b"X: y\r\n")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    }
    assert_eq!(stats.header_timeouts.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_later_header_in_time_leaves_its_body_untimed() {
    let t = Duration::from_millis(50);
    let (mut server, mut client, stats) = wrapped(t).await;
    for (i, path) in ["/1", "/2", "/3"].into_iter().enumerate() {
        if i > 0 {
            // Idle past the timeout: the first header's deadline runs from accept, the
            // later ones' from their first byte.
            past(t).await;
        }
        client
            .write_all(format!("POST {path} HTTP/1.1\r\ncontent-length: 8\r\n").as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(t / 4).await;
        client.write_all(b"\r\n").await.unwrap();
        read_header(&mut server).await;
        // The body, slower than the timeout.
        pass(&mut server, &mut client, b"abcd").await.unwrap();
        past(t).await;
        pass(&mut server, &mut client, b"efgh").await.unwrap();
        server.write_all(OK).await.unwrap();
    }
    assert_eq!(stats.header_timeouts.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn an_interim_answer_starts_no_header_and_the_final_one_does() {
    let t = Duration::from_millis(50);
    let (mut server, mut client, stats) = wrapped(t).await;
    client.write_all(b"POST / HTTP/1.1\r\n\r\n").await.unwrap();
    read_header(&mut server).await;
    server
        .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
        .await
        .unwrap();
    pass(&mut server, &mut client, b"body").await.unwrap();
    past(t).await;
    pass(&mut server, &mut client, b"more").await.unwrap();
    server.write_all(OK).await.unwrap();
    trickle_a_header_past(t, &mut server, &mut client).await;
    assert_eq!(stats.header_timeouts.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_write_while_a_header_is_read_ends_that_header() {
    // Body bytes read after an early answer look like a header; the next answer shows they
    // were not, and the idle time after it is not held against the next header.
    let t = Duration::from_millis(50);
    let (mut server, mut client, stats) = wrapped(t).await;
    client.write_all(b"POST / HTTP/1.1\r\n\r\n").await.unwrap();
    read_header(&mut server).await;
    server.write_all(OK).await.unwrap();
    pass(&mut server, &mut client, b"late body").await.unwrap();
    server.write_all(OK).await.unwrap();
    past(t).await;
    client.write_all(b"GET /2 HTTP/1.1\r\n\r\n").await.unwrap();
    read_header(&mut server).await;
    assert_eq!(stats.header_timeouts.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn after_an_upgrade_or_a_non_http1_answer_reads_are_never_timed() {
    let t = Duration::from_millis(50);
    let answers: [&[u8]; 2] = [
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
        // An HTTP/2 SETTINGS frame, after the preface.
        &[0, 0, 0, 4, 0, 0, 0, 0, 0],
    ];
    for answer in answers {
        let (mut server, mut client, stats) = wrapped(t).await;
        client.write_all(b"GET /ws HTTP/1.1\r\n\r\n").await.unwrap();
        read_header(&mut server).await;
        server.write_all(answer).await.unwrap();
        for frame in [&b"\x81\x05hel"[..], b"lo", b"\x81\x01!"] {
            pass(&mut server, &mut client, frame).await.unwrap();
            past(t).await;
        }
        server.write_all(OK).await.unwrap();
        pass(&mut server, &mut client, b"GET / HTTP/1.1\r\n")
            .await
            .unwrap();
        past(t).await;
        pass(&mut server, &mut client, b"X: y\r\n").await.unwrap();
        assert_eq!(stats.header_timeouts.load(Ordering::Relaxed), 0);
    }
}
