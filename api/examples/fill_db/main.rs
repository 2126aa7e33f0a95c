//! Fills a gateway database with synthetic traces, for benchmarks and demos.
//!
//! ```text
//! cargo run --release -p gateway-api --example fill_db -- --db bench-out/api-bench.db --traces 1000000
//! ```
//!
//! Options: `--db PATH` (default `bench-out/api-bench.db`; must not exist), `--traces N`
//! (default 1,000,000), `--days D` the traces span, ending now (default 30), `--seed S`.

mod generate;

use std::path::PathBuf;
use std::time::Instant;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let db: PathBuf = arg(&args, "--db", PathBuf::from("bench-out/api-bench.db"));
    let opts = generate::FillOptions {
        traces: arg(&args, "--traces", 1_000_000),
        days: arg(&args, "--days", 30),
        seed: arg(&args, "--seed", 42),
        batch: 5000,
    };
    anyhow::ensure!(
        !db.exists(),
        "{} already exists; remove it (and -wal, -shm) first",
        db.display()
    );
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let started = Instant::now();
    let spans = generate::fill(&db, &opts)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "wrote {} traces and {spans} spans to {} in {secs:.1} s ({:.0} traces/s)",
        opts.traces,
        db.display(),
        opts.traces as f64 / secs
    );
    Ok(())
}
