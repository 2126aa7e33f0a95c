//! SQLite persistence for gateway spans.
//!
//! Two pieces, split the way OpenTelemetry splits them:
//! - [`SqliteSpanExporter`], an `opentelemetry_sdk` [`SpanExporter`](opentelemetry_sdk::trace::SpanExporter)
//!   that writes each batch in one rusqlite transaction (spans, plus a trace summary row for every
//!   gateway root span);
//! - [`BoundedBatchProcessor`], a span processor with a bounded queue and one writer thread. A full
//!   queue drops the span and counts it: the request path never waits on the disk.

mod convert;
mod exporter;
mod processor;

pub use convert::{attributes_json, span_row, trace_row};
pub use exporter::SqliteSpanExporter;
pub use processor::{BatchConfig, BoundedBatchProcessor, ExportStats};
