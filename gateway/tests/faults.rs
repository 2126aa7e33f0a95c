//! Fault suite against the real binary: signals under load, kill -9, upstream failures, a
//! locked database, a panicking plugin, hostile input. After a fault, the counters the docs
//! promise on `/metrics` are read and checked against exact values derived from what the test
//! did and the rows in the database. Nothing here asserts a timing.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use util::{Gateway, client, generate};

const BODY: &str = r#"{"contents":[{"parts":[{"text":"fault suite"}]}]}"#;

/// `[api]` on a port of its own (port 0, read back with [`Gateway::api_url`]), so `/metrics` is
/// served by the gateway itself.
const API: &str = "[api]\nlisten = \"127.0.0.1:0\"\n";

/// Every sample of a Prometheus text page: (name, labels sorted) -> value.
fn samples(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels: BTreeMap<String, String> = labels
            .split("\",")
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.trim_matches('"').to_owned())
            })
            .collect();
        out.insert((name.to_owned(), labels), value.parse().unwrap());
    }
    out
}

/// The value of `name{labels}` on `/metrics` (absent is `None`).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples(text).get(&(name.to_owned(), labels)).copied()
}

/// Polls `/metrics` until `name{labels}` equals `want` (the deadline only bounds the wait; the
/// tailer counts traces asynchronously); fails with the page when it never does.
fn wait_metric(url: &str, name: &str, labels: &[(&str, &str)], want: f64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = client().get(url).send().unwrap().text().unwrap();
        if sample(&text, name, labels) == Some(want) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name}{labels:?} is {:?}, expected {want}:\n{text}",
            sample(&text, name, labels)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn load(gw_url: String, stop: Arc<AtomicBool>, ok: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let c = client();
        while !stop.load(Ordering::Relaxed) {
            match c
                .post(format!(
                    "{gw_url}/v1beta/models/gemini-2.5-flash-lite:generateContent"
                ))
                .header("x-goog-api-key", "k")
                .body(BODY)
                .send()
            {
                Ok(r) => {
                    if r.status().is_success() && r.bytes().is_ok() {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
    })
}

#[test]
fn sigterm_during_load_keeps_every_answered_request() {
    let fake = spawn_in_thread(FakeConfig {
        latency_ms: 2,
        ..FakeConfig::default()
    });
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| load(gw.url(""), stop.clone(), ok.clone()))
        .collect();
    while ok.load(Ordering::Relaxed) < 200 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status = gw.stop();
    stop.store(true, Ordering::Relaxed);
    workers.into_iter().for_each(|w| w.join().unwrap());
    assert!(status.success(), "{}", gw.log_text());
    let traces: i64 = gw
        .open_db()
        .query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))
        .unwrap();
    let answered = ok.load(Ordering::Relaxed) as i64;
    assert!(answered >= 200);
    assert!(
        traces >= answered,
        "{answered} answered with 2xx but only {traces} traces"
    );
}

#[test]
fn kill_9_during_load_leaves_a_sound_database() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| load(gw.url(""), stop.clone(), ok.clone()))
        .collect();
    while ok.load(Ordering::Relaxed) < 200 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Some rows are on disk (the writer is asynchronous), and the load is still running.
    drop(gw.wait_traces(1));
    gw.stop_with("-KILL");
    stop.store(true, Ordering::Relaxed);
    workers.into_iter().for_each(|w| w.join().unwrap());
    let conn = gw.open_db();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let before: i64 = conn
        .query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))
        .unwrap();
    assert!(before > 0);
    drop(conn);
    // Restart on the same file: it serves again and keeps writing. The harness starts it on a
    // port of its own (again on a new one if another test took it) in the same directory.
    let dir = std::mem::replace(&mut gw.dir, tempfile::tempdir().unwrap());
    let mut again = Gateway::start_at(
        dir,
        gw.db.clone(),
        &fake.base_url(),
        "",
        "linger_ms = 5",
        "",
    );
    let served = client()
        .post(again.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
        .header("x-goog-api-key", "k")
        .body(BODY)
        .send()
        .unwrap()
        .status()
        .is_success();
    again.stop();
    assert!(served, "the restarted gateway serves");
    let after: i64 = gw
        .open_db()
        .query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, before + 1);
}

