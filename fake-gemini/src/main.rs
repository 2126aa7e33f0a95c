//! `fake-gemini` binary: serve the fake on a TCP address until Ctrl-C.

use std::io::Write;

use anyhow::Context;
use clap::Parser;
use fake_gemini::{Alpn, FakeConfig, FakeGemini, FakeTls};
use tracing_subscriber::EnvFilter;

/// A fake of the Gemini REST API for tests, demos and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "fake-gemini", version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: String,
    /// Delay before the first byte of every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Delay between two stream events, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_gap_ms: u64,
    /// Number of events in streamed answers.
    #[arg(long, default_value_t = 4)]
    chunks: usize,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Offer only http/1.1 by ALPN (default: h2 and http/1.1).
    #[arg(long, requires = "tls_cert")]
    tls_http1_only: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let cfg = FakeConfig {
        latency_ms: args.latency_ms,
        chunk_gap_ms: args.chunk_gap_ms,
        chunks: args.chunks.max(1),
    };
    let fake = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => {
            let alpn = if args.tls_http1_only {
                Alpn::Http11Only
            } else {
                Alpn::H2AndHttp11
            };
            FakeGemini::serve_tls(listener, cfg.clone(), FakeTls { cert, key, alpn })
                .await
                .context("cannot serve TLS")?
        }
        _ => FakeGemini::serve(listener, cfg.clone()).await?,
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "fake-gemini listening on {}", fake.base_url())?;
        out.flush()?;
    }
    tracing::info!(addr = %fake.addr(), ?cfg, "fake-gemini started");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("shutting down");
    fake.shutdown().await;
    Ok(())
}
