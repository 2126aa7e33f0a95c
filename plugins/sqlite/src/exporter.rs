//! The `SpanExporter` that writes to SQLite.

use crate::convert::{metric_rows, span_row, trace_row};
use gateway_store::{Store, StoreOptions};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Writes span batches (and trace summary rows) into the gateway database.
///
/// `export` is synchronous rusqlite work: run it from a dedicated thread, as
/// [`BoundedBatchProcessor`](crate::BoundedBatchProcessor) does, never on an async runtime.
#[derive(Debug)]
pub struct SqliteSpanExporter {
    store: Mutex<Store>,
    is_shutdown: AtomicBool,
}

impl SqliteSpanExporter {
    /// Opens (and migrates) the database at `path`.
    pub fn open(path: impl AsRef<Path>, opts: &StoreOptions) -> gateway_store::Result<Self> {
        Ok(Self::new(Store::open(path, opts)?))
    }

    /// Wraps an open store.
    pub fn new(store: Store) -> Self {
        Self {
            store: Mutex::new(store),
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
        let mut store = self
            .store
            .lock()
            .map_err(|_| OTelSdkError::InternalFailure("store mutex poisoned".into()))?;
        store
            .write_all(&spans, &traces, &metrics)
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
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
