//! SQLite persistence for gateway spans.
//!
//! Two pieces, split the way OpenTelemetry splits them:
//! - [`SqliteSpanExporter`], an `opentelemetry_sdk` [`SpanExporter`](opentelemetry_sdk::trace::SpanExporter)
//!   that writes each batch in one rusqlite transaction (spans, plus a trace summary row for every
//!   gateway root span);
//! - [`BoundedBatchProcessor`], a span processor with a bounded queue and one writer thread. A full
//!   queue drops the span and counts it: the request path never waits on the disk.
//!
//! [`ExportStats`] counts every span as exported or dropped (by reason) and tells whether the
//! pipeline is healthy. The exporter notices a database file deleted, moved or replaced under it
//! (see `identity.rs`) and follows the path.

mod affinity;
mod convert;
mod exporter;
mod identity;
mod priority;
mod processor;
mod stats;

pub use convert::{
    METRIC_EVENT, METRIC_LLM_SPAN_ID, attributes_json, is_unpriced_root, metric_rows, span_hex,
    span_row, trace_hex, trace_row,
};
pub use exporter::{CHECK_EVERY, REOPEN_EVERY, SqliteSpanExporter};
pub use processor::{BATCH_BYTES, BatchConfig, BoundedBatchProcessor, QUEUE_BYTES, span_bytes};
pub use stats::{ExportStats, RECENT_DROPS};

/// The SQLite persistence plugin as it appears among the span plugins.
///
/// Persistence does its work off the request path, in [`SqliteSpanExporter`] on the writer
/// thread; this entry registers it with the plugin host beside the other built-ins, so that it is
/// listed, measured and switched off (`[builtins] sqlite = false`) the same way. Its hooks add
/// nothing to a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqlitePersistencePlugin;

impl gateway_plugin_sdk::SpanPlugin for SqlitePersistencePlugin {
    fn name(&self) -> &str {
        "sqlite"
    }
}
