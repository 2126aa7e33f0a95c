//! `api`: serves the gateway database over HTTP and WebSocket, standalone.
//!
//! ```text
//! api --config gateway.toml [--listen 127.0.0.1:8081]
//! api --openapi > ui/openapi.json
//! api --config gateway.toml --drift-sql
//! ```
//!
//! Loads the gateway's config through the same crate as the gateway (`gateway-config`: one set
//! of defaults, one validation, the same `--config` / `--check` flags), uses `[storage] path` and
//! `[api] listen`, `token`, `allowed_hosts`, `allowed_origins`, `allow_unauthenticated`
//! (`--listen` gets the same rule as `[api] listen`: a non-loopback address needs a token or
//! `allow_unauthenticated = true`), prints
//! `api listening on http://ADDR` once bound, and stops on Ctrl-C or SIGTERM. `--openapi`
//! prints the OpenAPI document (the one served at `/api/openapi.json`) and exits. `--drift-sql`
//! prints the SQL of the drift correlation generated from `[drift]` (the query
//! `GET /api/correlations/drift` runs, checked against the detector's table when the database
//! has it) and exits.

use anyhow::Context;
use clap::Parser;
use gateway_api::{ApiOptions, AppState};
use gateway_config::{Config, ConfigError};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "api",
    about = "REST and WebSocket API over the gateway database"
)]
struct Args {
    /// The gateway's TOML config.
    #[arg(long, short, default_value = "gateway.toml")]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
    /// Address to listen on, overriding `[api] listen` (port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Print the OpenAPI document as JSON and exit (reads no config).
    #[arg(long)]
    openapi: bool,
    /// Print the drift correlation SQL generated from `[drift]` and exit.
    #[arg(long)]
    drift_sql: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.openapi {
        let mut out = std::io::stdout().lock();
        out.write_all(gateway_api::openapi::document().as_bytes())?;
        out.flush()?;
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::load(&args.config)?;
    if args.check {
        println!("config {} is valid", args.config.display());
        return Ok(());
    }
    if args.drift_sql {
        let sql = gateway_api::routes::snapshots::drift_sql(&config.storage.path, &config.drift)
            .map_err(|e| anyhow::anyhow!("[drift]: {e}"))?;
        let mut out = std::io::stdout().lock();
        out.write_all(sql.as_bytes())?;
        out.flush()?;
        return Ok(());
    }
    let addr = args
        .listen
        .unwrap_or_else(|| config.standalone_api_listen());
    config
        .api
        .check_exposure(addr)
        .map_err(|message| ConfigError::Invalid {
            key: "api.token",
            message,
        })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let db_path = config.storage.path.clone();
    gateway_api::routes::snapshots::configure_drift(&db_path, &config.drift)
        .map_err(|e| anyhow::anyhow!("[drift]: {e}"))?;
    let opts = ApiOptions::from_config(&config);
    if !db_path.is_file() {
        tracing::warn!(path = %db_path.display(), "Database does not exist yet; answering 503 until it does.");
    }
    let state = AppState::new(opts);
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "api listening on http://{bound}")?;
        out.flush()?;
    }
    tracing::info!(%bound, db = %db_path.display(), "API started.");
    gateway_api::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("API stopped.");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
