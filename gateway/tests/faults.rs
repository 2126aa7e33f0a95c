//! Fault suite against the real binary: signals under load, kill -9, upstream failures, a
//! locked database, hostile input. Nothing here asserts a timing.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use util::{Gateway, client, generate};

const BODY: &str = r#"{"contents":[{"parts":[{"text":"fault suite"}]}]}"#;

fn load(gw_url: String, stop: Arc<AtomicBool>, ok: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let c = client();
        while !stop.load(Ordering::Relaxed) {
            match c
                .post(format!(
                    "{gw_url}/v1beta/models/gemini-2.0-flash:generateContent"
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
    // Restart on the same file: it serves again and keeps writing.
    let dir = gw.dir.path();
    let port = util::free_port();
    std::fs::write(
        dir.join("restart.toml"),
        format!(
            "[proxy]\nlisten = \"127.0.0.1:{port}\"\nupstream = \"{}\"\nshutdown_grace_seconds = 1\n[storage]\npath = \"{}\"\nlinger_ms = 5\n",
            fake.base_url(),
            gw.db.display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--config", dir.join("restart.toml").to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let mut served = false;
    for _ in 0..200 {
        if let Ok(r) = client()
            .post(format!(
                "{url}/v1beta/models/gemini-2.0-flash:generateContent"
            ))
            .header("x-goog-api-key", "k")
            .body(BODY)
            .send()
        {
            served = r.status().is_success();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
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
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    for code in [500u16, 503] {
        let direct = client()
            .post(format!(
                "{}/v1beta/models/gemini-2.0-flash:generateContent",
                fake.base_url()
            ))
            .header("x-goog-api-key", "k")
            .header("x-fake-status", code.to_string())
            .body(BODY)
            .send()
            .unwrap();
        let direct_body = direct.bytes().unwrap();
        let via = client()
            .post(gw.url("/v1beta/models/gemini-2.0-flash:generateContent"))
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
        "",
    );
    let send = |gw: &Gateway| generate(gw, BODY);
    gw.wait_traces(0);
    let locker = rusqlite::Connection::open(&gw.db).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let during: Vec<String> = (0..5).map(|_| send(&gw)).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !gw.log_text().contains("Span export failed") {
        assert!(std::time::Instant::now() < deadline, "{}", gw.log_text());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    locker.execute_batch("COMMIT").unwrap();
    drop(locker);
    let after = send(&gw);
    let conn = gw.wait_traces(1);
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
    assert!(
        during.iter().map(|id| has(id)).sum::<i64>() < 5,
        "spans written while locked are dropped and counted"
    );
    assert!(gw.log_text().contains("dropped_total"), "{}", gw.log_text());
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
        .post(gw.url("/v1beta/models/gemini-2.0-flash:generateContent"))
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
    let mut req = client().post(gw.url("/v1beta/models/gemini-2.0-flash:generateContent"));
    for i in 0..3_000 {
        req = req.header(format!("x-flood-{i}"), "v".repeat(64));
    }
    // Either a 4xx or a closed connection is a clean refusal.
    if let Ok(r) = req.body(BODY).send() {
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let ok = client()
        .post(gw.url("/v1beta/models/gemini-2.0-flash:generateContent"))
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
