//! A database the gateway cannot write, against the real binary: read-only (a read-only mount
//! when the tests run as root, who ignores file modes; a write-protected file and directory
//! otherwise) and full (a small tmpfs filled up; root only). Requests keep flowing, the lost
//! spans are counted on `/metrics` and in the log, and writing resumes once the fault clears.
//! A database locked by another writer is in `faults.rs`. Nothing here asserts a timing.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use util::{Gateway, client, free_port, generate};

const BODY: &str = r#"{"contents":[{"parts":[{"text":"read-only database"}]}]}"#;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0")
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes the directory holding the database unwritable and back.
struct Fault {
    dir: PathBuf,
    mounted: bool,
}

impl Fault {
    /// `None` when root cannot mount (a container without `CAP_SYS_ADMIN`): the test says so.
    fn new(dir: &Path) -> Option<Self> {
        Self::with_size(dir, "64m")
    }

    /// A tmpfs of `size` when root, the plain directory otherwise.
    fn with_size(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = is_root();
        if mounted {
            let out = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir)
                .output()
                .unwrap();
            if !out.status.success() {
                eprintln!(
                    "skipped: root cannot mount a tmpfs here: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return None;
            }
        }
        Some(Self {
            dir: dir.to_path_buf(),
            mounted,
        })
    }

    fn set_read_only(&self, ro: bool) {
        if self.mounted {
            let opt = if ro { "remount,ro" } else { "remount,rw" };
            run("mount", &["-o", opt, self.dir.to_str().unwrap()]);
            return;
        }
        let (file, dir) = if ro { (0o444, 0o555) } else { (0o644, 0o755) };
        for entry in std::fs::read_dir(&self.dir).unwrap() {
            let path = entry.unwrap().path();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file)).unwrap();
        }
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(dir)).unwrap();
    }
}

impl Drop for Fault {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        } else {
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755));
        }
    }
}

fn send(gw: &Gateway) -> String {
    generate(gw, BODY)
}

const DROPPED: &str = "gateway_spans_dropped_total{reason=\"export_error\"}";

fn metric(api: &str, line: &str) -> u64 {
    let text = client()
        .get(format!("{api}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn wait_for(what: &str, gw: &Gateway, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what}; log:\n{}", gw.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A gateway on `db` with the API (for `/metrics`) on; returns it and the API's base URL.
fn start_with_api(db: &Path, upstream: &str) -> (Gateway, String) {
    let api_port = free_port();
    let gw = Gateway::start_at(
        tempfile::tempdir().unwrap(),
        db.to_path_buf(),
        upstream,
        "",
        "linger_ms = 5",
        &format!("[api]\nlisten = \"127.0.0.1:{api_port}\"\n"),
    );
    (gw, format!("http://127.0.0.1:{api_port}"))
}

/// After the fault: rows from before are kept, the file is sound.
fn assert_kept_and_sound(db: &Path, before: &str) {
    assert!(
        has_trace(db, before),
        "rows written before the fault are kept"
    );
    let integrity: String = rusqlite::Connection::open(db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

/// Keeps the traffic going until a new trace is written (the file is opened again at most once
/// a second).
fn wait_until_writing_resumes(gw: &Gateway, db: &Path) {
    let mut after = Vec::new();
    wait_for("writing resumes once the fault clears", gw, || {
        after.push(send(gw));
        std::thread::sleep(Duration::from_millis(100));
        after.iter().any(|id| has_trace(db, id))
    });
}

fn has_trace(db: &Path, id: &str) -> bool {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM traces WHERE trace_id = ?1",
                [id],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| n == 1)
        .unwrap_or(false)
}

#[test]
fn a_read_only_database_never_blocks_requests_and_writing_resumes() {
    let fake = spawn_in_thread(FakeConfig::default());
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let Some(fault) = Fault::new(&data) else {
        return;
    };
    let db = data.join("gateway.db");

    // A first run creates the file and writes one trace.
    let mut first = Gateway::start_at(
        tempfile::tempdir().unwrap(),
        db.clone(),
        &fake.base_url(),
        "",
        "linger_ms = 5",
        "",
    );
    let before = send(&first);
    first.wait_traces(1);
    first.stop();

    fault.set_read_only(true);
    let (mut gw, api) = start_with_api(&db, &fake.base_url());
    assert!(
        gw.log_text().contains("cannot be written now"),
        "{}",
        gw.log_text()
    );
    let during: Vec<String> = (0..5).map(|_| send(&gw)).collect();
    // Each answered request ends four spans (root and three steps), all of them dropped.
    wait_for("drops counted on /metrics", &gw, || {
        metric(&api, DROPPED) >= 20
    });
    wait_for("the failure logged", &gw, || {
        gw.log_text().contains("Span export failed")
    });

    fault.set_read_only(false);
    wait_until_writing_resumes(&gw, &db);
    assert!(
        gw.log_text().contains("writable again"),
        "{}",
        gw.log_text()
    );
    gw.stop();

    assert!(
        during.iter().all(|id| !has_trace(&db, id)),
        "spans of the read-only period are dropped (and counted), not invented"
    );
    assert_kept_and_sound(&db, &before);
}

#[test]
fn a_full_disk_never_blocks_requests_and_writing_resumes() {
    if !is_root() {
        eprintln!("skipped: filling a file system needs a tmpfs mount, which needs root");
        return;
    }
    let fake = spawn_in_thread(FakeConfig::default());
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let Some(fault) = Fault::with_size(&data, "4m") else {
        return;
    };
    assert!(fault.mounted);
    let db = data.join("gateway.db");
    let (mut gw, api) = start_with_api(&db, &fake.base_url());
    let before = send(&gw);
    wait_for("the first trace written", &gw, || has_trace(&db, &before));

    // Fill what is left of the file system, then keep the traffic going until writes fail.
    let filler = data.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    wait_for("drops counted on /metrics", &gw, || {
        (0..20).for_each(|_| drop(send(&gw)));
        metric(&api, DROPPED) > 0
    });
    let log = gw.log_text();
    assert!(
        log.contains("Span export failed") && log.contains("full"),
        "{log}"
    );

    std::fs::remove_file(&filler).unwrap();
    wait_until_writing_resumes(&gw, &db);
    gw.stop();
    assert_kept_and_sound(&db, &before);
}
