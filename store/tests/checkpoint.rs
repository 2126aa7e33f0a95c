//! WAL checkpoints off the writer thread (`Store::checkpoint_in_background`): the checkpoint
//! thread copies the WAL into the file, the writer takes over when that thread cannot keep the
//! WAL bounded, and closing the store leaves no thread and no WAL behind.

#![allow(clippy::unwrap_used)]

use gateway_store::{CHECKPOINT_PAGES, INLINE_PAGES, SpanRow, Store, StoreOptions};
use std::path::Path;
use std::time::{Duration, Instant};

/// A span whose attributes are `bytes` long, so that few rows fill many pages.
fn span(i: usize, bytes: usize) -> SpanRow {
    SpanRow {
        span_id: format!("{i:016x}"),
        trace_id: format!("{:032x}", i / 4),
        parent_span_id: None,
        name: "s".into(),
        kind: "internal",
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        status_code: "unset",
        status_message: None,
        attributes_json: format!("{{\"pad\":\"{}\"}}", "x".repeat(bytes)),
        events_json: "[]".into(),
    }
}

/// Writes `n` spans of about 8 KiB (two to three pages each), 16 spans (one commit) at a time.
fn write(store: &mut Store, from: usize, n: usize) {
    for chunk in (from..from + n).collect::<Vec<_>>().chunks(16) {
        let spans: Vec<_> = chunk.iter().map(|&i| span(i, 8 << 10)).collect();
        store.write_batch(&spans, &[]).unwrap();
    }
}

/// A store at `g.db` in a new directory, its checkpoints moved to their own thread.
fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("g.db"), &StoreOptions::default()).unwrap();
    store.checkpoint_in_background().unwrap();
    (dir, store)
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn wal(db: &Path) -> std::path::PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    p.into()
}

#[test]
fn the_checkpoint_thread_copies_the_wal_into_the_file() {
    let (dir, mut store) = open();
    let db = dir.path().join("g.db");
    let before = size(&db);
    // About three times the pages that wake the checkpoint thread.
    let n = 3 * CHECKPOINT_PAGES as usize / 2;
    write(&mut store, 0, n);
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.checkpoints().0 == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (done, inline) = store.checkpoints();
    assert!(done >= 1, "the checkpoint thread never ran");
    assert_eq!(
        inline, 0,
        "the writer checkpointed itself with the thread keeping up"
    );
    assert!(
        size(&db) > before + (CHECKPOINT_PAGES as u64) * 4096,
        "the file did not grow by what was checkpointed: {} -> {}",
        before,
        size(&db)
    );
    let count: i64 = store
        .connection()
        .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, n as i64);
    // Closing stops the thread and, as the last connection, removes the WAL.
    drop(store);
    assert!(!wal(&db).exists(), "the WAL outlived the store");
    let reopened = Store::open(&db, &StoreOptions::default()).unwrap();
    let count: i64 = reopened
        .connection()
        .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, n as i64, "rows lost across close");
}

/// A reader that keeps an old snapshot open stops every checkpoint short: the WAL grows, and
/// past `INLINE_PAGES` the writer checkpoints after its commits itself, as SQLite's own
/// automatic checkpoint would. Once the reader lets go, the WAL is copied and starts over.
#[test]
fn the_writer_checkpoints_itself_when_the_wal_keeps_growing() {
    let (dir, mut store) = open();
    let db = dir.path().join("g.db");
    write(&mut store, 0, 16);
    let reader = rusqlite::Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
        .unwrap();
    // A little over INLINE_PAGES pages of WAL.
    let n = INLINE_PAGES as usize / 2 + 512;
    write(&mut store, 16, n);
    let (_, inline) = store.checkpoints();
    assert!(
        inline >= 1,
        "the writer never checkpointed itself (WAL {} bytes)",
        size(&wal(&db))
    );
    assert!(
        size(&wal(&db)) > (INLINE_PAGES as u64) * 4096,
        "the reader's snapshot should have held the WAL"
    );
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    let grown = size(&db);
    // The next commits find the WAL past the bound: the writer or the thread (whichever holds
    // the checkpoint lock first) copies it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next = 16 + n;
    while size(&db) <= grown && Instant::now() < deadline {
        write(&mut store, next, 16);
        next += 16;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        size(&db) > grown,
        "the WAL was never copied once the reader left"
    );
}
