//! The `SpanExporter` that writes to SQLite, and keeps trying while the file cannot be written.
//!
//! A database that is read-only, on a full or read-only file system, or briefly impossible to
//! open must not stop the gateway: batches that cannot be written fail (the processor drops and
//! counts them), and the file is opened again at most once per [`REOPEN_EVERY`] until writing
//! works. Only a file that is not ours to write (another schema) is refused at start.

use crate::convert::{metric_rows, span_row, trace_row};
use gateway_store::{Store, StoreOptions};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Shortest time between two attempts to open a database that could not be written.
pub const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Writes span batches (and trace summary rows) into the gateway database.
///
/// `export` is synchronous rusqlite work: run it from a dedicated thread, as
/// [`BoundedBatchProcessor`](crate::BoundedBatchProcessor) does, never on an async runtime.
#[derive(Debug)]
pub struct SqliteSpanExporter {
    state: Mutex<State>,
    is_shutdown: AtomicBool,
}

#[derive(Debug)]
struct State {
    store: Option<Store>,
    path: PathBuf,
    opts: StoreOptions,
    last_attempt: Instant,
}

impl SqliteSpanExporter {
    /// Opens (and migrates) the database at `path`; any failure is an error.
    pub fn open(path: impl AsRef<Path>, opts: &StoreOptions) -> gateway_store::Result<Self> {
        Ok(Self::new(Store::open(path, opts)?))
    }

    /// Opens the database at `path` if it can; when the failure may clear (read-only, locked,
    /// full, missing directory), returns an exporter that keeps trying. Errors only for a file
    /// that is not ours to write.
    pub fn open_or_retry(
        path: impl AsRef<Path>,
        opts: &StoreOptions,
    ) -> gateway_store::Result<Self> {
        let opened = Store::open(&path, opts);
        let state = |store| State {
            store,
            path: path.as_ref().to_path_buf(),
            opts: opts.clone(),
            last_attempt: Instant::now(),
        };
        match opened {
            Ok(store) => Ok(Self::with_state(state(Some(store)))),
            Err(error) if error.is_transient() => {
                tracing::error!(
                    %error,
                    "The database cannot be written now. Requests still flow; their spans are \
                     dropped and counted until it can, and opening is retried every second."
                );
                Ok(Self::with_state(state(None)))
            }
            Err(error) => Err(error),
        }
    }

    /// Wraps an open store (opened again with default options if it is ever lost).
    pub fn new(store: Store) -> Self {
        Self::with_state(State {
            path: store.path().to_path_buf(),
            store: Some(store),
            opts: StoreOptions::default(),
            last_attempt: Instant::now(),
        })
    }

    fn with_state(state: State) -> Self {
        Self {
            state: Mutex::new(state),
            is_shutdown: AtomicBool::new(false),
        }
    }

    /// Writes a batch now, on the calling thread.
    pub fn write(&self, batch: &[SpanData]) -> OTelSdkResult {
        if self.is_shutdown.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let spans: Vec<_> = batch.iter().map(span_row).collect();
        let traces: Vec<_> = batch.iter().filter_map(trace_row).collect();
        let mut metrics = Vec::new();
        for span in batch {
            metric_rows(span, &mut metrics);
        }
        let mut state = self
            .state
            .lock()
            .map_err(|_| OTelSdkError::InternalFailure("store mutex poisoned".into()))?;
        let store = state.store()?;
        let result = store.write_all(&spans, &traces, &metrics);
        result.map_err(|e| {
            if e.needs_reopen() {
                state.store = None;
            }
            OTelSdkError::InternalFailure(e.to_string())
        })
    }
}

impl State {
    /// The open store, opening it again when it was lost and the last attempt is old enough.
    fn store(&mut self) -> Result<&mut Store, OTelSdkError> {
        if self.store.is_none() {
            if self.last_attempt.elapsed() < REOPEN_EVERY {
                return Err(OTelSdkError::InternalFailure(format!(
                    "database {} is not writable; retrying",
                    self.path.display()
                )));
            }
            self.last_attempt = Instant::now();
            match Store::open(&self.path, &self.opts) {
                Ok(store) => {
                    tracing::info!(path = %self.path.display(), "The database is writable again.");
                    self.store = Some(store);
                }
                Err(e) => return Err(OTelSdkError::InternalFailure(format!("{e}; retrying"))),
            }
        }
        self.store
            .as_mut()
            .ok_or_else(|| OTelSdkError::InternalFailure("no store".into()))
    }
}

impl SpanExporter for SqliteSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.write(&batch)
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        if self.is_shutdown.swap(true, Ordering::AcqRel) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        Ok(())
    }
}
