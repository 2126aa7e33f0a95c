//! A deadline on a client connection's first request header.
//!
//! pingora bounds each read of a request header (60 s), never their sum, so a client that sends
//! a header byte every few seconds holds its connection until the header size limit: enough
//! such clients fill the connection cap (`connections`) and keep everyone else out.
//! [`HeaderDeadline`] wraps an accepted client stream and fails its reads (`TimedOut`) once the
//! deadline has passed, until the bytes read so far hold the end of a header: an empty line,
//! `\r\n\r\n` or a bare `\n\n` (the line ends httparse accepts). From then on it passes every call
//! straight through. pingora then drops the connection without an answer, as it does when a
//! read of the header fails.
//!
//! It covers the first request of a connection. Later requests on a kept-alive connection are
//! bounded per read by pingora's keep-alive timeout, and HTTP/2 by its own frame handling (the
//! preface ends in an empty line); docs/faults.md says what stays open.

use crate::connections::ConnectionStats;
use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A client stream whose first request header must arrive within a deadline (see the module
/// documentation).
#[derive(Debug)]
pub struct HeaderDeadline {
    inner: Stream,
    /// Until the first header is complete: the deadline, and whether the bytes read so far end
    /// at the start of a line (after a `\n`, with nothing but `\r` since).
    pending: Option<Pending>,
    stats: Arc<ConnectionStats>,
}

#[derive(Debug)]
struct Pending {
    deadline: Pin<Box<tokio::time::Sleep>>,
    at_line_start: bool,
    /// Whether this connection's timeout was counted (once, however often it is read after).
    counted: bool,
}

impl Pending {
    /// Whether `bytes`, following what was read before, complete a header.
    fn ends_header(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            match b {
                b'\n' if self.at_line_start => return true,
                b'\n' => self.at_line_start = true,
                b'\r' => {}
                _ => self.at_line_start = false,
            }
        }
        false
    }
}

impl HeaderDeadline {
    /// Wraps `inner`, whose first request header must be read within `timeout` from now.
    /// Connections that miss it are counted in `stats.header_timeouts`.
    pub fn new(inner: Stream, timeout: Duration, stats: Arc<ConnectionStats>) -> Self {
        Self {
            inner,
            pending: Some(Pending {
                deadline: Box::pin(tokio::time::sleep(timeout)),
                at_line_start: false,
                counted: false,
            }),
            stats,
        }
    }
}

impl AsyncRead for HeaderDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let Some(pending) = &mut this.pending else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        if pending.deadline.as_mut().poll(cx).is_ready() {
            if !std::mem::replace(&mut pending.counted, true) {
                this.stats.header_timeouts.fetch_add(1, Ordering::Relaxed);
            }
            // Once failed, always failed: the reads that follow see the same deadline.
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request header did not arrive within the header timeout",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && pending.ends_header(&buf.filled()[before..])
        {
            this.pending = None;
        }
        polled
    }
}

impl AsyncWrite for HeaderDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for HeaderDeadline {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for HeaderDeadline {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for HeaderDeadline {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for HeaderDeadline {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for HeaderDeadline {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for HeaderDeadline {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, socket_digest: SocketDigest) {
        self.inner.set_socket_digest(socket_digest);
    }
}

#[async_trait]
impl Peek for HeaderDeadline {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Whether `text`, read in pieces of `piece` bytes, completes a header.
    fn ends(text: &[u8], piece: usize) -> bool {
        let mut p = Pending {
            deadline: Box::pin(tokio::time::sleep(Duration::ZERO)),
            at_line_start: false,
            counted: false,
        };
        text.chunks(piece).any(|c| p.ends_header(c))
    }

    #[tokio::test]
    async fn a_header_ends_at_its_empty_line_in_any_piece_size() {
        let complete: [&[u8]; 4] = [
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\n\n",
            b"GET / HTTP/1.1\r\nHost: a\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ];
        let incomplete: [&[u8]; 4] = [
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
}
