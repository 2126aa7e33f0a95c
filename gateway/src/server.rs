//! Builds and runs the pingora server from a [`Config`], and flushes spans on the way out.

use crate::completion::{self, Completions};
use crate::config::Config;
use crate::genai_metrics::GenAiMetrics;
use crate::metrics::GatewayMetrics;
use crate::proxy::GatewayProxy;
use crate::telemetry::Telemetry;
use crate::upstream::UpstreamTarget;
use arc_swap::ArcSwap;
use gateway_sqlite::ExportStats;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server};
use std::sync::Arc;
use std::time::Duration;

/// Runs the gateway until SIGTERM (graceful) or SIGINT (fast); then writes every queued span.
/// With `config_path`, SIGHUP and edits of that file reload the reloadable settings.
pub fn run(config: Config, config_path: Option<&std::path::Path>) -> anyhow::Result<()> {
    crate::telemetry::set_semconv(config.telemetry.semconv);
    // Before anything opens a file: the soft limit up to the hard one.
    let files = crate::connections::raise_file_limit();
    let runtime = Arc::new(ArcSwap::from_pointee(crate::plugins::runtime(
        &config, None,
    )?));
    let telemetry = Telemetry::start(
        &config.storage,
        config.builtins.sqlite,
        config.export.otlp.as_ref(),
    )?;
    // Before serving: the ids already metered, so a restart does not meter them again.
    crate::surfaces::once::restore(&config);
    let meter = telemetry.meters.as_ref().map(|m| {
        use opentelemetry::metrics::MeterProvider as _;
        m.meter("gemini-gateway")
    });
    let genai = Arc::new(GenAiMetrics::new(meter));
    let target = UpstreamTarget::start(
        config.upstream(),
        Duration::from_millis(config.proxy.connect_timeout_ms),
        Duration::from_millis(config.proxy.read_timeout_ms),
    );
    let mut proxy = GatewayProxy::new(
        target,
        telemetry.tracer.clone(),
        runtime.clone(),
        genai.clone(),
    );
    let completions = Completions::start(proxy.clone(), completion::INLINE_AT)?;
    proxy.completions = Some(completions.clone());
    if let Some(path) = config_path {
        crate::reload::watch(path.to_path_buf(), runtime.clone())?;
    }

    let in_flight = proxy.in_flight.clone();
    let proxy_budget = proxy.body_budget.clone();
    let conf = ServerConf {
        threads: config.proxy.threads,
        grace_period_seconds: Some(config.proxy.shutdown_grace_seconds),
        graceful_shutdown_timeout_seconds: Some(config.proxy.shutdown_grace_seconds.max(1)),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    // pingora's `http_proxy_service`, with the client connections capped below the file limit.
    let mut http = pingora::proxy::HttpProxy::new(proxy, server.configuration.clone());
    http.handle_init_modules();
    let cap = crate::connections::cap_for(files.unwrap_or(1024));
    tracing::info!(max_connections = cap, "Client connections are capped.");
    let capped = crate::connections::Capped::new(
        http,
        cap,
        Duration::from_secs(config.proxy.header_timeout_seconds),
    );
    let connections = capped.stats();
    let mut service =
        pingora::services::listening::Service::new("Pingora HTTP Proxy Service".into(), capped);
    crate::listener::add(&mut service, &config)?;
    server.add_service(service);
    watch_drops(telemetry.sqlite_stats.clone());
    if config.builtins.sqlite {
        crate::retention::start(config.storage.clone())?;
    }

    let api = match &config.api.listen {
        Some(listen) => Some(start_api(
            listen,
            &config,
            GatewayMetrics {
                sqlite: telemetry.sqlite_stats.clone(),
                runtime: runtime.clone(),
                otlp: telemetry.otlp_stats.clone(),
                genai: genai.clone(),
                completions: completions.stats(),
                body_budget: proxy_budget.clone(),
                connections,
            },
        )?),
        None => None,
    };

    tracing::info!(
        listen = %config.proxy.listen,
        upstream = %config.proxy.upstream,
        db = %config.storage.path.display(),
        "Gateway listening."
    );
    let completions_for_watch = completions.clone();
    let finish = Arc::new(std::sync::Mutex::new(Some(Finish {
        api,
        completions,
        telemetry,
        in_flight: in_flight.clone(),
        grace: Duration::from_secs(config.proxy.shutdown_grace_seconds),
    })));
    early_exit_when_drained(
        server.watch_execution_phase(),
        in_flight,
        Duration::from_secs(config.proxy.shutdown_grace_seconds),
        finish.clone(),
        completions_for_watch,
    );
    server.run(RunArgs::default());
    // The grace period ran out (or SIGINT): finish here, unless the watcher already did.
    Finish::run(&finish);
    Ok(())
}

/// What is left to do once the proxy stops: the API, requests the proxy stopped under, queued
/// completions, span flush.
///
/// The whole finish shares one deadline, the end of the grace period
/// (`shutdown_grace_seconds` after SIGTERM, or after SIGINT): until then queued completions run
/// their plugin hooks; past it they skip the plugin libraries' hooks (counted on their spans as
/// `gateway.plugin.skipped`) but still get their spans, cost and snapshots. Requests and
/// completions still unfinished [`FINISH_MARGIN`] after the deadline (a hook that never
/// returns) are logged as lost; then the queued spans are written.
struct Finish {
    api: Option<ApiHandle>,
    completions: Arc<Completions>,
    telemetry: Telemetry,
    /// Requests whose spans are not built yet.
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    grace: Duration,
}

/// How long past the grace period's end shutdown waits for requests and queued completions to
/// be finished (without library hooks) before the spans are flushed.
const FINISH_MARGIN: Duration = Duration::from_secs(5);

impl Finish {
    /// Runs once, whoever calls first; a second caller waits for the first to be done.
    fn run(slot: &std::sync::Mutex<Option<Finish>>) {
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = slot.take() else { return };
        // SIGTERM set the deadline when it came (see `early_exit_when_drained`); SIGINT did not.
        f.completions
            .skip_hooks_after(std::time::Instant::now() + f.grace);
        let deadline = f
            .completions
            .hooks_deadline()
            .unwrap_or_else(std::time::Instant::now);
        let end = deadline + FINISH_MARGIN;
        if let Some(api) = f.api {
            api.stop();
        }
        tracing::info!("Shutting down: finishing queued requests and writing their spans.");
        // After SIGINT (or a grace period that ran out) pingora's runtimes drop the requests
        // still running on their own threads; each is finished as interrupted as it is dropped
        // (see `RequestCtx`'s `Drop`), and queued completions count until their spans are
        // built. Wait for them, so their spans are in the flush below; past the deadline the
        // queue is also emptied here, without library hooks.
        let pending = || f.in_flight.load(std::sync::atomic::Ordering::Acquire);
        let mut finished_here = 0;
        while pending() > 0 && std::time::Instant::now() < end {
            if std::time::Instant::now() >= deadline {
                finished_here += f.completions.finish_queued();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if finished_here > 0 {
            tracing::warn!(
                requests = finished_here,
                "Queued requests finished past the grace period without the plugin libraries' \
                 completion hooks (gateway.plugin.skipped on their spans)."
            );
        }
        if pending() > 0 {
            tracing::error!(
                requests = pending(),
                "Requests still unfinished past the grace period and its margin (a completion \
                 hook that does not return?); their spans are lost."
            );
        }
        let interrupted = crate::ctx::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed);
        if interrupted > 0 {
            tracing::warn!(
                requests = interrupted,
                "Requests cut by the shutdown were stored as cancelled (error.type shutdown)."
            );
        }
        let left = end.saturating_duration_since(std::time::Instant::now());
        if !f.completions.drain(left.max(Duration::from_millis(10))) {
            tracing::error!(
                "The completion thread is still busy past the deadline; flushing what is done."
            );
        }
        f.telemetry.shutdown();
        let s = &f.telemetry.sqlite_stats;
        tracing::info!(
            exported = s.exported.load(std::sync::atomic::Ordering::Relaxed),
            dropped = s.dropped(),
            "Spans flushed; bye."
        );
    }
}

/// pingora's SIGTERM stops accepting and then sleeps the whole grace period before it stops
/// its runtimes. This watcher ends the process as soon as no request is in flight (each
/// request counts until its spans are built), after writing every queued span; the grace
/// period stays the upper bound for requests and streams that are still running.
fn early_exit_when_drained(
    mut phases: tokio::sync::broadcast::Receiver<pingora::server::ExecutionPhase>,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    grace: Duration,
    finish: Arc<std::sync::Mutex<Option<Finish>>>,
    completions: Arc<Completions>,
) {
    use pingora::server::ExecutionPhase;
    let spawned = std::thread::Builder::new()
        .name("shutdown-watch".into())
        .spawn(move || {
            loop {
                match phases.blocking_recv() {
                    Ok(ExecutionPhase::GracefulTerminate) => break,
                    Ok(ExecutionPhase::Terminated)
                    | Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    _ => {}
                }
            }
            let deadline = std::time::Instant::now() + grace;
            // The one deadline of the whole finish: queued completions skip the plugin
            // libraries' hooks past it.
            completions.skip_hooks_after(deadline);
            loop {
                let idle = in_flight.load(std::sync::atomic::Ordering::Acquire) == 0;
                // pingora announces that it stops its runtimes before it drops the requests
                // still running (which then count as finished): past that, the grace period is
                // over and the main thread finishes.
                loop {
                    match phases.try_recv() {
                        Ok(ExecutionPhase::ShutdownRuntimes | ExecutionPhase::Terminated)
                        | Err(tokio::sync::broadcast::error::TryRecvError::Closed) => return,
                        Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
                    }
                }
                if idle {
                    break;
                }
                if std::time::Instant::now() >= deadline {
                    return; // pingora's own grace handling takes over
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            tracing::info!("No request in flight; stopping before the grace period ends.");
            Finish::run(&finish);
            std::process::exit(0);
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "Cannot start the shutdown watcher; SIGTERM waits the full grace period.");
    }
}

/// The API and dashboard running on their own thread and runtime inside the gateway.
struct ApiHandle {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl ApiHandle {
    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

fn start_api(listen: &str, config: &Config, metrics: GatewayMetrics) -> anyhow::Result<ApiHandle> {
    gateway_api::routes::snapshots::configure_drift(&config.storage.path, &config.drift)
        .map_err(|e| anyhow::anyhow!("[drift]: {e}"))?;
    let opts = gateway_api::ApiOptions::from_config(config).extra_metrics(Arc::new(metrics));
    let state = gateway_api::AppState::new(opts);
    let std_listener = std::net::TcpListener::bind(listen)
        .map_err(|e| anyhow::anyhow!("cannot bind the API on {listen}: {e}"))?;
    std_listener.set_nonblocking(true)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listen = listen.to_owned();
    let thread = std::thread::Builder::new()
        .name("api".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("api-worker")
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(error) => {
                    tracing::error!(%error, "Cannot start the API runtime.");
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(error) => {
                        tracing::error!(%error, "Cannot use the API listener.");
                        return;
                    }
                };
                tracing::info!(listen = %listen, "API and dashboard listening.");
                let shutdown = async move {
                    let _ = stopped.await;
                };
                if let Err(error) = gateway_api::serve(listener, state, shutdown).await {
                    tracing::error!(%error, "The API stopped.");
                }
            });
        })?;
    Ok(ApiHandle { stop, thread })
}

/// Logs a warning whenever spans were dropped since the last check (never silent).
fn watch_drops(stats: Arc<ExportStats>) {
    let spawned = std::thread::Builder::new()
        .name("drop-watch".into())
        .spawn(move || {
            let mut last = 0;
            loop {
                std::thread::sleep(Duration::from_secs(5));
                let now = stats.dropped();
                if now > last {
                    tracing::warn!(
                        dropped_total = now,
                        dropped_since_last = now - last,
                        queue_full = stats
                            .dropped_queue_full
                            .load(std::sync::atomic::Ordering::Relaxed),
                        export_errors = stats
                            .dropped_export_error
                            .load(std::sync::atomic::Ordering::Relaxed),
                        queue_depth = stats.queue_depth(),
                        "Spans were dropped."
                    );
                    last = now;
                }
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "Cannot start the drop watcher.");
    }
}
