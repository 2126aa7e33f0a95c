//! The read-only connection and the error type of every query.

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a query could not answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The database file does not exist (readers never create it).
    #[error("database {path} does not exist")]
    Missing {
        /// The database file.
        path: PathBuf,
    },
    /// Another connection held a lock past the busy timeout.
    #[error("database {path} is busy: {source}")]
    Busy {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file cannot be used: not a database, or a table of ours is missing.
    #[error("database {path} is not usable: {reason}")]
    Unusable {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A table owned by another system lacks columns this query needs.
    #[error("table {table} lacks the columns {}", missing.join(", "))]
    Incompatible {
        /// The table.
        table: String,
        /// The columns that are missing.
        missing: Vec<String>,
    },
    /// Any other SQLite error.
    #[error("sqlite error on {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
}

impl QueryError {
    /// Whether the database is unavailable (missing, busy or unusable) rather than broken by us.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Missing { .. } | Self::Busy { .. } | Self::Unusable { .. }
        )
    }
}

/// Result alias of the query functions.
pub type QueryResult<T> = std::result::Result<T, QueryError>;

/// A read connection to an existing gateway database.
pub struct Reader {
    pub(crate) conn: Connection,
    path: PathBuf,
    /// Device and inode of the file this connection opened.
    identity: Option<(u64, u64)>,
}

/// Device and inode of the file at `path`, if there is one.
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("path", &self.path).finish()
    }
}

impl Reader {
    /// Opens an existing database; a missing file is [`QueryError::Missing`], never created.
    /// Statements wait at most `busy_timeout` for a lock held elsewhere.
    pub fn open(path: impl AsRef<Path>, busy_timeout: Duration) -> QueryResult<Self> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(QueryError::Missing { path });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let before = identity(&path);
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| classify(&path, e))?;
        // A file swapped while opening has no single identity: the next check reopens.
        let identity = before.filter(|id| identity(&path) == Some(*id));
        let reader = Self {
            conn,
            path,
            identity,
        };
        reader
            .conn
            .busy_timeout(busy_timeout)
            .map_err(|e| reader.err(e))?;
        reader
            .conn
            .execute_batch("PRAGMA query_only = ON;")
            .map_err(|e| reader.err(e))?;
        // `query_only` stops statements, not the checkpoint SQLite runs when the last
        // connection to a file closes. A file moved over the path while the writer still has
        // the old one open finds the old file's `-wal` and `-shm` at the path until the writer
        // notices; a reader opened in that window would, on closing, copy the other file's log
        // into this one. A reader never writes the file, closing included.
        reader
            .conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(|e| reader.err(e))?;
        Ok(reader)
    }

    /// Whether the file at the path is still the one this connection opened (not deleted,
    /// moved away or replaced by a rename). A pooled connection that is not must be reopened:
    /// it would go on reading the old file.
    pub fn is_current(&self) -> bool {
        self.identity.is_some() && identity(&self.path) == self.identity
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that the file is still there and is a gateway database with a `traces` table.
    pub fn check(&self) -> QueryResult<()> {
        if !self.path.is_file() {
            return Err(QueryError::Missing {
                path: self.path.clone(),
            });
        }
        if !self.has_table("traces")? {
            return Err(QueryError::Unusable {
                path: self.path.clone(),
                reason: "no traces table (the gateway has not initialized it)".into(),
            });
        }
        Ok(())
    }

    /// Whether a table exists.
    pub(crate) fn has_table(&self, name: &str) -> QueryResult<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
            .map_err(|e| self.err(e))?;
        stmt.exists([name]).map_err(|e| self.err(e))
    }

    /// Where the few spans named by lookups are read: `span_lookup` (migration 12), or `spans`
    /// in a file the gateway has not migrated yet (an `api` started before it), whose lookup
    /// indexes are still on `spans` with the same `WHERE`s.
    pub(crate) fn lookup_table(&self) -> QueryResult<&'static str> {
        Ok(if self.has_table("span_lookup")? {
            "span_lookup"
        } else {
            "spans"
        })
    }

    /// Maps a rusqlite error to the query error that says what callers can do.
    pub(crate) fn err(&self, e: rusqlite::Error) -> QueryError {
        classify(&self.path, e)
    }
}

pub(crate) fn classify(path: &Path, e: rusqlite::Error) -> QueryError {
    let path = path.to_path_buf();
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return QueryError::Busy { path, source: e };
            }
            ErrorCode::NotADatabase | ErrorCode::CannotOpen | ErrorCode::DatabaseCorrupt => {
                return QueryError::Unusable {
                    path,
                    reason: e.to_string(),
                };
            }
            _ => {}
        }
        if let Some(m) = msg.as_deref().filter(|m| m.starts_with("no such table")) {
            return QueryError::Unusable {
                path,
                reason: m.to_owned(),
            };
        }
    }
    QueryError::Sqlite { path, source: e }
}
