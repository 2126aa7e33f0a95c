//! The processor and exporter against a database file deleted or replaced while spans keep
//! coming: the writer follows the path, and every span is in the new file, in the old one, or
//! counted as dropped. Nothing here asserts a timing; waits have a deadline only.

#![allow(clippy::unwrap_used)]

use gateway_sqlite::{BatchConfig, BoundedBatchProcessor, SqliteSpanExporter};
use gateway_store::{SpanRow, Store, StoreOptions};
use opentelemetry::trace::{Span, SpanKind, Tracer, TracerProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use rusqlite::Connection;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn names(conn: &Connection) -> HashSet<String> {
    conn.prepare("SELECT name FROM spans")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn count(path: &Path) -> usize {
    Connection::open(path)
        .ok()
        .and_then(|c| {
            c.query_row("SELECT COUNT(*) FROM spans", [], |r| r.get::<_, i64>(0))
                .ok()
        })
        .unwrap_or(0) as usize
}

fn companion(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// The inode of the `-wal` at `path`, if any.
fn wal_of(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(companion(path, "-wal"))
        .ok()
        .map(|m| m.ino())
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Spans named `s0`, `s1`, ... ended on a thread until `stop`; returns how many.
fn load(provider: SdkTracerProvider, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let tracer = provider.tracer("test");
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..20 {
                let mut span = tracer
                    .span_builder(format!("s{n}"))
                    .with_kind(SpanKind::Internal)
                    .start(&tracer);
                span.end();
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        n
    })
}

/// Runs a writer under load, calls `swap` once spans are flowing, waits for `after` spans to
/// reach the file then at the path, and checks the accounting. Returns the spans in the file at
/// the path and in the old file (read through a connection opened before the swap).
fn under_load(path: &Path, swap: impl FnOnce()) -> (HashSet<String>, HashSet<String>) {
    let processor = BoundedBatchProcessor::new(
        SqliteSpanExporter::open(path, &StoreOptions::default()).unwrap(),
        BatchConfig {
            max_batch: 64,
            linger: Duration::from_millis(1),
            ..BatchConfig::default()
        },
    )
    .unwrap();
    let stats = processor.stats();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let stop = Arc::new(AtomicBool::new(false));
    let emitter = load(provider.clone(), stop.clone());
    wait_for("spans are written", || count(path) >= 200);
    // A reader of the old file; its first read opens the old log (by name, so before the swap).
    let old = Connection::open(path).unwrap();
    assert!(!names(&old).is_empty());
    // Held open so that the old log's inode number cannot be reused by the new file's.
    let _old_wal = std::fs::File::open(companion(path, "-wal")).unwrap();
    let wal = wal_of(path);
    swap();
    // SQLite pairs a file with the `-wal` and `-shm` at its path: opening the path before the
    // writer has removed the old ones would pair them with the new file (see docs/faults.md).
    wait_for("the writer lets go of the old file", || wal_of(path) != wal);
    wait_for("spans reach the file now at the path", || {
        count(path) >= 300
    });
    stop.store(true, Ordering::Relaxed);
    let emitted = emitter.join().unwrap();
    provider.shutdown().unwrap();

    let new = names(&Connection::open(path).unwrap());
    let old = names(&old);
    let exported = stats.exported.load(Ordering::Relaxed);
    assert_eq!(
        exported + stats.dropped(),
        emitted,
        "every span is exported or counted"
    );
    // Exported: in the file at the path; the spans the writer left in the old file that the
    // new one does not hold are counted as dropped (file_replaced), with the batches lost.
    let at_path = new.iter().filter(|n| n.starts_with('s')).count() as u64;
    assert_eq!(
        at_path, exported,
        "exported spans are in the file at the path"
    );
    let only_old = old
        .iter()
        .filter(|n| n.starts_with('s') && !new.contains(*n))
        .count() as u64;
    assert_eq!(
        only_old,
        stats.dropped_file_replaced.load(Ordering::Relaxed),
        "the spans left in the old file are counted"
    );
    (new, old)
}

#[test]
fn a_database_deleted_under_load_is_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let (new, old) = under_load(&path, || std::fs::remove_file(&path).unwrap());
    assert!(!new.is_empty() && !old.is_empty());
    let conn = Connection::open(&path).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[test]
fn a_database_replaced_under_load_receives_the_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let other = dir.path().join("other.db");
    let mut store = Store::open(&other, &StoreOptions::default()).unwrap();
    let marker = SpanRow {
        name: "replacement-marker".into(),
        ..SpanRow::bare("marker", "00000000000000aa", None, "internal")
    };
    store.write_batch(&[marker], &[]).unwrap();
    drop(store);
    let (new, old) = under_load(&path, || std::fs::rename(&other, &path).unwrap());
    assert!(
        new.contains("replacement-marker"),
        "the replacement is the file written"
    );
    assert!(!old.contains("replacement-marker"));
    assert!(new.len() > 1);
    let integrity: String = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}
