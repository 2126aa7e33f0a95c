//! The `SpanExporter` that writes to SQLite, keeps trying while the file cannot be written, and
//! follows the path when the file is deleted, moved or replaced.
//!
//! A database that is read-only, on a full or read-only file system, or briefly impossible to
//! open must not stop the gateway: batches that cannot be written fail (the processor drops and
//! counts them), and the file is opened again at most once per [`REOPEN_EVERY`] until writing
//! works. Only a file that is not ours to write (another schema) is refused at start; met later
//! (a foreign file moved over the path), it is retried like an unwritable one.
//!
//! The file itself is checked too ([`crate::identity`]): after every commit one `stat` tells
//! whether the path still names the file the batch went into, and before a batch when the last
//! check is older than [`CHECK_EVERY`] (an idle writer). When it does not, the old connection is
//! retired (a passive checkpoint into the old file, its `-wal` and `-shm` removed from the
//! path), the path is opened at once (a missing file is created and migrated), and a batch that
//! went into the old file is written again into the new one unless it is already there. A batch
//! that cannot be is lost: the error says so, and the processor counts it as
//! [`dropped_file_replaced`](crate::ExportStats::dropped_file_replaced). The rows the writer
//! had already written into the old file and that the new one does not hold (every row since
//! it opened the old file, less a copied prefix: see [`crate::identity::left_behind`]) are no
//! longer at the path: they are counted there too, with their traces and metric rows, so that
//! the spans in the file at the path plus the counted ones are every span written. Each step
//! is logged.

use crate::ExportStats;
use crate::convert::{metric_rows, span_row, trace_row};
use crate::identity::{AtPath, FileId, Identity, Left, Marks, left_behind};
use gateway_store::{MetricRow, SpanRow, Store, StoreOptions, TraceRow};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Spans converted to rows between two yields of the writing thread (about 0.1 ms of work).
const YIELD_EVERY: usize = 32;

