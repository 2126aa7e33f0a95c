//! WAL checkpoints off the writer thread (`Store::checkpoint_in_background`): the checkpoint
//! thread copies the WAL into the file, the writer takes over when that thread cannot keep the
//! WAL bounded, and closing the store leaves no thread and no WAL behind.

#![allow(clippy::unwrap_used)]

mod common;

use gateway_store::{CHECKPOINT_PAGES, INLINE_PAGES, SpanRow, Store, StoreOptions};
use std::path::Path;
use std::time::{Duration, Instant};

/// A span whose attributes are `bytes` long, so that few rows fill many pages.
fn span(i: usize, bytes: usize) -> SpanRow {
    SpanRow {
        attributes_json: format!("{{\"pad\":\"{}\"}}", "x".repeat(bytes)),
        ..common::span(
            &format!("{:032x}", i / 4),
            &format!("{i:016x}"),
            None,
            "internal",
        )
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

/// A file moved over the path while the writer still has the old one open leaves the old
/// file's `-wal` and `-shm` at the path until the writer notices. A reader that opens the path
/// in that window and closes last must not copy that log into the file now at the path
/// (SQLite's checkpoint on close): it would write the other file's pages into this one.
#[test]
fn a_reader_never_checkpoints_another_files_log_into_the_file_at_the_path() {
    use rusqlite::{Connection, OpenFlags};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let copy = dir.path().join("copy.db");
    let mut old = Store::open(&path, &StoreOptions::default()).unwrap();
    write(&mut old, 0, 64);
    old.connection()
        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    // Frames only the old file's log holds, then the copy moved over the path.
    write(&mut old, 64, 64);
    std::fs::rename(&copy, &path).unwrap();
    let reader = gateway_store::query::Reader::open(&path, Duration::from_secs(1)).unwrap();
    let _ = reader.check();
    drop(reader);
    // The writer lets go of its file (its log leaves the path with it), as the exporter does.
    drop(old);
    for companion in ["g.db-wal", "g.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(companion));
    }
    let copy = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let spans: i64 = copy
        .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
        .unwrap();
    assert_eq!(spans, 64, "the copy holds what it held when it was made");
}

/// A writer whose file left the path closes without deleting the `-wal` and `-shm` now at the
/// path, which belong to the file opened there since: SQLite checks that the file is still at
/// its path before its checkpoint on close (and the deletion of the log that follows). The new
/// file's log, not yet checkpointed, stays readable.
#[test]
fn closing_a_store_whose_file_moved_leaves_the_next_files_log_alone() {
    use rusqlite::{Connection, OpenFlags};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut old = Store::open(&path, &StoreOptions::default()).unwrap();
    write(&mut old, 0, 16);
    // The file is moved away; its companions leave the path (as the exporter's retire does)
    // and a new file is opened there and written, its rows only in its log.
    std::fs::rename(&path, dir.path().join("moved.db")).unwrap();
    old.checkpoint().unwrap();
    for companion in ["g.db-wal", "g.db-shm"] {
        std::fs::remove_file(dir.path().join(companion)).unwrap();
    }
    let mut new = Store::open(&path, &StoreOptions::default()).unwrap();
    write(&mut new, 100, 32);
    drop(old);
    assert!(
        dir.path().join("g.db-wal").exists(),
        "the new file's log is still at the path"
    );
    let reader = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let spans: i64 = reader
        .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
        .unwrap();
    assert_eq!(spans, 32);
    drop(new);
}
