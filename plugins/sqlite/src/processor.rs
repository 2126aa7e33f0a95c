//! A span processor with a bounded queue, one writer thread and counted drops.
//!
//! `on_end` never blocks: it `try_send`s into the queue and, when the queue is full, drops the
//! span and bumps [`ExportStats::dropped_queue_full`]. The queue is full at
//! [`BatchConfig::queue_capacity`] spans or at [`QUEUE_BYTES`] bytes of span data (names,
//! attributes, events and links, estimated by [`span_bytes`]), whichever comes first: spans
//! with large attributes (a client sending 1 KB model names) cannot make a queue of 65,536 spans
//! hold 130 MB. The batch the writer assembles is bounded the same way, at [`BATCH_BYTES`]. The writer thread takes the first waiting
//! span, lingers briefly for more, and hands the batch to the exporter. Under load batches grow
//! on their own; when idle a span is written within `linger` of its end. The writer runs at
//! background priority while it keeps up, at normal priority under a backlog, and at high priority
//! when the queue is half full (see [`crate::priority`]). A failed batch is counted
//! under [`ExportStats::dropped_file_replaced`] when it went into a database file no longer at
//! its path, under [`ExportStats::dropped_export_error`] otherwise, and the traces and
//! `metric_snapshots` rows its spans carried are counted with it.
//!
//! A [`SqliteSpanExporter`] is written by reference: a batch the database refused because
//! another connection (a sibling system sharing the file) held the write lock past the busy
//! timeout is kept and written again until it goes in, while new spans wait in the bounded
//! queue (when that is full they are dropped and counted at the door, as always). Only shutdown
//! ends the retries: the batch then gets one more attempt before it is counted as lost.

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError, bounded};
use opentelemetry::{Array, Context, KeyValue, Value};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::SqliteSpanExporter;
use crate::exporter::{Rows, is_busy, is_file_replaced};
use crate::priority::{Priority, Raised, unix_ms};
pub use crate::stats::ExportStats;

/// Pause between two attempts at a batch the locked database refused (each attempt itself waits
/// up to the busy timeout inside SQLite).
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Queue depth (spans) that moves a background writer to normal priority, at most: about 0.1 s of
/// traffic at 5,000 requests/s, so a backlog never costs much memory.
const PROMOTE_AT: usize = 2_048;

/// Bytes of span data that may wait in one queue made by [`BoundedBatchProcessor::new`]; past
/// them spans are dropped and counted as for a full queue. About 13,000 of the gateway's own
/// generateContent spans (some 2.6 KiB each in [`span_bytes`]: about 20 attributes, and the
/// metric events of `post_processing`), so a quarter of a second of traffic at 13,000
/// requests/s; 8,000 of the label flood's. The gateway sizes its queues itself
/// ([`BoundedBatchProcessor::with_queue_bytes`]): two of these in all.
///
/// Also the most bytes the writer's priority levels are reckoned on, whatever a queue's bound:
/// a queue allowed more still raises its writer to the high level at 16 MiB, as this one does.
pub const QUEUE_BYTES: u64 = 32 << 20;

/// Bytes of span data in one batch (one transaction): the writer stops collecting there, even
/// below `max_batch` spans. At 8 MiB a batch's pages overflowed SQLite's page cache (2 MiB):
/// SQLite spilled dirty pages into the WAL mid-transaction, wrote them again at commit and read
/// some back, about a sixth of the writer's samples under load (perf, docs/benchmarks.md); at
/// 2 MiB that is down to a few percent, and the batch held in memory is smaller too.
pub const BATCH_BYTES: u64 = 2 << 20;

/// Fixed cost counted per span besides its strings: the `SpanData` and its vectors' slots.
const SPAN_OVERHEAD: u64 = 512;