/// Shortest time between two attempts to open a database that could not be written.
pub const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Longest time without checking that the path still names the open file, when idle (every
/// commit is checked anyway).
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How the error of a batch lost to a replaced file begins (see [`is_file_replaced`]).
const FILE_REPLACED: &str = "the database file was deleted, moved or replaced: ";

/// How the error of a batch refused because another connection held the write lock begins
/// (see [`is_busy`]).
const BUSY: &str = "the database is locked by another connection (past the busy timeout): ";

/// Whether `error` is a batch lost because it went into a file no longer at the path.
pub(crate) fn is_file_replaced(error: &OTelSdkError) -> bool {
    matches!(error, OTelSdkError::InternalFailure(m) if m.starts_with(FILE_REPLACED))
}

/// Whether `error` is a batch refused, with nothing of it written, because another connection
/// held the database's write lock for longer than the busy timeout: writing it again later
/// can succeed.
pub(crate) fn is_busy(error: &OTelSdkError) -> bool {
    matches!(error, OTelSdkError::InternalFailure(m) if m.starts_with(BUSY))
}

/// Writes span batches (and trace summary rows) into the gateway database.
///
/// `export` is synchronous rusqlite work: run it from a dedicated thread, as
/// [`BoundedBatchProcessor`](crate::BoundedBatchProcessor) does, never on an async runtime.
#[derive(Debug)]
pub struct SqliteSpanExporter {
    state: Mutex<State>,
    is_shutdown: AtomicBool,
    /// Where rows left in a file no longer at the path are counted (see the module docs).
    losses: OnceLock<Arc<ExportStats>>,
}

/// An open store and the file it opened.
#[derive(Debug)]
struct Open {
    store: Store,
    id: Identity,
    /// Where this writer's rows begin in the file.
    marks: Marks,
}

#[derive(Debug)]
struct State {
    open: Option<Open>,
    path: PathBuf,
    opts: StoreOptions,
    last_attempt: Instant,
    last_check: Instant,
    /// Rows left in files no longer at the path, not counted yet.
    left: Left,
}

/// Opens the store and moves its WAL checkpoints off the writer thread
/// ([`Store::checkpoint_in_background`]); if that cannot start, SQLite's own automatic checkpoint
/// stays on and the writer works as before.
fn open_store(path: impl AsRef<Path>, opts: &StoreOptions) -> gateway_store::Result<Store> {
    let mut store = Store::open(path, opts)?;
    if let Err(error) = store.checkpoint_in_background_with(crate::affinity::follow_writers) {
        tracing::warn!(%error, "WAL checkpoints stay on the writer thread.");
    }
    Ok(store)
}

/// The rows of one batch.
pub(crate) struct Rows {
    spans: Vec<SpanRow>,
    traces: Vec<TraceRow>,
    metrics: Vec<MetricRow>,
}

impl Rows {
    fn with_capacity(spans: usize) -> Self {
        Self {
            spans: Vec::with_capacity(spans),
            traces: Vec::new(),
            metrics: Vec::new(),
        }
    }

    fn push(&mut self, span: &SpanData) {
        // A system call every YIELD_EVERY spans: a thread woken on this core gets it now
        // instead of at the next tick (see `gateway_store::Store::open`).
        if self.spans.len() % YIELD_EVERY == YIELD_EVERY - 1 {
            std::thread::yield_now();
        }
        self.spans.push(span_row(span));
        self.traces.extend(trace_row(span));
        metric_rows(span, &mut self.metrics);
    }

    fn of(batch: &[SpanData]) -> Self {
        let mut rows = Self::with_capacity(batch.len());
        batch.iter().for_each(|span| rows.push(span));
        rows
    }

    /// The rows of `batch`, which is left empty. Each span is freed as soon as it is
    /// converted, so that a batch's spans (several times the size of its rows) are not held
    /// while SQLite writes it, nor while a locked database makes the writer wait to write it
    /// again.
    pub(crate) fn take(batch: &mut Vec<SpanData>) -> Self {
        let spans = std::mem::take(batch);
        let mut rows = Self::with_capacity(spans.len());
        spans.into_iter().for_each(|span| rows.push(&span));
        rows
    }

    /// What is lost if these rows are not written: spans, traces, metric rows, breached ones.
    pub(crate) fn counts(&self) -> Left {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        Left {
            spans: n(self.spans.len()),
            traces: n(self.traces.len()),
            metric_rows: n(self.metrics.len()),
            breached_rows: n(self.metrics.iter().filter(|m| m.breached).count()),
        }
    }
}

impl SqliteSpanExporter {
    /// Opens (and migrates) the database at `path`; any failure is an error.
    pub fn open(path: impl AsRef<Path>, opts: &StoreOptions) -> gateway_store::Result<Self> {
        let store = open_store(&path, opts)?;
        Ok(Self::with_state(State::new(
            path.as_ref(),
            opts,
            Some(store),
        )))
    }

    /// Opens the database at `path` if it can; when the failure may clear (read-only, locked,
    /// full, missing directory), returns an exporter that keeps trying. Errors only for a file
    /// that is not ours to write.
    pub fn open_or_retry(
        path: impl AsRef<Path>,
        opts: &StoreOptions,
    ) -> gateway_store::Result<Self> {
        let store = match open_store(&path, opts) {
            Ok(store) => Some(store),
            Err(error) if error.is_transient() => {
                tracing::error!(
                    %error,
                    "The database cannot be written now. Requests still flow; their spans are \
                     dropped and counted until it can, and opening is retried every second."
                );
                None
            }
            Err(error) => return Err(error),
        };
        Ok(Self::with_state(State::new(path.as_ref(), opts, store)))
    }

    /// Wraps an open store (opened again with default options if it is ever lost).
    pub fn new(store: Store) -> Self {
        let path = store.path().to_path_buf();
        Self::with_state(State::new(&path, &StoreOptions::default(), Some(store)))
    }

    fn with_state(state: State) -> Self {
        Self {
            state: Mutex::new(state),
            is_shutdown: AtomicBool::new(false),
            losses: OnceLock::new(),
        }
    }

    /// Counts the rows left in a database file that is no longer at the path (deleted, moved
    /// or replaced) into `stats`: moved from `exported` to `dropped_file_replaced`, with their
    /// traces and metric rows. Without it they are logged only.
    pub fn count_losses_into(&self, stats: Arc<ExportStats>) {
        let _ = self.losses.set(stats);
    }

    /// Writes a batch now, on the calling thread.
    pub fn write(&self, batch: &[SpanData]) -> OTelSdkResult {
        self.write_rows(&Rows::of(batch))
    }

    /// Writes the rows of a batch ([`Rows::take`]); they are kept, to be written again after
    /// an error.
    pub(crate) fn write_rows(&self, rows: &Rows) -> OTelSdkResult {
        if self.is_shutdown.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let mut state = self
            .state
            .lock()
            .map_err(|_| OTelSdkError::InternalFailure("store mutex poisoned".into()))?;
        let result = state.write(rows);
        let left = std::mem::take(&mut state.left);
        drop(state);
        if !left.is_empty()
            && let Some(stats) = self.losses.get()
        {
            let add = |counter: &std::sync::atomic::AtomicU64, n| {
                counter.fetch_add(n, Ordering::Relaxed);
            };
            // Counted as exported when written: they move to the drops, so that every span
            // is still in exactly one counter.
            let _ = stats
                .exported
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(left.spans))
                });
            add(&stats.dropped_file_replaced, left.spans);
            add(&stats.dropped_traces, left.traces);
            add(&stats.dropped_metric_rows, left.metric_rows);
            add(&stats.dropped_breached_rows, left.breached_rows);
            stats.note_drop();
        }
        result
    }
}

