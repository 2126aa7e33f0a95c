//! The database file deleted, replaced or foreign, against the real binary: the writer follows
//! the path (a deleted file is created again, a replacement receives the writes), a file that is
//! not the gateway's is refused at start and never touched, and no loss is silent. Nothing here
//! asserts a timing; waits have a deadline only.
//!
//! SQLite pairs a database with the `-wal` and `-shm` files at its path, so after a rename over
//! the path these tests open it only once the gateway has logged its switch (see
//! `docs/faults.md`); the gateway's own API (an in-process reader) is off in those tests.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use gateway_store::{Store, StoreOptions, TraceRow};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use util::{Gateway, client};

const BODY: &str = r#"{"contents":[{"parts":[{"text":"database identity"}]}]}"#;

/// A `traces` table with our columns, as a sibling system might have it.
const LOOKALIKE: &str = "CREATE TABLE traces (
    trace_id TEXT PRIMARY KEY, start_time_unix_nano INTEGER NOT NULL,
    end_time_unix_nano INTEGER NOT NULL, duration_ms REAL NOT NULL, model TEXT, operation TEXT,
    stream INTEGER NOT NULL DEFAULT 0, http_status INTEGER, status TEXT NOT NULL,
    error_type TEXT, input_tokens INTEGER, output_tokens INTEGER, cached_tokens INTEGER,
    reasoning_tokens INTEGER, ttft_ms REAL, cost_usd REAL, unpriced INTEGER NOT NULL DEFAULT 0,
    user_id TEXT, session_id TEXT, request_count INTEGER NOT NULL DEFAULT 1);
    INSERT INTO traces (trace_id, start_time_unix_nano, end_time_unix_nano, duration_ms, status,
        cost_usd) VALUES ('theirs', 1, 2, 0.000001, 'ok', 99.0);
    CREATE TABLE drift_snapshots (id INTEGER PRIMARY KEY, feature TEXT);";

