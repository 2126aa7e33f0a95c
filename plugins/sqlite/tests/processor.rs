//! The bounded processor and the SQLite exporter against real files: drops are counted (with
//! the traces they carried), a locked database delays batches without losing them (only a
//! shutdown under a lock that never ends loses one, counted), shutdown flushes everything.

#![allow(clippy::unwrap_used)]

use gateway_sqlite::{BatchConfig, BoundedBatchProcessor, SqliteSpanExporter};
use gateway_store::StoreOptions;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, SpanKind, Tracer, TracerProvider};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use rusqlite::Connection;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn provider(processor: BoundedBatchProcessor) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build()
}

fn emit(provider: &SdkTracerProvider, n: usize) {
    let tracer = provider.tracer("test");
    for i in 0..n {
        let mut span = tracer
            .span_builder(format!("s{i}"))
            .with_kind(SpanKind::Server)
            .with_attributes(vec![
                KeyValue::new("gateway.status", "ok"),
                KeyValue::new("gen_ai.request.model", "m"),
            ])
            .start(&tracer);
        span.end();
    }
}

fn count(path: &std::path::Path, table: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn shutdown_writes_every_queued_span() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let exporter = SqliteSpanExporter::open(&path, &StoreOptions::default()).unwrap();
    let processor = BoundedBatchProcessor::new(
        exporter,
        BatchConfig {
            linger: Duration::from_secs(60),
            ..BatchConfig::default()
        },
    )
    .unwrap();
    let stats = processor.stats();
    let p = provider(processor);
    emit(&p, 500);
    p.shutdown().unwrap();
    assert_eq!(count(&path, "spans"), 500);
    assert_eq!(
        count(&path, "traces"),
        500,
        "root SERVER spans with gateway.status become trace rows"
    );
    assert_eq!(stats.exported.load(Ordering::Relaxed), 500);
    assert_eq!(stats.dropped(), 0);
}

/// The writer lingers without being woken by each span; a full batch, a queue half full and a
/// flush wake it before its (ten-minute) deadline.
#[test]
fn a_lingering_writer_is_woken_by_a_full_batch_a_half_full_queue_and_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str, max_batch: usize, queue_capacity: usize| {
        let path = dir.path().join(name);
        let exporter = SqliteSpanExporter::open(&path, &StoreOptions::default()).unwrap();
        let processor = BoundedBatchProcessor::new(
            exporter,
            BatchConfig {
                linger: Duration::from_secs(600),
                max_batch,
                queue_capacity,
                ..BatchConfig::default()
            },
        )
        .unwrap();
        let stats = processor.stats();
        (path, stats, provider(processor))
    };
    // A full batch of 8: the first span starts the batch, 8 more fill the queue to it.
    let (path, stats, p) = open("batch.db", 8, 4096);
    emit(&p, 9);
    wait_until("a full batch written", || count(&path, "spans") >= 8);
    // A 16-span queue: the writer takes a batch's first span, then sleeps; 8 more (half the
    // queue) wake it, and it takes them into its batch, which waits for its deadline (or a
    // flush).
    let (path, small, q) = open("queue.db", 4096, 16);
    emit(&q, 1);
    wait_until("the first span taken", || small.queue_depth() == 0);
    emit(&q, 8);
    wait_until("the queue drained", || small.queue_depth() == 0);
    assert_eq!(small.dropped(), 0);
    q.force_flush().unwrap();
    assert_eq!(count(&path, "spans"), 9);
    // A flush returns with everything written, long before the linger ends.
    emit(&p, 3);
    p.force_flush().unwrap();
    assert_eq!(count(&dir.path().join("batch.db"), "spans"), 12);
    assert_eq!(stats.dropped(), 0);
}

/// A writer stuck until the test opens its gate (an event, not a speed).
#[derive(Debug, Default)]
struct Gate {
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }
}

#[derive(Debug)]
struct Slow(Arc<std::sync::atomic::AtomicU64>, Arc<Gate>);

impl SpanExporter for Slow {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.1.wait();
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn a_full_queue_drops_and_counts_never_blocks() {
    let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let gate = Arc::new(Gate::default());
    let processor = BoundedBatchProcessor::new(
        Slow(written.clone(), gate.clone()),
        BatchConfig {
            queue_capacity: 16,
            max_batch: 4,
            linger: Duration::ZERO,
            ..BatchConfig::default()
        },
    )
    .unwrap();
    let stats = processor.stats();
    let p = provider(processor);
    // The writer is stuck on its first batch while all 1000 spans arrive: at most the queue
    // (16) and the batch in hand fit, the rest must be dropped.
    emit(&p, 1_000);
    gate.open();
    p.shutdown().unwrap();
    let dropped = stats.dropped_queue_full.load(Ordering::Relaxed);
    assert_eq!(
        stats.dropped_traces.load(Ordering::Relaxed),
        dropped,
        "every span here is a request's root: each drop loses a trace"
    );
    assert!(
        dropped > 0,
        "1000 spans into a queue of 16 behind a stuck writer must drop some"
    );
    assert_eq!(
        written.load(Ordering::Relaxed) + dropped,
        1_000,
        "every span is written or counted"
    );
}

/// Waits (a bound on the wait only) until `done` holds.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "waited for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_locked_database_keeps_the_batch_and_writes_it_once_the_lock_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let exporter = SqliteSpanExporter::open(
        &path,
        &StoreOptions {
            busy_timeout: Duration::from_millis(50),
        },
    )
    .unwrap();
    let processor = BoundedBatchProcessor::new(
        exporter,
        BatchConfig {
            linger: Duration::ZERO,
            ..BatchConfig::default()
        },
    )
    .unwrap();
    let stats = processor.stats();
    let p = provider(processor);

    let locker = Connection::open(&path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    emit(&p, 10);
    wait_until("a refused write", || {
        stats.busy_retries.load(Ordering::Relaxed) >= 2
    });
    assert_eq!(count(&path, "spans"), 0, "nothing written while locked");
    emit(&p, 7);
    locker.execute_batch("COMMIT").unwrap();
    p.force_flush().unwrap();
    assert_eq!(
        count(&path, "spans"),
        17,
        "the kept batch and the queued spans"
    );
    assert_eq!(count(&path, "traces"), 17);
    assert_eq!(stats.exported.load(Ordering::Relaxed), 17);
    assert_eq!(stats.dropped(), 0);
    assert_eq!(stats.dropped_traces.load(Ordering::Relaxed), 0);
    assert_eq!(stats.export_errors.load(Ordering::Relaxed), 0);
    p.shutdown().unwrap();
}