impl Open {
    fn new(store: Store) -> Self {
        Self::opened(store, None)
    }

    /// An open store, given what the path named just before it was opened (see
    /// [`Identity::record_opened`]).
    fn opened(store: Store, before: Option<FileId>) -> Self {
        let id = Identity::record_opened(store.path(), before);
        let marks = Marks::of(store.connection());
        Self { store, id, marks }
    }

    /// Lets go of a file that is no longer at the path: what its log holds goes into it (so a
    /// moved file is whole), and its `-wal` and `-shm` leave the path before the path is opened
    /// again. The connection stays open (the caller counts what it leaves behind, then drops
    /// it).
    fn retire(&self, what: &str) {
        let checkpoint = self.store.checkpoint().err().map(|e| e.to_string());
        let removed = self.id.remove_stale_companions();
        tracing::error!(
            path = %self.store.path().display(),
            ?removed,
            ?checkpoint,
            "The database file was {what} while the gateway wrote to it. The path is opened \
             again (a missing file is created); a batch written into the old file is written \
             again into the new one, and the rows written into the old file that the new one \
             does not hold are counted as dropped (reason file_replaced)."
        );
    }

    /// Counts what this writer left in this (retired) file that `new` does not hold.
    fn left_behind(&self, new: Option<&Store>) -> Left {
        match left_behind(
            self.store.connection(),
            self.marks,
            new.map(Store::connection),
        ) {
            Ok(left) => {
                tracing::error!(
                    spans = left.spans,
                    traces = left.traces,
                    metric_rows = left.metric_rows,
                    "Rows written into the old database file and not in the file now at the \
                     path; counted as dropped (reason file_replaced)."
                );
                left
            }
            Err(error) => {
                tracing::error!(
                    %error,
                    "Cannot count the rows left in the old database file; they are not counted."
                );
                Left::default()
            }
        }
    }
}

impl State {
    fn new(path: &Path, opts: &StoreOptions, store: Option<Store>) -> Self {
        Self {
            open: store.map(Open::new),
            path: path.to_path_buf(),
            opts: opts.clone(),
            last_attempt: Instant::now(),
            last_check: Instant::now(),
            left: Left::default(),
        }
    }

    /// Writes a batch and makes sure it is in the file the path names.
    fn write(&mut self, rows: &Rows) -> OTelSdkResult {
        if self.last_check.elapsed() >= CHECK_EVERY {
            let _ = self.follow_path();
        }
        self.write_once(rows)?;
        let lost = |reason: String| {
            OTelSdkError::InternalFailure(format!(
                "{FILE_REPLACED}{} spans went into the old file and cannot be written into the \
                 file now at the path: {reason}",
                rows.spans.len()
            ))
        };
        // The batch went into the old file and was counted with what the old file holds:
        // written again into the new one, or lost (the processor counts it), it is not left
        // behind; found in the new one already, it was not counted.
        match self.follow_path() {
            Ok(true) => Ok(()),
            Ok(false) => match self.write_again(rows) {
                Ok(true) => Ok(()),
                Ok(false) => {
                    self.left.sub(rows.counts());
                    Ok(())
                }
                Err(reason) => {
                    self.left.sub(rows.counts());
                    Err(lost(reason))
                }
            },
            Err(reason) => {
                self.left.sub(rows.counts());
                Err(lost(reason))
            }
        }
    }