/// Requests sent one after another on a thread until stopped; every answer must be 200.
struct Load {
    stop: Arc<AtomicBool>,
    ids: Arc<Mutex<Vec<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Load {
    fn start(gw: &Gateway) -> Self {
        let url = gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent");
        let (stop, ids) = (Arc::new(AtomicBool::new(false)), Arc::default());
        let (s, i): (_, Arc<Mutex<Vec<String>>>) = (stop.clone(), Arc::clone(&ids));
        let thread = std::thread::spawn(move || {
            let c = client();
            while !s.load(Ordering::Relaxed) {
                let r = c
                    .post(&url)
                    .header("x-goog-api-key", "k")
                    .body(BODY)
                    .send()
                    .unwrap();
                assert_eq!(r.status(), 200, "the data path ignores the database");
                let id = r.headers()["x-gateway-trace-id"].to_str().unwrap();
                i.lock().unwrap().push(id.to_owned());
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Self { stop, ids, thread }
    }

    /// Requests answered so far.
    fn answered(&self) -> usize {
        self.ids.lock().unwrap().len()
    }

    /// Stops and returns the trace ids of the requests answered from `from` on.
    fn stop(self, from: usize) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        self.ids.lock().unwrap()[from..].to_vec()
    }
}

fn wait_for(what: &str, gw: &Gateway, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what}; log:\n{}", gw.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_only(db: &Path) -> Option<Connection> {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()
}

fn missing(db: &Path, ids: &[String]) -> usize {
    let Some(c) = read_only(db) else {
        return ids.len();
    };
    ids.iter()
        .filter(|id| {
            c.query_row("SELECT 1 FROM traces WHERE trace_id = ?1", [id], |_| Ok(()))
                .is_err()
        })
        .count()
}

fn integrity(db: &Path) -> String {
    read_only(db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Every schema object and the journal mode: what "left as it was" compares.
fn schema(db: &Path) -> (Vec<(String, Option<String>)>, String) {
    let c = read_only(db).unwrap();
    let mut stmt = c
        .prepare("SELECT name, sql FROM sqlite_master ORDER BY name")
        .unwrap();
    let objects = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (
        objects,
        c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap(),
    )
}

/// All spans the gateway counts as dropped, whatever the reason.
fn dropped(api: &str) -> u64 {
    let text = client()
        .get(format!("{api}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("gateway_spans_dropped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A gateway on `db`; with `api`, the API on a port of its own choosing ([`Gateway::api_url`]).
fn start(db: &Path, upstream: &str, api: bool) -> Gateway {
    let api = if api {
        "[api]\nlisten = \"127.0.0.1:0\"\n"
    } else {
        ""
    };
    let dir = tempfile::tempdir().unwrap();
    Gateway::start_at(dir, db.to_path_buf(), upstream, "", "linger_ms = 5", api)
}

fn foreign(path: &Path) {
    Connection::open(path)
        .unwrap()
        .execute_batch(LOOKALIKE)
        .unwrap();
}

#[test]
fn a_database_deleted_under_load_is_created_again_and_any_loss_counted() {
    let fake = spawn_in_thread(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    let mut gw = start(&db, &fake.base_url(), true);
    let api = gw.api_url("");
    let load = Load::start(&gw);
    wait_for("a first trace", &gw, || {
        load.answered() > 0 && missing(&db, &load.ids.lock().unwrap()[..1]) == 0
    });

    std::fs::remove_file(&db).unwrap();
    let cut = load.answered();
    wait_for("the deletion noticed", &gw, || {
        gw.log_text().contains("deleted or moved away")
    });
    wait_for("traces after the deletion in the new file", &gw, || {
        let ids = load.ids.lock().unwrap()[cut..].to_vec();
        ids.len() > 5 && missing(&db, &ids) < ids.len()
    });
    let after = load.stop(cut);
    // Each answered request is in the new file, or its loss is on /metrics.
    wait_for(
        "every request after the deletion written or counted",
        &gw,
        || missing(&db, &after) as u64 <= dropped(&api),
    );
    gw.stop();
    assert_eq!(integrity(&db), "ok");
    let version: i64 = read_only(&db)
        .unwrap()
        .query_row("SELECT MAX(version) FROM gateway_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        version,
        gateway_store::LATEST_SCHEMA,
        "the new file is created and migrated"
    );
    assert!(
        gw.log_text()
            .contains("Spans are now written to the database file at the path")
    );
}

#[test]
fn a_database_replaced_under_load_receives_the_writes() {
    let fake = spawn_in_thread(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    let other = dir.path().join("other.db");
    let marker = TraceRow {
        trace_id: "feedfacefeedfacefeedfacefeedface".into(),
        status: "ok".into(),
        ..Default::default()
    };
    let mut store = Store::open(&other, &StoreOptions::default()).unwrap();
    store.write_batch(&[], &[marker]).unwrap();
    drop(store);

    let mut gw = start(&db, &fake.base_url(), false);
    let load = Load::start(&gw);
    wait_for("a first trace", &gw, || {
        load.answered() > 0 && missing(&db, &load.ids.lock().unwrap()[..1]) == 0
    });
    std::fs::rename(&other, &db).unwrap();
    wait_for("the writer switched to the replacement", &gw, || {
        gw.log_text().contains("replaced by another file")
            && gw
                .log_text()
                .contains("Spans are now written to the database file")
    });
    let cut = load.answered();
    wait_for("traces after the switch", &gw, || load.answered() > cut + 5);
    let after = load.stop(cut);
    wait_for(
        "every request after the switch in the replacement",
        &gw,
        || missing(&db, &after) == 0,
    );
    gw.stop();
    assert_eq!(
        missing(&db, &["feedfacefeedfacefeedfacefeedface".into()]),
        0,
        "the file at the path is the replacement"
    );
    assert_eq!(integrity(&db), "ok");
}

#[test]
fn a_foreign_traces_table_is_refused_at_start_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    foreign(&db);
    let before = schema(&db);
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[proxy]\nlisten = \"127.0.0.1:0\"\nupstream = \"http://127.0.0.1:9\"\n\
             [storage]\npath = \"{}\"\n",
            db.display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway started on a file that is not its own");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("table traces") && stderr.contains(&db.display().to_string()),
        "the refusal names the file and the table: {stderr}"
    );
    assert_eq!(
        schema(&db),
        before,
        "no index, trigger, table or journal mode added"
    );
}

#[test]
fn a_foreign_file_moved_over_a_running_database_is_refused_and_every_drop_counted() {
    let fake = spawn_in_thread(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join("gateway.db");
    let theirs = dir.path().join("theirs.db");
    foreign(&theirs);
    let before = schema(&theirs);

    let mut gw = start(&db, &fake.base_url(), false);
    let load = Load::start(&gw);
    wait_for("a first trace", &gw, || {
        load.answered() > 0 && missing(&db, &load.ids.lock().unwrap()[..1]) == 0
    });
    std::fs::rename(&theirs, &db).unwrap();
    wait_for("the foreign file refused, naming the table", &gw, || {
        let log = gw.log_text();
        log.contains("The file now at the database path cannot be used")
            && log.contains("table traces")
    });
    wait_for("drops counted in the log", &gw, || {
        gw.log_text()
            .contains("Span export failed; the batch is dropped and counted")
    });
    assert_eq!(schema(&db), before, "the foreign file is left as it was");

    // Once the foreign file is gone, a new gateway database is created and writing resumes.
    std::fs::rename(&db, &theirs).unwrap();
    let cut = load.answered();
    wait_for("writing resumes", &gw, || {
        let ids = load.ids.lock().unwrap()[cut..].to_vec();
        !ids.is_empty() && missing(&db, &ids) < ids.len()
    });
    load.stop(cut);
    gw.stop();
    assert!(
        gw.log_text().contains("writable again"),
        "{}",
        gw.log_text()
    );
    assert_eq!(schema(&theirs), before);
    assert_eq!(integrity(&db), "ok");
}

/// One line of the gateway's `/metrics` (a counter without labels).
fn counter(api: &str, name: &str) -> u64 {
    let text = client()
        .get(format!("{api}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

fn traces_at(db: &Path) -> u64 {
    read_only(db)
        .and_then(|c| {
            c.query_row("SELECT COUNT(*) FROM traces", [], |r| r.get::<_, i64>(0))
                .ok()
        })
        .map_or(0, |n| u64::try_from(n).unwrap())
}

#[test]
fn unlink_then_replace_under_concurrent_load_accounts_for_every_request() {
    // Four clients send requests throughout; the database is deleted, then (once the writer
    // created a new file) a copy of that new file is moved over the path, as a backup restore
    // would. Every request sent must then be a trace in the file at the path or counted as
    // lost (gateway_traces_dropped_total): what the writer put into a file that left the path
    // and the file now there does not hold. With the API on, as shipped.
    let fake = spawn_in_thread(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    let copy = dir.path().join("restored.db");
    let mut gw = start(&db, &fake.base_url(), true);
    let api = gw.api_url("");
    let loads: Vec<Load> = (0..4).map(|_| Load::start(&gw)).collect();
    let answered = |loads: &[Load]| loads.iter().map(Load::answered).sum::<usize>();
    wait_for("traces in the first file", &gw, || traces_at(&db) > 50);

    std::fs::remove_file(&db).unwrap();
    wait_for("the deletion noticed and a new file written", &gw, || {
        gw.log_text().contains("deleted or moved away") && traces_at(&db) > 50
    });
    read_only(&db)
        .unwrap()
        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    std::fs::rename(&copy, &db).unwrap();
    wait_for("the replacement noticed", &gw, || {
        gw.log_text().contains("replaced by another file")
    });
    let cut = answered(&loads);
    wait_for("requests after the replacement", &gw, || {
        answered(&loads) > cut + 50
    });
    let sent: usize = loads.into_iter().map(|l| l.stop(0).len()).sum();
    let sent = u64::try_from(sent).unwrap();

    // The wait ends when the writer has written or counted everything; it fails if the two
    // never add up (a request lost silently, or counted twice).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (stored, lost) = loop {
        let (stored, lost) = (
            traces_at(&db),
            counter(&api, "gateway_traces_dropped_total"),
        );
        if stored + lost >= sent || Instant::now() > deadline {
            break (stored, lost);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Nothing is lost silently. The count is exact when the new file takes writes at once; when
    // it is locked at the swap (the copy still being moved in), a refused batch's requests can
    // be counted both by the file-replacement count and as an export error: never fewer.
    assert!(stored <= sent, "{stored} traces stored of {sent} sent");
    assert!(
        stored + lost >= sent,
        "{sent} requests sent: {stored} traces in the file at the path, {lost} counted as lost \
         ({} spans); log:\n{}",
        dropped(&api),
        gw.log_text()
    );
    assert!(lost > 0, "the deleted file's traces are counted");
    let health = client().get(format!("{api}/healthz")).send().unwrap();
    assert_eq!(health.status(), 503, "/healthz reports the loss");
    assert!(health.text().unwrap().contains("spans dropped"));
    gw.stop();
    assert_eq!(integrity(&db), "ok");
}
