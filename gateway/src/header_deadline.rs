//! A deadline on each request header of a client connection.
//!
//! pingora bounds each read of a request header (60 s), never their sum, so a client that sends
//! a header byte every few seconds holds its connection until the header size limit: enough
//! such clients fill the connection cap (`connections`) and keep everyone else out.
//! [`HeaderDeadline`] wraps an accepted client stream and fails its reads (`TimedOut`) once a
//! header's deadline has passed, until the bytes read so far hold the end of that header: an
//! empty line, `\r\n\r\n` or a bare `\n\n` (the line ends httparse accepts). pingora then
//! drops the connection without an answer, as it does when a read of the header fails.
//!
//! - The first header's deadline runs from accept.
//! - On HTTP/1, a kept-alive connection's later headers each get one too, from their first
//!   byte (the idle wait before it is pingora's keep-alive timeout). The wrapper cannot parse
//!   request bodies, so it tells where a header starts from the answers: the first bytes read
//!   after a final answer began (a write starting `HTTP/1.x` and a status of 200 to 599) start
//!   the next header. Any write while a header is being read ends that header: pingora answers
//!   only a request whose header it has. An interim answer (`1xx`) changes nothing.
//! - On HTTP/2 (ALPN `h2`) the deadline covers the client's connection preface, which ends in
//!   an empty line, whatever the server writes meanwhile (its own preface may go first); then
//!   the wrapper stands aside. So it does after a `101` (a WebSocket), or a first answer that
//!   is not HTTP/1.
//!
//! Known limit: a request body still being read after its answer began (an early error
//! answer, or a pipelined request whose header pingora read with the one before) is read as
//! if it were a header, so a body that slow for longer than the timeout, with no empty line,
//! loses its connection. pingora does not reuse such a connection anyway when its body was
//! left unread.

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

/// A client stream whose request headers must each arrive within a deadline (see the module
/// documentation).
#[derive(Debug)]
pub struct HeaderDeadline {
    inner: Stream,
    timeout: Duration,
    /// The header being read, if one is.
    header: Option<Header>,
    /// Where the connection is between headers.
    between: Between,
    /// The deadline of the header being read: set at accept, reset for each later header that
    /// does not arrive in one read.
    deadline: Pin<Box<tokio::time::Sleep>>,
    stats: Arc<ConnectionStats>,
}

/// A request header being read.
#[derive(Debug)]
struct Header {
    /// Whether the bytes read so far end at the start of a line (after a `\n`, with nothing but
    /// `\r` since).
    at_line_start: bool,
    /// Whether this header's timeout was counted (once, however often it is read after).
    counted: bool,
}

/// What the connection does once a header has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Between {
    /// The request's answer has not begun: reads are its body.
    Request,
    /// A final answer began: the next bytes read start a header.
    Answered,
    /// Upgraded, or not HTTP/1: no more headers to watch (on HTTP/2 from the start: only the
    /// preface is watched, and writes change nothing).
    Opaque,
}

impl Header {
    fn new() -> Self {
        Self {
            at_line_start: false,
            counted: false,
        }
    }

    /// Whether `bytes`, following what was read before, complete a header.
    fn ends_header(&mut self, bytes: &[u8]) -> bool {
        use std::sync::LazyLock;
        // The usual end of a header: wherever it is, an empty line is there. One search finds
        // it in a header read whole, where looking at each line end costs a search per line.
        static CRLF_CRLF: LazyLock<memchr::memmem::Finder<'static>> =
            LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
        if CRLF_CRLF.find(bytes).is_some() {
            return true;
        }
        let only_cr = |s: &[u8]| s.iter().all(|&b| b == b'\r');
        let mut from = 0;
        for nl in memchr::memchr_iter(b'\n', bytes) {
            if (from > 0 || self.at_line_start) && only_cr(&bytes[from..nl]) {
                return true;
            }
            from = nl + 1;
            self.at_line_start = true;
        }
        self.at_line_start &= only_cr(&bytes[from..]);
        false
    }
}

/// What a write that begins an answer makes of the connection: `None` for an interim answer.
fn answer_kind(written: &[u8]) -> Option<Between> {
    let Some([_, b' ', status @ ..]) = written.strip_prefix(b"HTTP/1.") else {
        return Some(Between::Opaque);
    };
    match status {
        [b'1', b'0', b'1', ..] => Some(Between::Opaque),
        [b'1', ..] => None,
        [b'2'..=b'5', ..] => Some(Between::Answered),
        _ => Some(Between::Opaque),
    }
}

impl HeaderDeadline {
    /// Wraps `inner`, whose first request header must be read within `timeout` from now, and
    /// each later one within `timeout` from its first byte. Headers that miss it are counted in
    /// `stats.header_timeouts`.
    pub fn new(inner: Stream, timeout: Duration, stats: Arc<ConnectionStats>) -> Self {
        let h2 = inner.selected_alpn_proto() == Some(pingora::protocols::ALPN::H2);
        Self {
            inner,
            timeout,
            header: Some(Header::new()),
            between: if h2 {
                Between::Opaque
            } else {
                Between::Request
            },
            deadline: Box::pin(tokio::time::sleep(timeout)),
            stats,
        }
    }

    /// Notes `written`, bytes just written: the answer they may begin.
    fn wrote(&mut self, written: &[u8]) {
        if written.is_empty() || self.between == Between::Opaque {
            return;
        }
        if self.header.take().is_some() {
            self.between = Between::Request;
        }
        if self.between == Between::Request
            && let Some(kind) = answer_kind(written)
        {
            self.between = kind;
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
        let Some(header) = &mut this.header else {
            if this.between != Between::Answered {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            // The first bytes after an answer: a header starts. Most arrive whole, in one read,
            // and never touch the timer.
            let before = buf.filled().len();
            let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
            if let Poll::Ready(Ok(())) = polled
                && buf.filled().len() > before
            {
                this.between = Between::Request;
                let mut header = Header::new();
                if !header.ends_header(&buf.filled()[before..]) {
                    let at = tokio::time::Instant::now() + this.timeout;
                    this.deadline.as_mut().reset(at);
                    this.header = Some(header);
                }
            }
            return polled;
        };
        if this.deadline.as_mut().poll(cx).is_ready() {
            if !std::mem::replace(&mut header.counted, true) {
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
            && header.ends_header(&buf.filled()[before..])
        {
            this.header = None;
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
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.wrote(&buf[..n]);
        }
        polled
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
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
            && let Some(first) = bufs.iter().find(|b| !b.is_empty())
        {
            let first: &[u8] = first;
            self.wrote(&first[..n.min(first.len())]);
        }
        polled
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
#[path = "header_deadline_tests.rs"]
mod tests;
