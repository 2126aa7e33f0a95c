//! File descriptors and client connections.
//!
//! At start the soft `RLIMIT_NOFILE` is raised to the hard limit ([`raise_file_limit`]): a
//! default soft limit of 1,024 is what let 1,100 slow clients stop all proxy traffic. Both
//! limits are logged.
//!
//! Client connections are capped below that limit ([`Capped`]): pingora 0.9.1 accepts without
//! limit, and its `ConnectionFilter` sees each accept but never the close, so the cap wraps the
//! proxy's `ServerApp` instead. pingora runs a whole client connection (every keep-alive request
//! of HTTP/1, every stream of h2) inside one `process_new` call, so counting around that call
//! counts open client connections. Past the cap a new connection is closed at once (never
//! queued), so the process keeps the descriptors its in-flight requests need (their upstream
//! sockets, the database, the API). The cap is [`cap_for`] the soft limit.
//!
//! Each connection served must deliver each request header within the header timeout
//! (`[proxy] header_timeout_seconds`, see `header_deadline`), so that slow clients cannot hold
//! the cap for long. Both the refusals and the timeouts are counted ([`ConnectionStats`], on
//! `/metrics`).

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Descriptors kept for what is not a client connection: listeners, the database and its
/// journal, the API, plugin libraries, the log.
pub const RESERVED_FILES: u64 = 128;

/// The client connection cap for a soft file limit of `files`: each proxied request holds its
/// client socket and an upstream one, so half of what is left after [`RESERVED_FILES`] (at
/// least 16).
pub fn cap_for(files: u64) -> usize {
    usize::try_from((files.saturating_sub(RESERVED_FILES) / 2).max(16)).unwrap_or(usize::MAX)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; logs both. Returns the soft limit in
/// effect afterwards (`None` where it cannot be read).
pub fn raise_file_limit() -> Option<u64> {
    let (soft, hard) = rlimit::get()?;
    if soft < hard {
        match rlimit::set(hard, hard) {
            Ok(()) => {
                tracing::info!(
                    was = soft,
                    now = hard,
                    hard,
                    "Raised the open file limit (RLIMIT_NOFILE) to its hard limit."
                );
                return Some(hard);
            }
            Err(error) => tracing::warn!(
                %error,
                soft,
                hard,
                "Cannot raise the open file limit (RLIMIT_NOFILE); the soft limit stays."
            ),
        }
    } else {
        tracing::info!(soft, hard, "Open file limit (RLIMIT_NOFILE).");
    }
    Some(soft)
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[allow(unsafe_code)] // getrlimit and setrlimit from the C library std links, nothing else
mod rlimit {
    /// `struct rlimit` on 64-bit Linux (`rlim_t` is 64 bits).
    #[repr(C)]
    struct RLimit {
        cur: u64,
        max: u64,
    }

    /// `RLIMIT_NOFILE` on x86-64, aarch64 and riscv64 Linux.
    const RLIMIT_NOFILE: i32 = 7;

    unsafe extern "C" {
        fn getrlimit(resource: i32, rlim: *mut RLimit) -> i32;
        fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
    }

    pub(super) fn get() -> Option<(u64, u64)> {
        let mut r = RLimit { cur: 0, max: 0 };
        // SAFETY: `r` is a valid, writable `struct rlimit`.
        let rc = unsafe { getrlimit(RLIMIT_NOFILE, &mut r) };
        (rc == 0).then_some((r.cur, r.max))
    }

    pub(super) fn set(soft: u64, hard: u64) -> std::io::Result<()> {
        let r = RLimit {
            cur: soft,
            max: hard,
        };
        // SAFETY: `r` is a valid `struct rlimit`, only read.
        let rc = unsafe { setrlimit(RLIMIT_NOFILE, &r) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod rlimit {
    pub(super) fn get() -> Option<(u64, u64)> {
        None
    }

    pub(super) fn set(_soft: u64, _hard: u64) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

/// Client connections open now, refused and timed out so far.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    /// Client connections being served.
    pub open: AtomicUsize,
    /// Connections closed at once because [`ConnectionStats::open`] was at the cap.
    pub refused: AtomicU64,
    /// Connections closed because a request header did not arrive within the header timeout.
    pub header_timeouts: AtomicU64,
}

/// A `ServerApp` that serves at most `cap` client connections at once (see the module docs).
pub struct Capped<A> {
    inner: Arc<A>,
    cap: usize,
    header_timeout: Duration,
    stats: Arc<ConnectionStats>,
    /// When the last refusal was logged (one line per [`LOG_EVERY`] at most).
    logged: std::sync::Mutex<Option<Instant>>,
}

/// Shortest time between two log lines about refused connections.
const LOG_EVERY: Duration = Duration::from_secs(5);

impl<A> Capped<A> {
    /// Wraps `inner`: at most `cap` connections, each with `header_timeout` for each request
    /// header.
    pub fn new(inner: A, cap: usize, header_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(inner),
            cap,
            header_timeout,
            stats: Arc::default(),
            logged: std::sync::Mutex::new(None),
        }
    }

    /// The counters.
    pub fn stats(&self) -> Arc<ConnectionStats> {
        self.stats.clone()
    }

    fn log_refusal(&self) {
        let mut last = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        tracing::warn!(
            cap = self.cap,
            refused_total = self.stats.refused.load(Ordering::Relaxed),
            "Client connections at the cap; new connections are closed at once."
        );
    }
}

/// One open client connection, counted until dropped (also when pingora drops the task).
struct Open(Arc<ConnectionStats>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Capped<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let n = self.stats.open.fetch_add(1, Ordering::AcqRel) + 1;
        let _open = Open(self.stats.clone());
        if n > self.cap {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            self.log_refusal();
            drop(stream);
            return None;
        }
        let stream: Stream = Box::new(crate::header_deadline::HeaderDeadline::new(
            stream,
            self.header_timeout,
            self.stats.clone(),
        ));
        self.inner.process_new(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_upstream_sockets_and_the_rest() {
        assert_eq!(cap_for(1024), 448);
        assert_eq!(cap_for(65_536), 32_704);
        assert_eq!(cap_for(100), 16);
    }

    #[test]
    fn the_file_limit_is_raised_to_the_hard_limit() {
        let Some((_, hard)) = rlimit::get() else {
            return;
        };
        assert_eq!(raise_file_limit(), Some(hard));
        assert_eq!(rlimit::get().map(|(soft, _)| soft), Some(hard));
    }
}