#[test]
fn shutdown_under_a_lock_that_never_ends_counts_the_batch_and_its_traces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.db");
    let exporter = SqliteSpanExporter::open(
        &path,
        &StoreOptions {
            busy_timeout: Duration::from_millis(50),
        },
    )
    .unwrap();
    let processor = BoundedBatchProcessor::new(
        exporter,
        BatchConfig {
            linger: Duration::ZERO,
            ..BatchConfig::default()
        },
    )
    .unwrap();
    let stats = processor.stats();
    let p = provider(processor);
    let locker = Connection::open(&path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    emit(&p, 10);
    wait_until("a refused write", || {
        stats.busy_retries.load(Ordering::Relaxed) >= 1
    });
    p.shutdown().unwrap();
    locker.execute_batch("COMMIT").unwrap();
    assert_eq!(count(&path, "spans"), 0);
    assert_eq!(stats.dropped_export_error.load(Ordering::Relaxed), 10);
    assert_eq!(
        stats.dropped_traces.load(Ordering::Relaxed),
        10,
        "each lost root span is a lost trace"
    );
    assert!(
        stats
            .health_problem()
            .is_some_and(|h| h.contains("10 traces"))
    );
}

#[test]
fn a_full_database_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let exporter = SqliteSpanExporter::open(&path, &StoreOptions::default()).unwrap();
    let pages: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    // The exporter's own connection must see the limit: set it through a fresh exporter.
    drop(exporter);
    let store = gateway_store::Store::open(&path, &StoreOptions::default()).unwrap();
    store
        .connection()
        .execute_batch(&format!("PRAGMA max_page_count = {}", pages + 1))
        .unwrap();
    let processor = BoundedBatchProcessor::new(
        SqliteSpanExporter::new(store),
        BatchConfig {
            linger: Duration::ZERO,
            ..BatchConfig::default()
        },
    )
    .unwrap();
    let stats = processor.stats();
    let p = provider(processor);
    emit(&p, 2_000);
    p.shutdown().unwrap();
    let written = count(&path, "spans") as u64;
    assert!(
        stats.dropped_export_error.load(Ordering::Relaxed) > 0,
        "a full database must show as drops"
    );
    assert_eq!(written + stats.dropped(), 2_000);
}

#[test]
fn a_queue_full_in_bytes_drops_and_counts() {
    let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let gate = Arc::new(Gate::default());
    const LIMIT: u64 = 64 << 10;
    let processor = BoundedBatchProcessor::with_queue_bytes(
        Slow(written.clone(), gate.clone()),
        BatchConfig {
            queue_capacity: 65_536,
            max_batch: 1,
            linger: Duration::ZERO,
            ..BatchConfig::default()
        },
        LIMIT,
    )
    .unwrap();
    let stats = processor.stats();
    let p = provider(processor);
    let tracer = p.tracer("test");
    let long = "abcdefghij".repeat(100);
    let n = 1_000u64;
    for i in 0..n {
        let mut span = tracer
            .span_builder(format!("s{i}"))
            .with_kind(SpanKind::Server)
            .with_attributes(vec![
                KeyValue::new("gateway.status", "ok"),
                KeyValue::new("gen_ai.request.model", format!("{i}-{long}")),
            ])
            .start(&tracer);
        span.end();
        // Never more than the bound waits in the queue (one thread: no race at the door).
        assert!(stats.queue_bytes() <= LIMIT, "{}", stats.queue_bytes());
    }
    // Far below the span count: the bytes bound it.
    let dropped = stats.dropped_queue_full.load(Ordering::Relaxed);
    assert!(dropped > n / 2, "only {dropped} dropped");
    gate.open();
    p.shutdown().unwrap();
    assert_eq!(
        written.load(Ordering::Relaxed) + dropped,
        n,
        "every span is written or counted"
    );
    assert_eq!(stats.dropped_traces.load(Ordering::Relaxed), dropped);
    assert_eq!(
        stats.queue_bytes(),
        0,
        "the writer took back what it dequeued"
    );

    // The estimate counts the attribute's bytes.
    assert!(span_bytes_of_attr(&long) >= span_bytes_of_attr("") + long.len() as u64);
}

fn span_bytes_of_attr(value: &str) -> u64 {
    let span = SpanData {
        span_context: opentelemetry::trace::SpanContext::empty_context(),
        parent_span_id: opentelemetry::trace::SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: "x".into(),
        start_time: std::time::SystemTime::UNIX_EPOCH,
        end_time: std::time::SystemTime::UNIX_EPOCH,
        attributes: vec![KeyValue::new("k", value.to_owned())],
        dropped_attributes_count: 0,
        events: Default::default(),
        links: Default::default(),
        status: opentelemetry::trace::Status::Unset,
        instrumentation_scope: Default::default(),
    };
    gateway_sqlite::span_bytes(&span)
}