    fn write_once(&mut self, rows: &Rows) -> OTelSdkResult {
        let result = self
            .store()?
            .write_all(&rows.spans, &rows.traces, &rows.metrics);
        result.map_err(|e| {
            if e.needs_reopen() {
                self.open = None;
            }
            if e.is_busy() {
                return OTelSdkError::InternalFailure(format!("{BUSY}{e}"));
            }
            OTelSdkError::InternalFailure(e.to_string())
        })
    }

    /// Writes a batch that went into the old file into the new one, unless it is there already
    /// (a copy of the old file taken after the batch, moved over the path): `Ok(true)` when it
    /// was there.
    fn write_again(&mut self, rows: &Rows) -> Result<bool, String> {
        let Some(open) = self.open.as_mut() else {
            return Err("no file is open".into());
        };
        if let Some(first) = rows.spans.first()
            && open
                .store
                .contains_span(&first.trace_id, &first.span_id)
                .map_err(|e| e.to_string())?
        {
            return Ok(true);
        }
        let written = open
            .store
            .write_all(&rows.spans, &rows.traces, &rows.metrics);
        if let Err(e) = written {
            if e.needs_reopen() {
                self.open = None;
            }
            return Err(e.to_string());
        }
        match self.follow_path() {
            Ok(true) => Ok(false),
            _ => Err("the file at the path changed again".into()),
        }
    }

    /// Checks that the path still names the open file (one `stat`). When it does not, retires
    /// the connection and opens the path at once: `Ok(true)` when nothing changed (or nothing
    /// is open), `Ok(false)` when the path was opened again, `Err` with the reason when the file
    /// now at the path cannot be used (opening is then retried every [`REOPEN_EVERY`]).
    fn follow_path(&mut self) -> Result<bool, String> {
        self.last_check = Instant::now();
        let what = match self.open.as_ref().map(|o| o.id.at_path()) {
            None | Some(AtPath::Same) => return Ok(true),
            Some(AtPath::Deleted) => "deleted or moved away",
            Some(AtPath::Replaced) => "replaced by another file",
        };
        let old = self.open.take();
        if let Some(old) = &old {
            old.retire(what);
        }
        self.last_attempt = Instant::now();
        let before = FileId::of(&self.path).ok();
        let opened = open_store(&self.path, &self.opts);
        // The old connection is dropped only once what it left behind is counted.
        if let Some(old) = old {
            let left = old.left_behind(opened.as_ref().ok());
            self.left.add(left);
        }
        match opened {
            Ok(store) => {
                tracing::warn!(
                    path = %self.path.display(),
                    "Spans are now written to the database file at the path."
                );
                self.open = Some(Open::opened(store, before));
                Ok(false)
            }
            Err(error) => {
                tracing::error!(
                    %error,
                    "The file now at the database path cannot be used. Spans are dropped and \
                     counted, and opening is retried every second."
                );
                Err(error.to_string())
            }
        }
    }

    /// The open store, opening it again when it was lost and the last attempt is old enough.
    fn store(&mut self) -> Result<&mut Store, OTelSdkError> {
        if self.open.is_none() {
            if self.last_attempt.elapsed() < REOPEN_EVERY {
                return Err(OTelSdkError::InternalFailure(format!(
                    "database {} is not writable; retrying",
                    self.path.display()
                )));
            }
            self.last_attempt = Instant::now();
            let before = FileId::of(&self.path).ok();
            match open_store(&self.path, &self.opts) {
                Ok(store) => {
                    tracing::info!(path = %self.path.display(), "The database is writable again.");
                    self.open = Some(Open::opened(store, before));
                    self.last_check = Instant::now();
                }
                Err(e) => return Err(OTelSdkError::InternalFailure(format!("{e}; retrying"))),
            }
        }
        self.open
            .as_mut()
            .map(|o| &mut o.store)
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

#[cfg(test)]
#[path = "exporter_tests.rs"]
mod tests;