#[test]
fn upstream_5xx_pass_through_unchanged() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", API);
    let metrics = gw.api_url("/metrics");
    for code in [500u16, 503] {
        let direct = client()
            .post(format!(
                "{}/v1beta/models/gemini-2.5-flash-lite:generateContent",
                fake.base_url()
            ))
            .header("x-goog-api-key", "k")
            .header("x-fake-status", code.to_string())
            .body(BODY)
            .send()
            .unwrap();
        let direct_body = direct.bytes().unwrap();
        let via = client()
            .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
            .header("x-goog-api-key", "k")
            .header("x-fake-status", code.to_string())
            .body(BODY)
            .send()
            .unwrap();
        assert_eq!(via.status().as_u16(), code);
        assert_eq!(
            via.bytes().unwrap(),
            direct_body,
            "error bodies are byte-identical"
        );
    }
    let conn = gw.wait_traces(2);
    // docs/api.md: gateway_requests_total{status, model} counts the traces by status.
    let text = wait_metric(
        &metrics,
        "gateway_requests_total",
        &[("status", "error"), ("model", "gemini-2.5-flash-lite")],
        2.0,
    );
    assert_eq!(
        sample(
            &text,
            "gateway_requests_total",
            &[("status", "ok"), ("model", "gemini-2.5-flash-lite")]
        ),
        None,
        "no successful request was made:\n{text}"
    );
    for (name, reason) in [
        ("gateway_spans_dropped_total", "queue_full"),
        ("gateway_spans_dropped_total", "export_error"),
    ] {
        assert_eq!(
            sample(&text, name, &[("reason", reason)]),
            Some(0.0),
            "{text}"
        );
    }
    let exported: i64 = conn
        .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        sample(&text, "gateway_spans_exported_total", &[]),
        Some(exported as f64),
        "every stored span is counted as exported:\n{text}"
    );
    gw.stop();
    let statuses: Vec<i64> = conn
        .prepare(
            "SELECT http_status FROM traces WHERE status = 'error' ORDER BY start_time_unix_nano",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(statuses, [500, 503]);
}

