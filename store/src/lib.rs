//! The gateway's SQLite store: schema, versioned migrations and every SQL statement.
//!
//! No other crate writes SQL. The writer side ([`Store::write_batch`]) is used by the span
//! exporter; readers open the same WAL-mode file concurrently.
//!
//! Ids (`trace_id`, `span_id`, `parent_span_id`) are stored as lowercase hex `TEXT`, the form
//! users see in `traceparent`, logs and the API. Trace ids minted by the gateway start with a
//! millisecond timestamp, so primary-key inserts land at the end of the B-tree.

mod aggregates;
mod checkpoint;
mod migrations;
pub mod query;
mod request_index;
mod retention;
mod rows;
mod static_bind;
mod unpriced;
mod write;

pub use checkpoint::{CHECKPOINT_PAGES, INLINE_PAGES};
pub use migrations::OWN_TABLES;
#[doc(hidden)]
pub use migrations::migration_sql;
/// The schema version this build creates and migrates to.
pub const LATEST_SCHEMA: i64 = migrations::LATEST;
pub use retention::{RetentionPolicy, RetentionReport};
pub use rows::{METRIC_EVENT, METRIC_LLM_SPAN_ID, MetricRow, SpanRow, TraceRow};
pub use unpriced::{Pricing, is_unpriced};

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors from opening or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("sqlite error on {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file (or its directory, or the file system) does not allow writing.
    #[error("database {path} is read-only")]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// The file holds a table of ours with an unexpected shape, or a newer schema.
    #[error("database {path} is not usable: {reason}")]
    Incompatible {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Result alias for store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a statement waits on a lock held by another connection.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// An open connection to the gateway database.
pub struct Store {
    /// The writer's statements of its own. Declared before `conn`: they are finalized before
    /// it closes.
    statements: write::Statements,
    conn: Connection,
    path: PathBuf,
    checkpointer: Option<checkpoint::Checkpointer>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl StoreError {
    /// Whether the condition may clear by itself (a lock, a full disk, a read-only mount), so
    /// that opening again later can succeed; false for a file that is not ours to write.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::Incompatible { .. })
    }

    /// Whether another connection held the lock for longer than the busy timeout
    /// (`SQLITE_BUSY` or `SQLITE_LOCKED`): the statement's transaction was rolled back, nothing
    /// of it is in the file, and doing it again later can succeed.
    pub fn is_busy(&self) -> bool {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        matches!(self, Self::Sqlite { source, .. }
            if matches!(source.sqlite_error_code(), Some(DatabaseBusy | DatabaseLocked)))
    }

    /// Whether the connection should be closed and opened again before the next write: the
    /// file became unwritable, or disappeared from under it.
    pub fn needs_reopen(&self) -> bool {
        use rusqlite::ErrorCode::{CannotOpen, ReadOnly, SystemIoFailure};
        match self {
            Self::ReadOnly { .. } => true,
            Self::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(ReadOnly | CannotOpen | SystemIoFailure)
            ),
            Self::Incompatible { .. } => false,
        }
    }
}

/// SQLite virtual-machine steps between two yields of the writing thread (see [`Store::open`]).
const YIELD_EVERY_OPS: std::ffi::c_int = 2_000;

impl Store {
    /// Opens (creating if needed) the database, switches it to WAL with `synchronous=NORMAL`,
    /// and applies pending migrations. Tables that are not ours are never touched, and a file
    /// holding a table named like ours that the gateway did not create (or whose columns differ)
    /// is [`StoreError::Incompatible`] before anything in it is changed, journal mode included.
    pub fn open(path: impl AsRef<Path>, opts: &StoreOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        remove_orphaned_log(&path);
        let conn = Connection::open(&path).map_err(|e| sqlite_err(&path, e))?;
        let mut store = Self {
            statements: write::Statements::default(),
            conn,
            path,
            checkpointer: None,
        };
        store
            .conn
            .busy_timeout(opts.busy_timeout)
            .map_err(|e| store.err(e))?;
        // The writer alone keeps some twenty statements (`write`, `aggregates`,
        // `request_index`, retention): more than rusqlite's default cache of 16, which would
        // then prepare the least used again and again.
        store.conn.set_prepared_statement_cache_capacity(64);
        // Every YIELD_EVERY_OPS virtual-machine steps of a statement the writer makes one system
        // call, so a thread woken on its core gets the core within that many steps. Without it,
        // on a kernel that preempts only at the next tick (`PREEMPT_NONE`/lazy, the common server
        // setting), a proxy thread woken beside a long statement waited up to a tick (4 ms), even
        // with the writer at idle priority (docs/benchmarks.md: the p99 at concurrency 1). SQLite
        // consults the handler only at jumps in the program, so it serves long statements
        // (retention's deletes, aggregates, queries); a one-row insert seldom reaches it.
        store
            .conn
            .progress_handler(
                YIELD_EVERY_OPS,
                Some(|| {
                    std::thread::yield_now();
                    false
                }),
            )
            .map_err(|e| store.err(e))?;
        let checked = migrations::check(&store.conn, &store.path);
        // SQLite quietly opens a write-protected file read-only; say so instead of failing at
        // the first write (unless the file is not ours at all, which no permission fixes).
        if store
            .conn
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(|e| store.err(e))?
        {
            return Err(match checked {
                Err(e @ StoreError::Incompatible { .. }) => e,
                _ => StoreError::ReadOnly {
                    path: store.path.clone(),
                },
            });
        }
        checked?;
        store.configure()?;
        migrations::apply(&store.conn, &store.path)?;
        Ok(store)
    }

    fn configure(&self) -> Result<()> {
        // A new, empty file gets incremental auto-vacuum so retention can give pages back. It
        // must be set before the first table exists; an existing (possibly shared) file is
        // never rewritten for it.
        let pages: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if pages == 0 {
            self.conn
                .execute_batch("PRAGMA auto_vacuum = INCREMENTAL")
                .map_err(|e| self.err(e))?;
        }
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Incompatible {
                path: self.path.clone(),
                reason: format!("journal_mode stayed {mode}, WAL is required"),
            });
        }
        self.conn
            .execute_batch("PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;")
            .map_err(|e| self.err(e))?;
        // The same answers as SQLite's `instr` for a fraction of the writer's time: the partial
        // indexes and the cache trigger evaluate it on every span insert.
        if let Err(error) = self.use_fast_instr() {
            tracing::warn!(%error, "Could not replace instr; SQLite's own is used.");
        }
        Ok(())
    }

    /// The database file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version after migrations.
    pub fn schema_version(&self) -> Result<i64> {
        migrations::current_version(&self.conn).map_err(|e| self.err(e))
    }

    /// Borrow the raw connection (tests and read-side helpers in this crate only).
    #[doc(hidden)]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        sqlite_err(&self.path, e)
    }
}

/// When the database file is missing, removes the `-wal` and `-shm` it left at the path (it was
/// deleted while open): SQLite finds them by name and would pair them with the new file, whose
/// writes would then go through the old file's index.
fn remove_orphaned_log(path: &Path) {
    if !matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
    {
        return;
    }
    for suffix in ["-wal", "-shm"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        if std::fs::remove_file(&companion).is_ok() {
            tracing::warn!(
                path = %path.display(),
                removed = %Path::new(&companion).display(),
                "The database file is missing; removed the log it left behind before creating it."
            );
        }
    }
}

fn sqlite_err(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}