/// An estimate of the heap a span holds: its name and every attribute, event and link with
/// their keys and values, plus a fixed [`SPAN_OVERHEAD`]. Cheap (no allocation), close enough
/// to bound a queue in bytes.
pub fn span_bytes(span: &SpanData) -> u64 {
    fn value(v: &Value) -> usize {
        match v {
            Value::String(s) => s.as_str().len(),
            Value::Array(Array::String(a)) => a.iter().map(|s| s.as_str().len() + 24).sum(),
            Value::Array(Array::Bool(a)) => a.len(),
            Value::Array(Array::I64(a)) => a.len() * 8,
            Value::Array(Array::F64(a)) => a.len() * 8,
            _ => 0,
        }
    }
    fn attrs(kvs: &[KeyValue]) -> usize {
        kvs.iter()
            .map(|kv| kv.key.as_str().len() + value(&kv.value) + 64)
            .sum()
    }
    let events: usize = span
        .events
        .events
        .iter()
        .map(|e| e.name.len() + attrs(&e.attributes) + 64)
        .sum();
    let links: usize = span
        .links
        .links
        .iter()
        .map(|l| attrs(&l.attributes) + 64)
        .sum();
    let status = match &span.status {
        opentelemetry::trace::Status::Error { description } => description.len(),
        _ => 0,
    };
    SPAN_OVERHEAD + (span.name.len() + attrs(&span.attributes) + events + links + status) as u64
}

/// Tuning of a [`BoundedBatchProcessor`].
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Spans that may wait in memory; beyond that they are dropped and counted.
    pub queue_capacity: usize,
    /// Largest batch handed to the exporter (one transaction).
    pub max_batch: usize,
    /// How long the writer waits for more spans after the first one of a batch.
    pub linger: Duration,
    /// Thread name, used in logs.
    pub name: String,
    /// Run the writer at background priority until its queue holds an eighth of its capacity
    /// (at most 2,048 spans).
    pub background: bool,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            max_batch: 4_096,
            linger: Duration::from_millis(20),
            name: "span-writer".into(),
            background: true,
        }
    }
}

/// When producers unpark a lingering writer ([`Writer::linger`]): the queue depth and bytes it
/// armed before sleeping (what would fill its batch, or half the queue if that is less, so a
/// small queue cannot overflow while it sleeps); `u64::MAX` while it is not asleep.
///
/// The writer arms, then looks at the queue again before it sleeps; a producer counts its span
/// in the queue, then reads the arming. Both in `SeqCst`, so at least one of the two sees the
/// other: a full batch never waits out the deadline.
#[derive(Debug)]
struct Wake {
    spans: AtomicU64,
    bytes: AtomicU64,
}

impl Default for Wake {
    fn default() -> Self {
        Self {
            spans: AtomicU64::new(u64::MAX),
            bytes: AtomicU64::new(u64::MAX),
        }
    }
}

impl Wake {
    fn arm(&self, spans: u64, bytes: u64) {
        self.spans.store(spans.max(1), Ordering::SeqCst);
        self.bytes.store(bytes.max(1), Ordering::SeqCst);
    }

    fn disarm(&self) {
        self.arm(u64::MAX, u64::MAX);
    }

    /// Whether a queue of `depth` spans and `bytes` bytes is to wake the writer.
    fn due(&self, depth: u64, bytes: u64) -> bool {
        depth >= self.spans.load(Ordering::SeqCst) || bytes >= self.bytes.load(Ordering::SeqCst)
    }
}

enum Msg {
    /// A span and its [`span_bytes`].
    Span(Box<SpanData>, u64),
    Flush(Sender<()>),
    Shutdown(Sender<()>),
}

/// See the module documentation.
#[derive(Debug)]
pub struct BoundedBatchProcessor {
    tx: Sender<Msg>,
    stats: Arc<ExportStats>,
    priority: Arc<Priority>,
    stopping: Arc<AtomicBool>,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// The writer thread, unparked when a full batch waits or a control message is sent (see
    /// [`Writer::linger`]).
    writer: std::thread::Thread,
    wake: Arc<Wake>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl BoundedBatchProcessor {
    /// Starts the writer thread around `exporter`.
    pub fn new<E: SpanExporter + 'static>(exporter: E, cfg: BatchConfig) -> std::io::Result<Self> {
        Self::with_queue_bytes(exporter, cfg, QUEUE_BYTES)
    }