#[test]
fn a_locked_database_never_blocks_requests_and_writing_resumes() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start_with_storage(
        &fake.base_url(),
        "",
        "linger_ms = 5\nbusy_timeout_ms = 100",
        API,
    );
    let metrics = gw.api_url("/metrics");
    let send = |gw: &Gateway| generate(gw, BODY);
    gw.wait_traces(0);
    let locker = rusqlite::Connection::open(&gw.db).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let during: Vec<String> = (0..5).map(|_| send(&gw)).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !gw.log_text().contains("holds the database's write lock") {
        assert!(std::time::Instant::now() < deadline, "{}", gw.log_text());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    locker.execute_batch("COMMIT").unwrap();
    drop(locker);
    let after = send(&gw);
    let conn = gw.wait_traces(1);
    let has_row = |id: &str| -> i64 {
        conn.query_row(
            "SELECT COUNT(*) FROM traces WHERE trace_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    // Wait for the row of the request after the lock: every earlier batch is settled then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while has_row(&after) == 0 {
        assert!(std::time::Instant::now() < deadline, "{}", gw.log_text());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Each request is 4 spans; those of the requests without a row were dropped, and the
    // counter says exactly how many (docs/faults.md: "dropped and counted").
    let lost = during.iter().filter(|id| has_row(id) == 0).count() as f64;
    let text = wait_metric(
        &metrics,
        "gateway_spans_dropped_total",
        &[("reason", "export_error")],
        4.0 * lost,
    );
    let failed = sample(&text, "gateway_span_export_errors_total", &[]).unwrap();
    assert!(
        failed <= lost && (lost == 0.0 || failed >= 1.0),
        "{lost} requests lost in {failed} failed batches:\n{text}"
    );
    assert_eq!(
        sample(
            &text,
            "gateway_spans_dropped_total",
            &[("reason", "queue_full")]
        ),
        Some(0.0)
    );
    gw.stop();
    let has = |id: &str| -> i64 {
        conn.query_row(
            "SELECT COUNT(*) FROM traces WHERE trace_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(has(&after), 1, "writing resumed after the lock");
    assert_eq!(
        during.iter().map(|id| has(id)).sum::<i64>(),
        5,
        "spans that ended while locked are kept and written once the lock is gone"
    );
    assert!(
        gw.log_text().contains("nothing was lost"),
        "{}",
        gw.log_text()
    );
}

#[test]
fn hostile_input_is_forwarded_or_refused_cleanly() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    // Deeply nested JSON: forwarded, the parse failure recorded.
    let deep = format!(
        "{{\"contents\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let r = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
        .header("x-goog-api-key", "k")
        .body(deep.clone())
        .send()
        .unwrap();
    let deep_trace = r.headers()["x-gateway-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(r.status(), 400, "Gemini judges it");
    assert_eq!(fake.requests().last().unwrap().body.len(), deep.len());

    // Encoded slashes and traversal go upstream exactly as sent.
    let raw = "/v1beta/models/..%2F..%2Fsecret:generateContent";
    let _ = client()
        .post(gw.url(raw))
        .header("x-goog-api-key", "k")
        .body(BODY)
        .send()
        .unwrap();
    assert_eq!(fake.requests().last().unwrap().path, raw);

    // A header flood is refused by the proxy, which keeps serving.
    let mut req = client().post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"));
    for i in 0..3_000 {
        req = req.header(format!("x-flood-{i}"), "v".repeat(64));
    }
    // Either a 4xx or a closed connection is a clean refusal.
    if let Ok(r) = req.body(BODY).send() {
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let ok = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
        .header("x-goog-api-key", "k")
        .body(BODY)
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let conn = gw.wait_traces(2);
    gw.stop();
    let attrs: String = conn
        .query_row(
            "SELECT attributes FROM spans WHERE trace_id = ?1 AND name = 'prompt_construction'",
            [&deep_trace],
            |r| r.get(0),
        )
        .unwrap();
    let attrs: serde_json::Value = serde_json::from_str(&attrs).unwrap();
    assert_eq!(
        attrs["gateway.request.bytes"],
        deep.len(),
        "parsed without blowing the stack"
    );
}

fn plugin_lib(name: &str) -> PathBuf {
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

#[test]
fn a_panicking_plugin_is_isolated_and_every_panic_counted_per_hook() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(
        &fake.base_url(),
        "",
        &format!(
            "{API}[[plugins]]\npath = \"{}\"\n[plugins.config]\npanic = true\n",
            plugin_lib("pii_tagger").display()
        ),
    );
    let metrics = gw.api_url("/metrics");
    const N: usize = 3;
    let direct = client()
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash-lite:generateContent",
            fake.base_url()
        ))
        .header("x-goog-api-key", "k")
        .body(BODY)
        .send()
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    let ids: Vec<String> = (0..N).map(|_| generate(&gw, BODY)).collect();
    let conn = gw.wait_traces(N as i64);
    // docs/faults.md: answers unchanged, the error on the span, errors counted per hook.
    let labels = |hook| {
        [
            ("plugin", "pii_tagger"),
            ("kind", "library"),
            ("hook", hook),
        ]
    };
    let text = wait_metric(
        &metrics,
        "gateway_plugin_errors_total",
        &labels("on_complete"),
        N as f64,
    );
    for hook in ["on_request", "on_complete"] {
        for name in [
            "gateway_plugin_errors_total",
            "gateway_plugin_hook_calls_total",
        ] {
            assert_eq!(
                sample(&text, name, &labels(hook)),
                Some(N as f64),
                "{name} {hook}:\n{text}"
            );
        }
    }
    // The built-in plugins ran on every request and never failed.
    let builtins: Vec<_> = samples(&text)
        .into_iter()
        .filter(|((name, l), _)| {
            name == "gateway_plugin_errors_total"
                && l.get("plugin").is_some_and(|p| p != "pii_tagger")
        })
        .collect();
    assert!(!builtins.is_empty(), "{text}");
    assert!(builtins.iter().all(|(_, v)| *v == 0.0), "{builtins:?}");
    gw.stop();
    for id in &ids {
        let spans = util::spans_of(&conn, id);
        for step in ["prompt_construction", "post_processing"] {
            let err = util::step(&spans, step)["gateway.plugin.error"]
                .as_str()
                .unwrap_or_else(|| panic!("no plugin error on {step}"))
                .to_owned();
            let hook = if step == "prompt_construction" {
                "pii_tagger.on_request"
            } else {
                "pii_tagger.on_complete"
            };
            assert!(
                err.contains(hook) && err.contains("configured to panic"),
                "{step}: {err}"
            );
        }
        let (model, input, output, cost, unpriced) = util::trace_row(&gw, id);
        let usage = &direct["usageMetadata"];
        assert_eq!(model.as_deref(), Some("gemini-2.5-flash-lite"));
        assert_eq!(input, usage["promptTokenCount"].as_i64());
        assert_eq!(output, usage["candidatesTokenCount"].as_i64());
        assert!(
            cost.is_some_and(|c| c > 0.0) && !unpriced,
            "other plugins still priced it"
        );
    }
}

/// A reader producing `n` bytes without holding them.
struct Zeros(u64);

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0 as usize);
        buf[..n].fill(b'z');
        self.0 -= n as u64;
        Ok(n)
    }
}

#[test]
fn a_200_mb_upload_streams_in_bounded_memory() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let c = client();
    let start = c
        .post(gw.url("/upload/v1beta/files"))
        .header("x-goog-api-key", "k")
        .header("x-goog-upload-protocol", "resumable")
        .header("x-goog-upload-command", "start")
        .body(r#"{"file":{"displayName":"big"}}"#)
        .send()
        .unwrap();
    let url = start.headers()["x-goog-upload-url"]
        .to_str()
        .unwrap()
        .to_owned();
    const SIZE: u64 = 200 * 1024 * 1024;
    let done = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .unwrap()
        .post(&url)
        .header("x-goog-api-key", "k")
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "0")
        .header("content-length", SIZE.to_string())
        .body(reqwest::blocking::Body::sized(Zeros(SIZE), SIZE))
        .send()
        .unwrap();
    assert_eq!(done.status(), 200);
    let file: serde_json::Value = done.json().unwrap();
    assert_eq!(file["file"]["sizeBytes"], SIZE.to_string());
    let hwm_kib = gw.peak_rss_kib();
    println!(
        "gateway peak RSS after a 200 MiB upload: {} MiB",
        hwm_kib / 1024
    );
    assert!(
        hwm_kib < 150 * 1024,
        "the upload was buffered: peak RSS {hwm_kib} KiB"
    );
    gw.stop();
}
