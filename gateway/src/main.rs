//! `gateway`: the command-line entry point.

mod allocator;

use clap::Parser;
use gemini_gateway::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// A transparent observability gateway for the Gemini API.
///
/// Point any Gemini client's base URL at the listen address; every call becomes a trace of
/// OpenTelemetry spans in a WAL-mode SQLite file.
#[derive(Debug, Parser)]
#[command(
    name = "gateway",
    version,
    long_version = gateway_plugin_sdk::abi::long_version(env!("CARGO_PKG_VERSION"))
)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, short, default_value = "gateway.toml")]
    config: PathBuf,
    /// Demo mode: start a simulated Gemini upstream in-process, point the gateway at it, and
    /// send synthetic traffic from several models, users and sessions.
    #[arg(long)]
    demo: bool,
    /// With --demo: listen with TLS (h2 and HTTP/1.1), using a demo CA and server certificate
    /// generated into the database's directory (`demo-tls/`), and print how to trust the CA.
    #[arg(long, requires = "demo")]
    demo_tls: bool,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the price table in force (shipped rows with `[pricing]` applied), then the models
    /// seen in the database that have no price.
    Pricing {
        /// The date to price at (`YYYY-MM-DD`, UTC); default: now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Write a demo CA and a server certificate for localhost, 127.0.0.1 and ::1 into DIR
    /// (`ca.pem`, `server.pem`, `server-key.pem`; kept when present), the pair `--demo-tls`
    /// uses, for `[proxy] tls_cert` / `tls_key`; clients trust `ca.pem`.
    DemoCert {
        /// Where to write the files.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    use tracing_subscriber::prelude::*;
    let env = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,pingora_core=warn,pingora_proxy=warn".into());
    // pingora's debug and trace lines print request URIs and headers, credentials included
    // (`?key=`, `x-goog-api-key`, `Authorization`): whatever RUST_LOG says, they stay off.
    // Its default is the most verbose level RUST_LOG enables, not TRACE: the `log` facade's
    // maximum level is the loosest hint of the stack, and a TRACE hint would send every one of
    // pingora's per-request `debug!` calls through the filters only to be dropped there.
    let loudest = env
        .max_level_hint()
        .unwrap_or(tracing_subscriber::filter::LevelFilter::TRACE);
    let no_secrets = tracing_subscriber::filter::Targets::new()
        .with_default(loudest)
        .with_target("pingora_proxy", loudest.min(tracing::Level::INFO.into()))
        .with_target("pingora_core", loudest.min(tracing::Level::INFO.into()));
    tracing_subscriber::registry()
        .with(env)
        .with(no_secrets)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    allocator::configure();
    let cli = Cli::parse();
    if let Some(Command::DemoCert { dir }) = &cli.command {
        return match gemini_gateway::demo_tls::generate(dir) {
            Ok(t) => {
                println!(
                    "ca {}\ncert {}\nkey {}",
                    t.ca.display(),
                    t.cert.display(),
                    t.key.display()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(2)
            }
        };
    }
    let mut config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if cli.check {
        println!("config {} is valid", cli.config.display());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Pricing { at }) = &cli.command {
        return match gemini_gateway::pricing_report::print(&config, at.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(2)
            }
        };
    }
    let _demo = if cli.demo {
        match gemini_gateway::demo::start(&mut config, cli.demo_tls) {
            Ok(d) => Some(d),
            Err(error) => {
                eprintln!("error: cannot start demo: {error:#}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    match gemini_gateway::server::run(config, Some(&cli.config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
