//! Which file the database path names, by device and inode: how the writer notices that the
//! file it has open was deleted, moved away or replaced (SQLite keeps writing into an unlinked
//! file without a word).
//!
//! [`Identity`] records the database file and its `-wal` and `-shm` companions right after the
//! store is opened; [`Identity::at_path`] is one `stat` of the path. When the file changed, the
//! companions still at the path belong to the old file: [`Identity::remove_stale_companions`]
//! removes them before the path is opened again, because SQLite would otherwise pair them with
//! the next file at the path (replaying the old log into it, or sharing the old index).
//!
//! Identity is the device and inode number: a file overwritten in place (`cp new gateway.db`)
//! keeps both and is not noticed; a rename over the path (`mv`, as atomic replacements do) is.
//!
//! What the writer leaves in a file it lets go of is counted ([`Marks`], [`left_behind`]): the
//! rows it wrote into that file since opening it, less those the file now at the path holds
//! too (a copy of the old file moved over the path holds a prefix of its rows, recognised by
//! the span at the same row id). Those rows are no longer at the configured path: with the
//! spans written in the new file they make up every span the writer was given.

use std::io;
use std::path::{Path, PathBuf};

/// Device and inode of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the file `path` names now (one `stat`).
    #[cfg(unix)]
    pub(crate) fn of(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(Self {
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    /// Not available here: the check is skipped.
    #[cfg(not(unix))]
    pub(crate) fn of(_path: &Path) -> io::Result<Self> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// What the path names now, compared with the open file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtPath {
    /// The open file (or it cannot be told: the path cannot be examined).
    Same,
    /// Nothing: the file was deleted or moved away.
    Deleted,
    /// Another file.
    Replaced,
}

/// The database file a store has open, and its companions as they were then.
#[derive(Debug)]
pub(crate) struct Identity {
    path: PathBuf,
    db: Option<FileId>,
    wal: Option<FileId>,
    shm: Option<FileId>,
}

fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl Identity {
    /// Records what `path` and its companions name now.
    #[cfg(test)]
    pub(crate) fn record(path: &Path) -> Self {
        Self::record_opened(path, None)
    }

    /// Records what `path` and its companions name now (call right after opening the store),
    /// given what the path named just before the store was opened:
    /// when the path changed meanwhile, the store may have opened either file, so the earlier
    /// one is recorded. If the store has the later one, the next check reopens the path (a
    /// harmless reopen: nothing is counted, the file holds all its rows); if it has the earlier
    /// one, the next check notices that it left the path.
    pub(crate) fn record_opened(path: &Path, before: Option<FileId>) -> Self {
        let now = FileId::of(path).ok();
        let db = match (before, now) {
            (Some(b), Some(n)) if b != n => Some(b),
            _ => now,
        };
        Self {
            path: path.to_path_buf(),
            db,
            wal: FileId::of(&companion(path, "-wal")).ok(),
            shm: FileId::of(&companion(path, "-shm")).ok(),
        }
    }

    /// Whether the path still names the recorded file (one `stat`).
    pub(crate) fn at_path(&self) -> AtPath {
        let Some(db) = self.db else {
            return AtPath::Same;
        };
        match FileId::of(&self.path) {
            Ok(id) if id == db => AtPath::Same,
            Ok(_) => AtPath::Replaced,
            Err(e) if e.kind() == io::ErrorKind::NotFound => AtPath::Deleted,
            Err(_) => AtPath::Same,
        }
    }

    /// Removes the `-wal` and `-shm` files at the path that are still those recorded with the
    /// old database, and returns them. Call while the old connection is open, so that their
    /// inode numbers cannot have been reused by new files.
    pub(crate) fn remove_stale_companions(&self) -> Vec<PathBuf> {
        [("-wal", self.wal), ("-shm", self.shm)]
            .into_iter()
            .filter_map(|(suffix, recorded)| {
                let path = companion(&self.path, suffix);
                let stale = recorded.is_some() && FileId::of(&path).ok() == recorded;
                (stale && std::fs::remove_file(&path).is_ok()).then_some(path)
            })
            .collect()
    }
}

/// Where a writer's rows begin in a file: the highest span and metric snapshot ids when it
/// opened the file (row ids grow with each insert).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Marks {
    spans: i64,
    metrics: i64,
}

impl Marks {
    /// The marks of the file `conn` has open now (two index lookups).
    pub(crate) fn of(conn: &rusqlite::Connection) -> Self {
        let max = |table: &str| {
            conn.query_row(
                &format!("SELECT COALESCE(MAX(id), 0) FROM {table}"),
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0)
        };
        Self {
            spans: max("spans"),
            metrics: max("metric_snapshots"),
        }
    }
}

/// Rows a writer put into a file that are not in the file now at the path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Left {
    pub(crate) spans: u64,
    /// Of `spans`, gateway root spans: the requests whose trace summary is not at the path.
    pub(crate) traces: u64,
    pub(crate) metric_rows: u64,
    pub(crate) breached_rows: u64,
}

