//! [`FakeGemini`]: start, inspect, control and stop a fake server.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::config::FakeConfig;
use crate::router;
use crate::state::{SeenRequest, Shared};
use crate::tls::{FakeTls, TlsConnection, TlsLog};

/// How long [`FakeGemini::shutdown`] waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Handle to a running fake Gemini server. All methods work from any thread.
///
/// Dropping the handle does not stop a server started with [`FakeGemini::start`]
/// or [`FakeGemini::serve`] (it runs until its runtime ends or
/// [`FakeGemini::shutdown`] is called); dropping a handle from
/// [`crate::spawn_in_thread`] stops that server's runtime.
pub struct FakeGemini {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Arc<Notify>,
    task: Option<JoinHandle<()>>,
    runtime_guard: Option<oneshot::Sender<()>>,
    tls: Option<Arc<TlsLog>>,
}

impl fmt::Debug for FakeGemini {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeGemini")
            .field("addr", &self.addr)
            .field("cfg", &self.shared.cfg)
            .finish_non_exhaustive()
    }
}

impl FakeGemini {
    /// Bind `127.0.0.1:0` and serve on the current tokio runtime.
    pub async fn start(cfg: FakeConfig) -> std::io::Result<FakeGemini> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        FakeGemini::serve(listener, cfg).await
    }

    /// Serve on an already bound listener (on the current tokio runtime).
    pub async fn serve(listener: TcpListener, cfg: FakeConfig) -> std::io::Result<FakeGemini> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(cfg, addr));
        let stop = Arc::new(Notify::new());
        let app = router::app(shared.clone());
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::trace!("set_nodelay failed: {e}");
            }
        });
        let signal = {
            let stop = stop.clone();
            async move { stop.notified().await }
        };
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::error!("fake-gemini server failed: {e}");
            }
        });
        Ok(FakeGemini {
            shared,
            addr,
            stop,
            task: Some(task),
            runtime_guard: None,
            tls: None,
        })
    }

    /// Bind `127.0.0.1:0` and serve TLS on the current tokio runtime.
    pub async fn start_tls(cfg: FakeConfig, tls: FakeTls) -> std::io::Result<FakeGemini> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        FakeGemini::serve_tls(listener, cfg, tls).await
    }

    /// Serve TLS (HTTP/2 and HTTP/1.1 by ALPN) on an already bound listener. A certificate or
    /// key that cannot be read, or a key that does not match, is an error naming the file.
    pub async fn serve_tls(
        listener: TcpListener,
        cfg: FakeConfig,
        tls: FakeTls,
    ) -> std::io::Result<FakeGemini> {
        let config = crate::tls::server_config(&tls)?;
        let addr = listener.local_addr()?;
        let mut shared = Shared::new(cfg, addr);
        shared.https = true;
        let shared = Arc::new(shared);
        let stop = Arc::new(Notify::new());
        let log = Arc::new(TlsLog::default());
        let app = router::app(shared.clone());
        let task = tokio::spawn(crate::tls::serve(
            listener,
            config,
            app,
            log.clone(),
            stop.clone(),
        ));
        Ok(FakeGemini {
            shared,
            addr,
            stop,
            task: Some(task),
            runtime_guard: None,
            tls: Some(log),
        })
    }

    /// The TLS connections accepted so far, oldest first (empty for a plain-HTTP fake).
    pub fn tls_connections(&self) -> Vec<TlsConnection> {
        self.tls.as_ref().map(|l| l.all()).unwrap_or_default()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` (an unspecified bind address is shown as loopback); `https://` for a
    /// TLS fake, whose certificate may name a host rather than the IP (see [`Self::url_for`]).
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let scheme = if self.shared.https { "https" } else { "http" };
        format!("{scheme}://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// `scheme://HOST:PORT` with `host` in place of the IP, e.g. `https://localhost:PORT`
    /// for a certificate issued to `localhost`.
    pub fn url_for(&self, host: &str) -> String {
        let scheme = if self.shared.https { "https" } else { "http" };
        format!("{scheme}://{host}:{}", self.addr.port())
    }

    /// Every request received so far, in arrival order (`/__fake/…` excluded).
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared.requests()
    }

    /// Forget the requests recorded so far.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Release the streams held with `x-fake-hold: <token>`. A release is
    /// permanent: holds registered later with the same token pass at once.
    pub fn release(&self, token: &str) {
        self.shared.release(token);
    }

    /// Stop accepting, give open connections a moment, then stop the server.
    pub async fn shutdown(mut self) {
        self.stop.notify_one();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
        drop(self.runtime_guard.take());
    }
}

/// Start a fake on a dedicated multi-thread tokio runtime running on a
/// background thread, for tests without an async runtime. The runtime (and
/// the server) stops when the returned handle is dropped.
///
/// # Panics
/// If the thread, the runtime or the listener cannot be created.
pub fn spawn_in_thread(cfg: FakeConfig) -> FakeGemini {
    spawn_with(cfg, None)
}

/// Like [`spawn_in_thread`], serving TLS with `tls`.
///
/// # Panics
/// If the thread, the runtime or the listener cannot be created, or `tls` cannot be used.
pub fn spawn_tls_in_thread(cfg: FakeConfig, tls: FakeTls) -> FakeGemini {
    spawn_with(cfg, Some(tls))
}

fn spawn_with(cfg: FakeConfig, tls: Option<FakeTls>) -> FakeGemini {
    let (tx, rx) = std::sync::mpsc::channel::<std::io::Result<FakeGemini>>();
    std::thread::Builder::new()
        .name("fake-gemini".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                let started = match tls {
                    Some(tls) => FakeGemini::start_tls(cfg, tls).await,
                    None => FakeGemini::start(cfg).await,
                };
                match started {
                    Ok(mut fake) => {
                        let (guard, stopped) = oneshot::channel();
                        fake.runtime_guard = Some(guard);
                        if tx.send(Ok(fake)).is_ok() {
                            let _ = stopped.await;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })
        .expect("spawn the fake-gemini thread");
    rx.recv()
        .expect("the fake-gemini thread exited before starting")
        .expect("fake-gemini could not start")
}
