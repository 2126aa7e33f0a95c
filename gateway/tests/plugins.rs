//! Plugins through the real gateway: token cost, metric snapshots, a loaded cdylib plugin,
//! panic isolation, and the loader's startup errors.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::path::PathBuf;
use util::{Gateway, client, spans_of, step};

const KEY: &str = "plugin-test-key";

fn lib(name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let path = dir.join("debug").join(format!("lib{name}.so"));
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

fn post(gw: &Gateway, path: &str, text: &str) -> (String, serde_json::Value) {
    let resp = client()
        .post(gw.url(path))
        .header("x-goog-api-key", KEY)
        .body(serde_json::json!({"contents": [{"parts": [{"text": text}]}]}).to_string())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-gateway-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = resp.text().unwrap();
    let last = text
        .split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .last()
        .map(|e| e.trim_start_matches("data: ").to_owned())
        .unwrap();
    (id, serde_json::from_str(&last).unwrap())
}

#[test]
fn streamed_calls_are_priced_and_snapshotted() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        "[thresholds]\nlatency_ms = 0\ncost_usd = 1.0\n",
    );
    let (t, last) = post(
        &gw,
        "/v1beta/models/gemini-3.5-flash-lite:streamGenerateContent?alt=sse",
        "price this streamed answer",
    );
    let u = &last["usageMetadata"];
    let n = |k: &str| u[k].as_f64().unwrap_or(0.0);
    let expected = (n("promptTokenCount") - n("cachedContentTokenCount")) * 0.30 / 1e6
        + n("cachedContentTokenCount") * 0.03 / 1e6
        + (n("candidatesTokenCount") + n("thoughtsTokenCount")) * 2.50 / 1e6;
    let (u2, _) = post(
        &gw,
        "/v1beta/models/my-private-model:generateContent",
        "unpriced please",
    );
    let conn = gw.wait_traces(2);
    gw.stop();
    let (cost, unpriced): (f64, i64) = conn
        .query_row(
            "SELECT cost_usd, unpriced FROM traces WHERE trace_id = ?1",
            [&t],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!((cost - expected).abs() < 1e-12, "{cost} != {expected}");
    assert_eq!(unpriced, 0);
    let spans = spans_of(&conn, &t);
    let pp = step(&spans, "post_processing");
    assert!((pp["gateway.cost.usd"].as_f64().unwrap() - expected).abs() < 1e-12);
    assert_eq!(pp["gateway.cost.model"], "gemini-3.5-flash-lite");

    let (cost, unpriced): (Option<f64>, i64) = conn
        .query_row(
            "SELECT cost_usd, unpriced FROM traces WHERE trace_id = ?1",
            [&u2],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((cost, unpriced), (None, 1), "an unpriced model is never $0");

    let mut stmt = conn
        .prepare("SELECT metric, value, threshold, breached, model FROM metric_snapshots WHERE trace_id = ?1 ORDER BY metric")
        .unwrap();
    let rows: Vec<(String, f64, Option<f64>, i64, String)> = stmt
        .query_map([&t], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["cost_usd", "latency_ms", "ttft_ms"]);
    let cost_row = &rows[0];
    assert!((cost_row.1 - expected).abs() < 1e-12);
    assert_eq!((cost_row.2, cost_row.3), (Some(1.0), 0));
    assert_eq!(
        (rows[1].2, rows[1].3),
        (Some(0.0), 1),
        "latency above a 0 ms threshold breaches"
    );
    assert_eq!(
        (rows[2].2, rows[2].3),
        (None, 0),
        "no threshold never breaches"
    );
    assert_eq!(rows[1].4, "gemini-3.5-flash-lite");
    let unpriced_metrics: Vec<String> = conn
        .prepare("SELECT metric FROM metric_snapshots WHERE trace_id = ?1")
        .unwrap()
        .query_map([&u2], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        unpriced_metrics,
        ["latency_ms"],
        "no cost snapshot without a price"
    );
}

#[test]
fn a_loaded_plugin_tags_spans_and_emits_metrics() {
    let fake = spawn_in_thread(FakeConfig::default());
    let so = lib("pii_tagger");
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!(
            "[[plugins]]\npath = \"{}\"\n[plugins.config]\nthreshold = 2\n",
            so.display()
        ),
    );
    let (t, _) = post(
        &gw,
        "/v1beta/models/gemini-2.5-flash-lite:generateContent",
        "mail ana@example.com or bob@example.org, or call +1 555 010 9999",
    );
    let conn = gw.wait_traces(1);
    gw.stop();
    let spans = spans_of(&conn, &t);
    let prompt = step(&spans, "prompt_construction");
    assert_eq!(
        (prompt["pii.emails"].as_i64(), prompt["pii.phones"].as_i64()),
        (Some(2), Some(1))
    );
    let scan = spans
        .iter()
        .find(|s| s.0 == "pii_scan")
        .expect("plugin span");
    assert_eq!(scan.2["gateway.step"], "plugin");
    assert!(scan.4.is_some(), "plugin spans are children of the root");
    let (value, threshold, breached): (f64, f64, i64) = conn
        .query_row(
            "SELECT value, threshold, breached FROM metric_snapshots WHERE trace_id = ?1 AND metric = 'pii_matches'",
            [&t],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((value, threshold, breached), (3.0, 2.0, 1));
}

#[test]
fn a_panicking_plugin_never_breaks_a_request() {
    let fake = spawn_in_thread(FakeConfig::default());
    let so = lib("pii_tagger");
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!(
            "[[plugins]]\npath = \"{}\"\n[plugins.config]\npanic = true\n",
            so.display()
        ),
    );
    let mut ids = Vec::new();
    for i in 0..3 {
        let (t, body) = post(
            &gw,
            "/v1beta/models/gemini-2.5-flash-lite:generateContent",
            &format!("request {i}"),
        );
        assert!(body["candidates"].is_array());
        ids.push(t);
    }
    let conn = gw.wait_traces(3);
    gw.stop();
    for t in ids {
        let spans = spans_of(&conn, &t);
        let err = step(&spans, "prompt_construction")["gateway.plugin.error"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            err.contains("pii_tagger.on_request") && err.contains("configured to panic"),
            "{err}"
        );
        assert!(step(&spans, "post_processing")["gateway.plugin.error"].is_string());
        assert!(
            step(&spans, "post_processing")["gateway.cost.usd"].is_number(),
            "other plugins still ran"
        );
    }
}

