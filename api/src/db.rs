//! A small pool of read connections, used from the blocking thread pool.
//!
//! Every query runs in `spawn_blocking` on a pooled [`Reader`], so SQLite never blocks the
//! async runtime. A semaphore bounds concurrent queries; idle connections are reused, and a
//! connection that saw an error is dropped rather than returned.

use crate::error::AppError;
use gateway_store::query::{QueryResult, Reader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Concurrent queries at most (the machine is small; SQLite reads are CPU-bound).
const MAX_CONCURRENT: usize = 8;

/// The read pool of one database file.
#[derive(Debug)]
pub struct Db {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Reader>>,
    permits: Semaphore,
}

impl Db {
    /// A pool for `path`; nothing is opened until the first query.
    pub fn new(path: PathBuf, busy_timeout: Duration) -> Self {
        Self {
            path,
            busy_timeout,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(MAX_CONCURRENT),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled connection on the blocking pool.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> QueryResult<T> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || db.run_blocking(f))
            .await
            .map_err(|e| AppError::Internal(format!("query task failed: {e}")))?
            .map_err(AppError::from)
    }

    /// Runs `f` on a pooled connection on the current thread.
    pub fn run_blocking<T>(&self, f: impl FnOnce(&Reader) -> QueryResult<T>) -> QueryResult<T> {
        // A pooled connection keeps reading a deleted or replaced file: one whose file is no
        // longer the one at the path is dropped and the path opened again.
        let reader = match self.idle.lock().ok().and_then(|mut v| v.pop()) {
            Some(r) if r.is_current() => r,
            _ => Reader::open(&self.path, self.busy_timeout)?,
        };
        reader.check()?;
        let out = f(&reader);
        if out.is_ok()
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_CONCURRENT
        {
            idle.push(reader);
        }
        out
    }
}
