//! The OpenTelemetry pipeline: tracer provider, time-ordered ids, and the SQLite processor.

use gateway_sqlite::{BatchConfig, BoundedBatchProcessor, ExportStats, SqliteSpanExporter};
use gateway_store::StoreOptions;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{IdGenerator, Sampler, SdkTracer, SdkTracerProvider};
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{OtlpConfig, StorageConfig};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SpanExporter as _;

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
    /// Counters of the OTLP exporter, when configured.
    pub otlp_stats: Option<Arc<ExportStats>>,
    /// The meter provider feeding OTLP metrics, when configured.
    pub meters: Option<SdkMeterProvider>,
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_service_name("gemini-gateway")
        .build()
}

impl Telemetry {
    /// Opens the database and starts the writer thread (unless `sqlite` is off), and the
    /// OTLP exporter with its own queue when `otlp` is set.
    pub fn start(
        storage: &StorageConfig,
        sqlite: bool,
        otlp: Option<&OtlpConfig>,
    ) -> anyhow::Result<Self> {
        let mut builder = SdkTracerProvider::builder();
        let mut sqlite_stats = Arc::new(ExportStats::default());
        if sqlite {
            let (processor, stats) = Self::sqlite_processor(storage)?;
            sqlite_stats = stats;
            builder = builder.with_span_processor(processor);
        }
        let mut otlp_stats = None;
        let mut meters = None;
        if let Some(otlp) = otlp {
            let (processor, stats) = Self::otlp_processor(otlp)?;
            otlp_stats = Some(stats);
            builder = builder.with_span_processor(processor);
            meters = Some(Self::otlp_meters(otlp)?);
        }
        let provider = builder
            .with_max_attributes_per_span(crate::headers::MAX_SPAN_ATTRIBUTES)
            .with_id_generator(TimeOrderedIds)
            .with_sampler(Sampler::AlwaysOn)
            .with_resource(resource())
            .build();
        let tracer = provider.tracer("gemini-gateway");
        Ok(Self {
            provider,
            tracer,
            sqlite_stats,
            otlp_stats,
            meters,
        })
    }

    fn otlp_processor(
        otlp: &OtlpConfig,
    ) -> anyhow::Result<(BoundedBatchProcessor, Arc<ExportStats>)> {
        let mut b = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", otlp.endpoint.trim_end_matches('/')))
            .with_timeout(Duration::from_millis(otlp.timeout_ms))
            .with_headers(otlp.headers.clone());
        if otlp.gzip {
            b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
        }
        let mut exporter = b.build()?;
        exporter.set_resource(&resource());
        let processor = BoundedBatchProcessor::new(
            exporter,
            BatchConfig {
                queue_capacity: otlp.queue_capacity,
                max_batch: 512,
                linger: Duration::from_millis(200),
                name: "otlp-exporter".into(),
                background: true,
            },
        )?;
        let stats = processor.stats();
        Ok((processor, stats))
    }

    fn otlp_meters(otlp: &OtlpConfig) -> anyhow::Result<SdkMeterProvider> {
        let mut b = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_endpoint(format!(
                "{}/v1/metrics",
                otlp.endpoint.trim_end_matches('/')
            ))
            .with_timeout(Duration::from_millis(otlp.timeout_ms))
            .with_headers(otlp.headers.clone());
        if otlp.gzip {
            b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
        }
        let reader = PeriodicReader::builder(b.build()?)
            .with_interval(Duration::from_millis(otlp.metrics_interval_ms))
            .build();
        Ok(SdkMeterProvider::builder()
            .with_reader(reader)
            .with_resource(resource())
            .build())
    }

    fn sqlite_processor(
        storage: &StorageConfig,
    ) -> anyhow::Result<(BoundedBatchProcessor, Arc<ExportStats>)> {
        let exporter = SqliteSpanExporter::open_or_retry(
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
                background: true,
            },
        )?;
        tracing::debug!(
            background = processor.background_priority(),
            "SQLite writer started; background priority while it keeps up."
        );
        let stats = processor.stats();
        Ok((processor, stats))
    }

    /// Flushes every queued span and metric and stops the exporters.
    pub fn shutdown(&self) {
        if let Some(m) = &self.meters
            && let Err(error) = m.shutdown()
        {
            tracing::warn!(%error, "Metrics exporter shutdown failed.");
        }
        if let Err(error) = self.provider.shutdown_with_timeout(Duration::from_secs(30)) {
            tracing::error!(%error, "Span pipeline shutdown failed.");
        }
    }
}