    /// [`BoundedBatchProcessor::new`] with a queue bounded at `queue_bytes` bytes of span data
    /// instead of [`QUEUE_BYTES`] (a span is always admitted into an empty queue). The writer's
    /// priority levels are reckoned on at most [`QUEUE_BYTES`] of them.
    pub fn with_queue_bytes<E: SpanExporter + 'static>(
        exporter: E,
        cfg: BatchConfig,
        queue_bytes: u64,
    ) -> std::io::Result<Self> {
        let (tx, rx) = bounded(cfg.queue_capacity.max(1));
        let stats = Arc::new(ExportStats::default());
        stats.bytes_limit.store(queue_bytes, Ordering::Relaxed);
        let worker_stats = stats.clone();
        let high = (cfg.queue_capacity / 8).clamp(1, PROMOTE_AT) as u64;
        let priority = Arc::new(Priority::new(
            cfg.background,
            high,
            cfg.queue_capacity as u64,
            queue_bytes.min(QUEUE_BYTES),
        ));
        let worker_priority = priority.clone();
        let stopping = Arc::new(AtomicBool::new(false));
        let worker_stopping = stopping.clone();
        let wake = Arc::new(Wake::default());
        let worker_wake = wake.clone();
        let sink = Sink::of(exporter);
        if let Some(sqlite) = &sink.sqlite {
            sqlite.count_losses_into(stats.clone());
        }
        let worker = std::thread::Builder::new()
            .name(cfg.name.clone())
            .spawn(move || {
                Writer::new(sink, rx, worker_stats, worker_priority, cfg, worker_wake)
                    .stopping(worker_stopping)
                    .run()
            })?;
        Ok(Self {
            tx,
            stats,
            priority,
            stopping,
            writer: worker.thread().clone(),
            worker: Mutex::new(Some(worker)),
            wake,
        })
    }

    /// Whether the writer runs at background priority while it keeps up.
    pub fn background_priority(&self) -> bool {
        self.priority.enabled()
    }

    /// The counters of this processor.
    pub fn stats(&self) -> Arc<ExportStats> {
        self.stats.clone()
    }

    /// Raises the writer's priority when the queue asks for it, and counts the raise.
    fn raise(&self, depth: u64, bytes: u64, end_ms: u64) {
        match self.priority.on_queue(depth, bytes, end_ms) {
            Raised::No => {}
            Raised::Normal => {
                self.stats.priority_boosts.fetch_add(1, Ordering::Relaxed);
            }
            Raised::Urgent => {
                self.stats.priority_urgent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn control(&self, make: fn(Sender<()>) -> Msg, timeout: Duration) -> OTelSdkResult {
        let (ack_tx, ack_rx) = bounded(1);
        self.tx
            .send_timeout(make(ack_tx), timeout)
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        self.writer.unpark();
        ack_rx
            .recv_timeout(timeout)
            .map_err(|_| OTelSdkError::Timeout(timeout))
    }
}

impl SpanProcessor for BoundedBatchProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        // Counted before sending, so the writer's decrements never run first. SeqCst here and
        // for the bytes below: paired with the lingering writer's arming of `wake` (see `Wake`).
        let depth = self
            .stats
            .depth
            .fetch_add(1, Ordering::SeqCst)
            .wrapping_add(1);
        let bytes = span_bytes(&span);
        let end_ms = unix_ms(span.end_time);
        let held = self.stats.bytes.fetch_add(bytes, Ordering::SeqCst);
        let sent = if held > 0 && held + bytes > self.stats.queue_bytes_limit() {
            // Full in bytes: dropped and counted as for a queue full in spans.
            Err(TrySendError::Full(Msg::Span(Box::new(span), bytes)))
        } else {
            self.tx.try_send(Msg::Span(Box::new(span), bytes))
        };
        match sent {
            Ok(()) => {
                // A full batch (or half the queue) waits: the lingering writer need not wait out
                // its deadline.
                if self.wake.due(depth, held + bytes) {
                    self.writer.unpark();
                }
                self.raise(depth, held + bytes, end_ms);
            }
            Err(TrySendError::Full(msg)) | Err(TrySendError::Disconnected(msg)) => {
                self.stats.depth.fetch_sub(1, Ordering::Relaxed);
                self.stats.bytes.fetch_sub(bytes, Ordering::Relaxed);
                self.stats
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                if let Msg::Span(span, _) = msg {
                    self.stats.count_loss(std::slice::from_ref(&*span));
                }
                self.stats.note_drop();
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.control(Msg::Flush, Duration::from_secs(30))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        // Ends the retries of a batch the locked database refuses, so the writer gets to the
        // message.
        self.stopping.store(true, Ordering::Release);
        let res = self.control(Msg::Shutdown, timeout);
        if let Some(worker) = self.worker.lock().ok().and_then(|mut w| w.take())
            && res.is_ok()
        {
            let _ = worker.join();
        }
        res
    }
}

/// Where the writer's batches go: the SQLite exporter, which gets a batch's rows once,
/// converted as its spans are freed, and keeps them (so that rows the locked database refused
/// can be written again, and a lost batch's traces and metric rows counted), or any other
/// exporter (OTLP), which takes the batch. Exactly one is set.
struct Sink<E> {
    sqlite: Option<SqliteSpanExporter>,
    other: Option<E>,
}

impl<E: SpanExporter + 'static> Sink<E> {
    fn of(exporter: E) -> Self {
        let mut slot = Some(exporter);
        let sqlite = (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<SqliteSpanExporter>>()
            .and_then(Option::take);
        Self {
            sqlite,
            other: slot,
        }
    }

    /// The SQLite exporter's rows of `batch`, which is left empty (each span freed once
    /// converted); `None` for another exporter, which takes the batch itself.
    fn rows(&self, batch: &mut Vec<SpanData>) -> Option<Rows> {
        self.sqlite.as_ref().map(|_| Rows::take(batch))
    }

    /// Writes a batch: its rows for the SQLite exporter (kept, so that the caller can write
    /// them again), else `batch`, which another exporter takes.
    fn write(&self, rows: Option<&Rows>, batch: &mut Vec<SpanData>) -> OTelSdkResult {
        match (&self.sqlite, &self.other, rows) {
            (Some(sqlite), _, Some(rows)) => sqlite.write_rows(rows),
            (None, Some(other), _) => {
                futures::executor::block_on(other.export(std::mem::take(batch)))
            }
            _ => Err(OTelSdkError::AlreadyShutdown),
        }
    }

    fn shutdown(&self) -> OTelSdkResult {
        match (&self.sqlite, &self.other) {
            (Some(sqlite), _) => sqlite.shutdown(),
            (None, Some(other)) => other.shutdown(),
            (None, None) => Ok(()),
        }
    }
}

struct Writer<E> {
    sink: Sink<E>,
    stopping: Arc<AtomicBool>,
    rx: Receiver<Msg>,
    stats: Arc<ExportStats>,
    priority: Arc<Priority>,
    cfg: BatchConfig,
    batch: Vec<SpanData>,
    /// [`span_bytes`] of `batch`.
    batch_bytes: u64,
    last_error_log: Option<Instant>,
    wake: Arc<Wake>,
}

impl<E: SpanExporter + 'static> Writer<E> {
    fn new(
        sink: Sink<E>,
        rx: Receiver<Msg>,
        stats: Arc<ExportStats>,
        priority: Arc<Priority>,
        cfg: BatchConfig,
        wake: Arc<Wake>,
    ) -> Self {
        let batch = Vec::with_capacity(cfg.max_batch);
        Self {
            sink,
            stopping: Arc::new(AtomicBool::new(false)),
            rx,
            stats,
            priority,
            cfg,
            batch,
            batch_bytes: 0,
            last_error_log: None,
            wake,
        }
    }

    fn stopping(mut self, stopping: Arc<AtomicBool>) -> Self {
        self.stopping = stopping;
        self
    }

    fn run(mut self) {
        self.priority.writer_started();
        while let Ok(msg) = self.rx.recv() {
            self.priority
                .batch_started(unix_ms(std::time::SystemTime::now()));
            if !self.handle(msg) || !self.linger() {
                return;
            }
            self.export();
            self.priority.after_batch(
                self.stats.queue_depth(),
                self.stats.bytes.load(Ordering::Relaxed),
            );
        }
        self.export();
    }

    /// Collects spans for up to `linger` after the first one of a batch, or until the batch is
    /// full. Returns false when the writer must stop.
    ///
    /// The writer sleeps between two looks at the queue instead of waiting on it: a receiver
    /// blocked on the channel is woken by every span sent, which cost a system call on the proxy
    /// thread and a switch to this one for each span (four per request) whenever the writer
    /// kept up. Producers unpark it when a full batch waits, and so does every control message.
    fn linger(&mut self) -> bool {
        let deadline = Instant::now() + self.cfg.linger;
        loop {
            while !self.full() {
                match self.rx.try_recv() {
                    Ok(msg) => {
                        if !self.handle(msg) {
                            return false;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        self.export();
                        return false;
                    }
                }
            }
            let now = Instant::now();
            if self.full() || now >= deadline {
                self.wake.disarm();
                return true;
            }
            let spans = (self.cfg.max_batch.saturating_sub(self.batch.len()) as u64)
                .min(self.cfg.queue_capacity as u64 / 2);
            let bytes = BATCH_BYTES.saturating_sub(self.batch_bytes);
            self.wake.arm(spans, bytes);
            // A producer that counted its span before the arming did not see it.
            if self.wake.due(
                self.stats.depth.load(Ordering::SeqCst),
                self.stats.bytes.load(Ordering::SeqCst),
            ) {
                continue;
            }
            std::thread::park_timeout(deadline - now);
        }
    }

    /// Whether the batch is at its bound in spans or bytes.
    fn full(&self) -> bool {
        self.batch.len() >= self.cfg.max_batch || self.batch_bytes >= BATCH_BYTES
    }

    /// Returns false when the writer must stop.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Span(span, bytes) => {
                self.take(*span, bytes);
                true
            }
            Msg::Flush(ack) => {
                self.drain();
                let _ = ack.send(());
                true
            }
            Msg::Shutdown(ack) => {
                self.drain();
                let _ = self.sink.shutdown();
                let _ = ack.send(());
                false
            }
        }
    }

    /// Moves a span from the queue into the batch.
    fn take(&mut self, span: SpanData, bytes: u64) {
        self.stats.depth.fetch_sub(1, Ordering::Relaxed);
        self.stats.bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.batch_bytes += bytes;
        self.batch.push(span);
    }

    /// Writes everything queued before a control message.
    fn drain(&mut self) {
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Span(span, bytes) = msg {
                self.take(*span, bytes);
                if self.full() {
                    self.export();
                }
            }
        }
        self.export();
    }

    /// Writes the batch, again and again while the database refuses it because another
    /// connection holds the write lock (until shutdown); a batch that fails otherwise is
    /// dropped and counted with what it carried.
    fn export(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let n = self.batch.len() as u64;
        let rows = self.sink.rows(&mut self.batch);
        let mut retries = 0u64;
        let result = loop {
            let result = self.sink.write(rows.as_ref(), &mut self.batch);
            match &result {
                Err(error) if is_busy(error) && rows.is_some() => {
                    if retries > 0 && self.stopping.load(Ordering::Acquire) {
                        break result;
                    }
                    if retries == 0 {
                        tracing::warn!(
                            writer = %self.cfg.name,
                            spans = n,
                            queued = self.stats.queue_depth(),
                            %error,
                            "Another connection holds the database's write lock past the busy \
                             timeout; the batch is kept and written again once the lock is \
                             free (new spans wait in the queue)."
                        );
                    }
                    retries += 1;
                    self.stats.busy_retries.fetch_add(1, Ordering::Relaxed);
                    self.stats.note_waiting(true);
                    std::thread::sleep(RETRY_PAUSE);
                }
                _ => break result,
            }
        };
        self.stats.note_waiting(false);
        match result {
            Ok(()) => {
                self.stats.exported.fetch_add(n, Ordering::Relaxed);
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
                self.stats.note_batch(true);
                if retries > 0 {
                    tracing::info!(
                        writer = %self.cfg.name,
                        spans = n,
                        retries,
                        "The batch the locked database refused is written; nothing was lost."
                    );
                }
                if self.last_error_log.take().is_some() {
                    tracing::info!(writer = %self.cfg.name, "Span export recovered.");
                }
            }
            Err(error) => {
                let replaced = is_file_replaced(&error);
                let counter = if replaced {
                    &self.stats.dropped_file_replaced
                } else {
                    &self.stats.dropped_export_error
                };
                counter.fetch_add(n, Ordering::Relaxed);
                // The SQLite exporter's rows; another exporter took its batch.
                if let Some(rows) = &rows {
                    self.stats.count_lost_rows(&rows.counts());
                }
                self.stats.export_errors.fetch_add(1, Ordering::Relaxed);
                self.stats.note_batch(false);
                // A batch lost to a replaced file is rare and always logged.
                let due = replaced
                    || self
                        .last_error_log
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
                if due {
                    self.last_error_log = Some(Instant::now());
                    tracing::error!(
                        writer = %self.cfg.name,
                        lost = n,
                        dropped_total = self.stats.dropped(),
                        loss = %self.stats.loss_summary(),
                        %error,
                        "Span export failed; the batch is dropped and counted."
                    );
                }
            }
        }
        self.batch.clear();
        self.batch_bytes = 0;
    }
}
