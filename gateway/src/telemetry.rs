//! The OpenTelemetry pipeline: tracer provider, time-ordered ids, the SQLite processor, the
//! GenAI naming generation in force (`[telemetry] semconv`), and the path by which the API's
//! OTLP receiver hands the application's spans to the same SQLite writer.

use gateway_config::Semconv;
use gateway_plugin_sdk::semconv as sc;
use gateway_sqlite::{BatchConfig, BoundedBatchProcessor, ExportStats, SqliteSpanExporter};
use gateway_store::StoreOptions;
use opentelemetry::InstrumentationScope;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{IdGenerator, Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};
use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{OtlpConfig, StorageConfig};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SpanExporter as _;

static SEMCONV: AtomicU8 = AtomicU8::new(2);

/// Sets the GenAI naming generation (`[telemetry] semconv`); call before [`Telemetry::start`].
/// Restart-only: spans and instruments are named once.
pub fn set_semconv(mode: Semconv) {
    let v = match mode {
        Semconv::V141 => 0,
        Semconv::Latest => 1,
        Semconv::Both => 2,
    };
    SEMCONV.store(v, Ordering::Relaxed);
}

/// The GenAI naming generation in force (default `both`).
pub fn semconv() -> Semconv {
    match SEMCONV.load(Ordering::Relaxed) {
        0 => Semconv::V141,
        1 => Semconv::Latest,
        _ => Semconv::Both,
    }
}

/// The instrumentation scope of the gateway's spans, with the schema URL of the generation
/// in force (`both` declares v1.41, the released one its names are a superset of).
fn scope() -> InstrumentationScope {
    let url = if semconv().v141() {
        sc::V141_SCHEMA_URL
    } else {
        sc::LATEST_SCHEMA_URL
    };
    InstrumentationScope::builder("gemini-gateway")
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(url)
        .build()
}

/// The SQLite processor, shared between the tracer provider and the OTLP receiver.
#[derive(Debug, Clone)]
struct Shared(Arc<BoundedBatchProcessor>);

impl SpanProcessor for Shared {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }
    fn on_end(&self, span: SpanData) {
        crate::metrics::count_unpriced(&span);
        self.0.on_end(span);
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
}

/// The application's spans (from `POST /v1/traces`) into the gateway's SQLite writer. They may
/// fill at most half of its queue, so the proxy's own spans always find room.
struct Ingest {
    processor: Arc<BoundedBatchProcessor>,
    stats: Arc<ExportStats>,
    limit: usize,
}

impl gateway_api::otlp::SpanSink for Ingest {
    fn room(&self) -> usize {
        self.limit
            .saturating_sub(usize::try_from(self.stats.queue_depth()).unwrap_or(usize::MAX))
    }

    fn submit(&self, spans: Vec<SpanData>) -> usize {
        let before = self.stats.dropped_queue_full.load(Ordering::Relaxed);
        for s in spans {
            self.processor.on_end(s);
        }
        let after = self.stats.dropped_queue_full.load(Ordering::Relaxed);
        usize::try_from(after.saturating_sub(before)).unwrap_or(usize::MAX)
    }
}

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

/// Bytes of span data (as `gateway_sqlite::span_bytes` estimates them) that the span queues
/// hold together, at most: two queues of [`gateway_sqlite::QUEUE_BYTES`]. With OTLP export on,
/// the SQLite writer's queue and the exporter's get half each; with SQLite alone (the shipped
/// configuration) its queue gets all of it, about 26,000 of the gateway's spans, half a second
/// of traffic at 13,000 requests/s, for the same bound on memory (docs/faults.md, *Memory
/// bounds*).
pub const SPAN_QUEUES_BYTES: u64 = 2 * gateway_sqlite::QUEUE_BYTES;

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
        let queues = u64::from(sqlite) + u64::from(otlp.is_some());
        let queue_bytes = SPAN_QUEUES_BYTES / queues.max(1);
        if sqlite {
            let (processor, stats) = Self::sqlite_processor(storage, queue_bytes)?;
            let processor = Arc::new(processor);
            gateway_api::otlp::install(
                &storage.path,
                Arc::new(Ingest {
                    processor: processor.clone(),
                    stats: stats.clone(),
                    limit: storage.queue_capacity / 2,
                }),
            );
            sqlite_stats = stats;
            builder = builder.with_span_processor(Shared(processor));
        }
        let mut otlp_stats = None;
        let mut meters = None;
        if let Some(otlp) = otlp {
            let (processor, stats) = Self::otlp_processor(otlp, queue_bytes)?;
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
        let tracer = provider.tracer_with_scope(scope());
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
        queue_bytes: u64,
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
        let processor = BoundedBatchProcessor::with_queue_bytes(
            exporter,
            BatchConfig {
                queue_capacity: otlp.queue_capacity,
                max_batch: 512,
                linger: Duration::from_millis(200),
                name: "otlp-exporter".into(),
                background: true,
            },
            queue_bytes,
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
        queue_bytes: u64,
    ) -> anyhow::Result<(BoundedBatchProcessor, Arc<ExportStats>)> {
        let exporter = SqliteSpanExporter::open_or_retry(
            &storage.path,
            &StoreOptions {
                busy_timeout: Duration::from_millis(storage.busy_timeout_ms),
            },
        )?;
        let processor = BoundedBatchProcessor::with_queue_bytes(
            exporter,
            BatchConfig {
                queue_capacity: storage.queue_capacity,
                max_batch: storage.max_batch,
                linger: Duration::from_millis(storage.linger_ms),
                name: "sqlite-writer".into(),
                background: true,
            },
            queue_bytes,
        )?;
        tracing::debug!(
            background = processor.background_priority(),
            queue_mib = queue_bytes >> 20,
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