impl Left {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub(crate) fn add(&mut self, other: Left) {
        self.spans += other.spans;
        self.traces += other.traces;
        self.metric_rows += other.metric_rows;
        self.breached_rows += other.breached_rows;
    }

    /// Less `other` (a batch counted elsewhere), never below zero.
    pub(crate) fn sub(&mut self, other: Left) {
        self.spans = self.spans.saturating_sub(other.spans);
        self.traces = self.traces.saturating_sub(other.traces);
        self.metric_rows = self.metric_rows.saturating_sub(other.metric_rows);
        self.breached_rows = self.breached_rows.saturating_sub(other.breached_rows);
    }
}

/// The highest span id of `new` when it is a copy of `old` (the span at that id is the same
/// in both), else 0.
fn copied_upto(old: &rusqlite::Connection, new: &rusqlite::Connection) -> i64 {
    type Row = (i64, String, String);
    let read =
        |r: &rusqlite::Row<'_>| -> rusqlite::Result<Row> { Ok((r.get(0)?, r.get(1)?, r.get(2)?)) };
    let newest = new
        .query_row(
            "SELECT id, span_id, trace_id FROM spans ORDER BY id DESC LIMIT 1",
            [],
            read,
        )
        .ok();
    let Some(newest) = newest else { return 0 };
    let same = old
        .query_row(
            "SELECT id, span_id, trace_id FROM spans WHERE id = ?1",
            [newest.0],
            read,
        )
        .ok();
    if same.as_ref() == Some(&newest) {
        newest.0
    } else {
        0
    }
}

/// The rows written into `old` since `since` that `new` (the file now at the path, if one
/// could be opened) does not hold. Errors count as nothing left (logged by the caller).
pub(crate) fn left_behind(
    old: &rusqlite::Connection,
    since: Marks,
    new: Option<&rusqlite::Connection>,
) -> rusqlite::Result<Left> {
    let base = new.map_or(0, |n| copied_upto(old, n)).max(since.spans);
    let (spans, traces): (i64, i64) = old.query_row(
        "SELECT COUNT(*), COALESCE(SUM(kind = 'server' \
             AND json_extract(attributes, '$.\"gateway.status\"') IS NOT NULL), 0) \
         FROM spans WHERE id > ?1",
        [base],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    // A request's metric rows go with its spans (the same batch).
    let (metric_rows, breached): (i64, i64) = old.query_row(
        "SELECT COUNT(*), COALESCE(SUM(breached != 0), 0) FROM metric_snapshots \
         WHERE id > ?1 AND trace_id IN (SELECT trace_id FROM spans WHERE id > ?2)",
        [since.metrics, base],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Left {
        spans: n(spans),
        traces: n(traces),
        metric_rows: n(metric_rows),
        breached_rows: n(breached),
    })
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tells_same_deleted_and_replaced_and_removes_only_stale_companions() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.db");
        let wal = companion(&db, "-wal");
        std::fs::write(&db, b"a").unwrap();
        std::fs::write(&wal, b"w").unwrap();
        // Held open like the old connection holds it, so its inode number is not reused.
        let _old_wal = std::fs::File::open(&wal).unwrap();
        let id = Identity::record(&db);
        assert_eq!(id.at_path(), AtPath::Same);
        std::fs::rename(&db, dir.path().join("moved.db")).unwrap();
        assert_eq!(id.at_path(), AtPath::Deleted);
        std::fs::write(dir.path().join("other.db"), b"b").unwrap();
        std::fs::rename(dir.path().join("other.db"), &db).unwrap();
        assert_eq!(id.at_path(), AtPath::Replaced);
        assert_eq!(id.remove_stale_companions(), vec![wal.clone()]);
        assert!(!wal.exists());
        // A companion that is not the recorded one is left alone.
        std::fs::write(&wal, b"new").unwrap();
        assert!(id.remove_stale_companions().is_empty());
        assert!(wal.exists());
    }

    #[test]
    fn a_path_that_changed_while_opening_records_the_earlier_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.db");
        std::fs::write(&db, b"a").unwrap();
        let _held = std::fs::File::open(&db).unwrap();
        let before = FileId::of(&db).ok();
        std::fs::write(dir.path().join("b.db"), b"b").unwrap();
        std::fs::rename(dir.path().join("b.db"), &db).unwrap();
        let id = Identity::record_opened(&db, before);
        assert_eq!(
            id.at_path(),
            AtPath::Replaced,
            "the next check reopens the path"
        );
        assert_eq!(Identity::record_opened(&db, None).at_path(), AtPath::Same);
    }
}
