//! A database the gateway cannot write, against the real binary: read-only (a read-only mount
//! when the tests run as root, who ignores file modes; a write-protected file and directory
//! otherwise) and full (a small tmpfs filled up; root only). Requests keep flowing, the lost
//! spans are counted on `/metrics` and in the log, and writing resumes once the fault clears.
//! A database locked by another writer is in `faults.rs`. Nothing here asserts a timing.
//!
//! Skips are never silent. The file-mode case runs everywhere (as root, the gateway runs as
//! `nobody` under `setpriv`, since root ignores file modes). The mount cases need root and
//! `CAP_SYS_ADMIN`: they are `#[ignore]`d, so a plain `cargo test` counts them as ignored in its
//! summary, and CI (root) runs them with `cargo test -- --include-ignored`; run without what they
//! need, they fail naming it, they never pass without running.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use util::{Gateway, client, generate};

/// The API on a port of its own choosing (read back by the harness).
const API: &str = "[api]\nlisten = \"127.0.0.1:0\"\n";
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
    /// The plain directory, made read-only by file modes (the gateway must not run as root).
    fn file_modes(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        Self {
            dir: dir.to_path_buf(),
            mounted: false,
        }
    }

    /// A tmpfs of `size` mounted at `dir`. Panics, naming what is missing, when this process
    /// cannot mount: the caller is an `#[ignore]`d test someone asked to run.
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        assert!(
            is_root(),
            "this test needs root to mount a tmpfs (CI runs it as root with --include-ignored)"
        );
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test needs to mount a tmpfs (CAP_SYS_ADMIN), which failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir: dir.to_path_buf(),
            mounted: true,
        }
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
    let gw = Gateway::start_at(
        tempfile::tempdir().unwrap(),
        db.to_path_buf(),
        upstream,
        "",
        "linger_ms = 5",
        API,
    );
    let api = gw.api_url("");
    (gw, api)
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

/// As root (who ignores file modes), the gateway runs as `nobody` and the directories it uses
/// are made its own or readable; otherwise as this user.
const NOBODY: u32 = 65534;
const AS_NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

fn wrapper() -> &'static [&'static str] {
    if is_root() { AS_NOBODY } else { &[] }
}

/// A directory for the gateway's config and log that `nobody` can read when root.
fn gateway_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if is_root() {
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// Like `start_with_api`, as `nobody` when root.
fn start_with_api_as(db: &Path, upstream: &str, wrap: &[&str]) -> (Gateway, String) {
    let gw = Gateway::start_wrapped(
        gateway_dir(),
        db.to_path_buf(),
        upstream,
        "",
        "linger_ms = 5",
        API,
        wrap,
    );
    let api = gw.api_url("");
    (gw, api)
}

#[test]
fn a_read_only_database_never_blocks_requests_and_writing_resumes() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let fault = Fault::file_modes(&data);
    let wrap = wrapper();
    if is_root() {
        // `setpriv` is part of util-linux; without it this test cannot run and says so.
        assert!(
            Command::new("setpriv").arg("--version").output().is_ok(),
            "as root this test runs the gateway as nobody with setpriv (util-linux), which is missing"
        );
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&data, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    read_only_scenario(&fault, wrap);
}

#[test]
#[ignore = "needs root and CAP_SYS_ADMIN (a read-only tmpfs mount); CI runs it: cargo test -- --include-ignored"]
fn a_read_only_mount_never_blocks_requests_and_writing_resumes() {
    let root = tempfile::tempdir().unwrap();
    let fault = Fault::mount(&root.path().join("data"), "64m");
    read_only_scenario(&fault, &[]);
}

fn read_only_scenario(fault: &Fault, wrap: &[&str]) {
    let fake = spawn_in_thread(FakeConfig::default());
    let db = fault.dir.join("gateway.db");

    // A first run creates the file and writes one trace.
    let mut first = Gateway::start_wrapped(
        gateway_dir(),
        db.clone(),
        &fake.base_url(),
        "",
        "linger_ms = 5",
        "",
        wrap,
    );
    let before = send(&first);
    first.wait_traces(1);
    first.stop();

    fault.set_read_only(true);
    let (mut gw, api) = start_with_api_as(&db, &fake.base_url(), wrap);
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
#[ignore = "needs root and CAP_SYS_ADMIN (a small tmpfs filled up); CI runs it: cargo test -- --include-ignored"]
fn a_full_disk_never_blocks_requests_and_writing_resumes() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let _mounted = Fault::mount(&data, "4m"); // unmounted on drop, at the end
    let fake = spawn_in_thread(FakeConfig::default());
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
