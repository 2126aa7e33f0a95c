//! The OpenTelemetry pipeline: tracer provider, time-ordered ids, and the SQLite processor.

use gateway_sqlite::{BatchConfig, BoundedBatchProcessor, ExportStats, SqliteSpanExporter};
use gateway_store::StoreOptions;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{IdGenerator, Sampler, SdkTracer, SdkTracerProvider};
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::StorageConfig;

/// Trace ids whose first 48 bits are the Unix time in milliseconds (the rest random), so that
/// ids sort by time and inserts into the `traces` primary key stay at the end of the B-tree.
/// 80 random bits remain, plenty for uniqueness.
#[derive(Debug, Default)]
pub struct TimeOrderedIds;

impl IdGenerator for TimeOrderedIds {
    fn new_trace_id(&self) -> TraceId {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let random: u128 = rand::rng().random();
        let id = ((ms as u128 & 0xFFFF_FFFF_FFFF) << 80) | (random & ((1u128 << 80) - 1));
        TraceId::from(if id == 0 { 1 } else { id })
    }

    fn new_span_id(&self) -> SpanId {
        let mut id: u64 = rand::rng().random();
        if id == 0 {
            id = 1;
        }
        SpanId::from(id)
    }
}

/// The running pipeline.
pub struct Telemetry {
    /// Provider; shut it down to flush.
    pub provider: SdkTracerProvider,
    /// The tracer used by the proxy.
    pub tracer: SdkTracer,
    /// Counters of the SQLite writer.
    pub sqlite_stats: Arc<ExportStats>,
}

impl Telemetry {
    /// Opens the database and starts the writer thread (unless `sqlite` is off).
    pub fn start(storage: &StorageConfig, sqlite: bool) -> anyhow::Result<Self> {
        let mut builder = SdkTracerProvider::builder();
        let mut sqlite_stats = Arc::new(ExportStats::default());
        if sqlite {
            let (processor, stats) = Self::sqlite_processor(storage)?;
            sqlite_stats = stats;
            builder = builder.with_span_processor(processor);
        }
        let provider = builder
            .with_id_generator(TimeOrderedIds)
            .with_sampler(Sampler::AlwaysOn)
            .with_resource(
                Resource::builder_empty()
                    .with_service_name("gemini-gateway")
                    .build(),
            )
            .build();
        let tracer = provider.tracer("gemini-gateway");
        Ok(Self {
            provider,
            tracer,
            sqlite_stats,
        })
    }

    fn sqlite_processor(
        storage: &StorageConfig,
    ) -> anyhow::Result<(BoundedBatchProcessor, Arc<ExportStats>)> {
        let exporter = SqliteSpanExporter::open(
            &storage.path,
            &StoreOptions {
                busy_timeout: Duration::from_millis(storage.busy_timeout_ms),
            },
        )?;
        let processor = BoundedBatchProcessor::new(
            exporter,
            BatchConfig {
                queue_capacity: storage.queue_capacity,
                max_batch: storage.max_batch,
                linger: Duration::from_millis(storage.linger_ms),
                name: "sqlite-writer".into(),
            },
        )?;
        let stats = processor.stats();
        Ok((processor, stats))
    }

    /// Flushes every queued span and stops the writer.
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown_with_timeout(Duration::from_secs(30)) {
            tracing::error!(%error, "Span pipeline shutdown failed.");
        }
    }
}