fn startup_error(extra: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    std::fs::write(
        &config,
        format!(
            "[proxy]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"{}\"\n{extra}",
            dir.path().join("g.db").display()
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.arg("--config").arg(&config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "the gateway must refuse to start");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn loader_errors_name_the_file_and_versions() {
    let missing = startup_error("[[plugins]]\npath = \"/nonexistent/libnope.so\"\n", &[]);
    assert!(
        missing.contains("/nonexistent/libnope.so") && missing.contains("not found"),
        "{missing}"
    );

    // A real shared library that is not a gateway plugin.
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("libm");
    let symbol = startup_error(&format!("[[plugins]]\npath = \"{libm}\"\n"), &[]);
    assert!(
        symbol.contains(libm) && symbol.contains("missing symbol `gateway_plugin_abi_version`"),
        "{symbol}"
    );

    let garbage = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(garbage.path(), b"not an ELF file").unwrap();
    let open = startup_error(
        &format!("[[plugins]]\npath = \"{}\"\n", garbage.path().display()),
        &[],
    );
    assert!(
        open.contains("cannot load library")
            && open.contains(&garbage.path().display().to_string()),
        "{open}"
    );

    let mismatched = lib("mismatched_plugin");
    let sdk = startup_error(
        &format!("[[plugins]]\npath = \"{}\"\n", mismatched.display()),
        &[],
    );
    assert!(sdk.contains(&mismatched.display().to_string()), "{sdk}");
    assert!(
        sdk.contains("0.0.0-mismatch") && sdk.contains(env!("CARGO_PKG_VERSION")),
        "{sdk}"
    );

    let abi = startup_error(
        &format!("[[plugins]]\npath = \"{}\"\n", mismatched.display()),
        &[("GATEWAY_TEST_ABI", "999")],
    );
    assert!(
        abi.contains("ABI version 999")
            && abi.contains(&format!(
                "ABI version {}",
                gateway_plugin_sdk::abi::ABI_VERSION
            )),
        "{abi}"
    );
}

/// The source of a plugin whose first completion hook blocks until the test lets it go: it
/// creates the directory `entered` (so the test knows the hook runs), then waits for the file
/// `release` to exist. Every later call returns at once.
const GATE_PLUGIN: &str = r#"
use gateway_plugin_sdk::prelude::*;
use std::path::PathBuf;

pub struct Gate {
    entered: PathBuf,
    release: PathBuf,
}

impl Gate {
    pub fn from_config(config_json: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(config_json).map_err(|e| e.to_string())?;
        let path = |k: &str| v[k].as_str().map(PathBuf::from).ok_or(format!("{k} missing"));
        Ok(Self { entered: path("entered")?, release: path("release")? })
    }
}

impl SpanPlugin for Gate {
    fn name(&self) -> &str {
        "gate"
    }

    fn on_complete(&self, _call: &CompletedCall<'_>, out: &mut PluginOutput) {
        if std::fs::create_dir(&self.entered).is_err() {
            return; // not the first call
        }
        // Bounded, so a test that died never leaves a gateway blocked for good.
        for _ in 0..120_000 {
            if self.release.exists() {
                out.attr(Step::PostProcessing, "gate.released", true);
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

gateway_plugin_sdk::export_plugin!(Gate::from_config);
"#;

/// Builds [`GATE_PLUGIN`] as a throwaway crate (the workspace's target directory, `--offline`, as
/// `plugin_abi.rs` does) and returns its library.
fn gate_plugin(dir: &std::path::Path) -> PathBuf {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), GATE_PLUGIN).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"gate-probe\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\
             [dependencies]\ngateway-plugin-sdk = {{ path = \"{}\" }}\n[workspace]\n",
            root.join("plugins/sdk").display()
        ),
    )
    .unwrap();
    // The example's lock pins what the workspace pins, so `--offline` finds every crate.
    std::fs::copy(
        root.join("examples/plugin-out-of-tree/Cargo.lock"),
        dir.join("Cargo.lock"),
    )
    .unwrap();
    let out =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--offline", "--quiet", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .output()
            .unwrap();
    assert!(
        out.status.success(),
        "building the gate plugin failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("debug").join("libgate_probe.so")
}

/// Whether the traces table has a row for `trace`.
fn has_trace(gw: &Gateway, trace: &str) -> bool {
    rusqlite::Connection::open(&gw.db)
        .and_then(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM traces WHERE trace_id = ?1",
                [trace],
                |r| r.get::<_, i64>(0),
            )
        })
        .is_ok_and(|n| n == 1)
}

#[test]
fn a_slow_completion_hook_never_holds_a_proxy_worker() {
    let fake = spawn_in_thread(FakeConfig::default());
    let scratch = tempfile::tempdir().unwrap();
    let so = gate_plugin(&scratch.path().join("crate"));
    let entered = scratch.path().join("entered");
    let release = scratch.path().join("release");
    // One proxy worker, and a plugin whose first completion hook blocks until `release` exists.
    let mut gw = Gateway::start(
        &fake.base_url(),
        "threads = 1",
        &format!(
            "[[plugins]]\npath = \"{}\"\n[plugins.config]\nentered = \"{}\"\nrelease = \"{}\"\n",
            so.display(),
            entered.display(),
            release.display()
        ),
    );
    let path = "/v1beta/models/gemini-2.5-flash-lite:generateContent";
    let (first, _) = post(&gw, path, "first");
    // The first request's hook is running, and cannot return before the test creates `release`.
    wait_entered(&gw, &entered);
    // So this answer, on the same single proxy worker, came while the first hook still ran.
    let (second, _) = post(&gw, path, "second");
    assert!(
        !has_trace(&gw, &first),
        "the first trace is written only after its hook returns"
    );
    std::fs::write(&release, b"").unwrap();
    let conn = gw.wait_traces(2);
    gw.stop();
    let first_spans = spans_of(&conn, &first);
    assert_eq!(
        step(&first_spans, "post_processing")["gate.released"],
        true,
        "the hook returned after the release, inside post_processing"
    );
    // The hook's time is in post_processing: the first request's span (stamped by the gateway's
    // clock, like the other) encloses the second request's upstream call, which began after the
    // hook was entered and ended before it was released.
    let times = |trace: &str, step: &str| -> (i64, i64) {
        conn.query_row(
            "SELECT start_time_unix_nano, end_time_unix_nano FROM spans
             WHERE trace_id = ?1 AND json_extract(attributes, '$.\"gateway.step\"') = ?2",
            [trace, step],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let (post_start, post_end) = times(&first, "post_processing");
    let (call_start, call_end) = times(&second, "llm_call");
    assert!(
        post_start < call_start && call_end < post_end,
        "the first post_processing span covers the blocked hook"
    );
    let spans = spans_of(&conn, &second);
    assert!(step(&spans, "post_processing")["gateway.completion.wait_ms"].is_number());
    assert!(
        step(&spans, "post_processing")["gate.released"].is_null(),
        "only the first call blocked"
    );
}

/// Waits (the deadline only bounds the wait) until the gate plugin's first hook runs.
fn wait_entered(gw: &Gateway, entered: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !entered.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the hook never ran; log:\n{}",
            gw.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_full_completion_queue_skips_library_hooks_and_counts_them_never_the_spans() {
    // The completion queue holds 256 requests (`completion::INLINE_AT`).
    const QUEUE: usize = 256;
    const OVER: usize = 4;
    let fake = spawn_in_thread(FakeConfig::default());
    let scratch = tempfile::tempdir().unwrap();
    let so = gate_plugin(&scratch.path().join("crate"));
    let entered = scratch.path().join("entered");
    let release = scratch.path().join("release");
    // The first request's hook blocks the completion thread until the test releases it: the
    // next 256 requests fill the queue and the 4 after them find it full, whatever the speed.
    let mut gw = Gateway::start(
        &fake.base_url(),
        "threads = 1",
        &format!(
            "[api]\nlisten = \"127.0.0.1:0\"\n\
             [[plugins]]\npath = \"{}\"\n[plugins.config]\nentered = \"{}\"\nrelease = \"{}\"\n",
            so.display(),
            entered.display(),
            release.display()
        ),
    );
    let path = "/v1beta/models/gemini-3.8-flash:generateContent";
    let (first, _) = post(&gw, path, "first");
    wait_entered(&gw, &entered);
    let ids: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let gw = &gw;
                s.spawn(move || {
                    (0..(QUEUE + OVER) / 4)
                        .map(|i| post(gw, path, &format!("w{w} n{i}")).0)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(ids.len(), QUEUE + OVER);
    // While the hook blocks, exactly the requests finished in place are written.
    let conn = gw.wait_traces(OVER as i64);
    let metrics = client()
        .get(gw.api_url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(&format!("gateway_completions_inline_total {OVER}\n")),
        "{metrics}"
    );
    let written: i64 = conn
        .query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        written, OVER as i64,
        "the queued requests wait for the hook"
    );
    std::fs::write(&release, b"").unwrap();
    let conn = gw.wait_traces((1 + QUEUE + OVER) as i64);
    gw.stop();
    let skipped: Vec<String> = conn
        .prepare(
            "SELECT trace_id FROM spans WHERE name = 'post_processing'
             AND json_extract(attributes, '$.\"gateway.plugin.skipped\"') = 1",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        skipped.len(),
        OVER,
        "the requests that found the queue full"
    );
    assert!(!skipped.contains(&first));
    let priced: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM traces WHERE cost_usd IS NOT NULL AND unpriced = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        priced,
        (1 + QUEUE + OVER) as i64,
        "cost and spans are never skipped"
    );
}

#[test]
fn overwriting_a_loaded_plugin_file_changes_nothing_under_the_running_gateway() {
    let fake = spawn_in_thread(FakeConfig::default());
    // The configured file is a copy the test owns and then overwrites in place (same inode),
    // as a rebuild or a careless deploy would.
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("libpii_tagger.so");
    std::fs::copy(lib("pii_tagger"), &so).unwrap();
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!("[[plugins]]\npath = \"{}\"\n", so.display()),
    );
    let path = "/v1beta/models/gemini-3.8-flash:generateContent";
    let (before, _) = post(&gw, path, "mail ana@example.com please");
    let mut f = std::fs::OpenOptions::new().write(true).open(&so).unwrap();
    std::io::Write::write_all(&mut f, &vec![0xCC; 1 << 20]).unwrap();
    drop(f);
    let (after, _) = post(&gw, path, "mail bob@example.org please");
    let conn = gw.wait_traces(2);
    gw.stop();
    for t in [&before, &after] {
        let spans = spans_of(&conn, t);
        assert_eq!(
            step(&spans, "prompt_construction")["pii.emails"].as_i64(),
            Some(1),
            "the plugin still runs from its private copy"
        );
    }
}
