//! A span processor with a bounded queue, one writer thread and counted drops.
//!
//! `on_end` never blocks: it `try_send`s into the queue and, when the queue is full, drops the
//! span and bumps [`ExportStats::dropped_queue_full`]. The writer thread takes the first waiting
//! span, lingers briefly for more, and hands the batch to the exporter. Under load batches grow
//! on their own; when idle a span is written within `linger` of its end. The writer runs at
//! background priority while it keeps up (see [`crate::priority`]). A failed batch is counted
//! under [`ExportStats::dropped_file_replaced`] when it went into a database file no longer at
//! its path, under [`ExportStats::dropped_export_error`] otherwise.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::exporter::is_file_replaced;
use crate::priority::Priority;
pub use crate::stats::ExportStats;

/// Queue depth (spans) that moves a background writer to normal priority, at most: about 0.1 s of
/// traffic at 5,000 requests/s, so a backlog never costs much memory.
const PROMOTE_AT: usize = 2_048;

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

enum Msg {
    Span(Box<SpanData>),
    Flush(Sender<()>),
    Shutdown(Sender<()>),
}

/// See the module documentation.
#[derive(Debug)]
pub struct BoundedBatchProcessor {
    tx: Sender<Msg>,
    stats: Arc<ExportStats>,
    priority: Arc<Priority>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl BoundedBatchProcessor {
    /// Starts the writer thread around `exporter`.
    pub fn new<E: SpanExporter + 'static>(exporter: E, cfg: BatchConfig) -> std::io::Result<Self> {
        let (tx, rx) = bounded(cfg.queue_capacity.max(1));
        let stats = Arc::new(ExportStats::default());
        let worker_stats = stats.clone();
        let high = (cfg.queue_capacity / 8).clamp(1, PROMOTE_AT) as u64;
        let priority = Arc::new(Priority::new(cfg.background, high));
        let worker_priority = priority.clone();
        let worker = std::thread::Builder::new()
            .name(cfg.name.clone())
            .spawn(move || Writer::new(exporter, rx, worker_stats, worker_priority, cfg).run())?;
        Ok(Self {
            tx,
            stats,
            priority,
            worker: Mutex::new(Some(worker)),
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

    fn control(&self, make: fn(Sender<()>) -> Msg, timeout: Duration) -> OTelSdkResult {
        let (ack_tx, ack_rx) = bounded(1);
        self.tx
            .send_timeout(make(ack_tx), timeout)
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        ack_rx
            .recv_timeout(timeout)
            .map_err(|_| OTelSdkError::Timeout(timeout))
    }
}

impl SpanProcessor for BoundedBatchProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        // Counted before sending, so the writer's decrement never runs first.
        let depth = self
            .stats
            .depth
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        match self.tx.try_send(Msg::Span(Box::new(span))) {
            Ok(()) => {
                if self.priority.on_depth(depth) {
                    self.stats.priority_boosts.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.depth.fetch_sub(1, Ordering::Relaxed);
                self.stats
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                self.stats.note_drop();
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.control(Msg::Flush, Duration::from_secs(30))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let res = self.control(Msg::Shutdown, timeout);
        if let Some(worker) = self.worker.lock().ok().and_then(|mut w| w.take())
            && res.is_ok()
        {
            let _ = worker.join();
        }
        res
    }
}

struct Writer<E> {
    exporter: E,
    rx: Receiver<Msg>,
    stats: Arc<ExportStats>,
    priority: Arc<Priority>,
    cfg: BatchConfig,
    batch: Vec<SpanData>,
    last_error_log: Option<Instant>,
}

impl<E: SpanExporter> Writer<E> {
    fn new(
        exporter: E,
        rx: Receiver<Msg>,
        stats: Arc<ExportStats>,
        priority: Arc<Priority>,
        cfg: BatchConfig,
    ) -> Self {
        let batch = Vec::with_capacity(cfg.max_batch);
        Self {
            exporter,
            rx,
            stats,
            priority,
            cfg,
            batch,
            last_error_log: None,
        }
    }

    fn run(mut self) {
        self.priority.writer_started();
        while let Ok(msg) = self.rx.recv() {
            if !self.handle(msg) {
                return;
            }
            let deadline = Instant::now() + self.cfg.linger;
            while self.batch.len() < self.cfg.max_batch {
                match self.rx.recv_deadline(deadline) {
                    Ok(msg) => {
                        if !self.handle(msg) {
                            return;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        self.export();
                        return;
                    }
                }
            }
            self.export();
            self.priority.after_batch(self.stats.queue_depth());
        }
        self.export();
    }

    /// Returns false when the writer must stop.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Span(span) => {
                self.stats.depth.fetch_sub(1, Ordering::Relaxed);
                self.batch.push(*span);
                true
            }
            Msg::Flush(ack) => {
                self.drain();
                let _ = ack.send(());
                true
            }
            Msg::Shutdown(ack) => {
                self.drain();
                let _ = self.exporter.shutdown();
                let _ = ack.send(());
                false
            }
        }
    }

    /// Writes everything queued before a control message.
    fn drain(&mut self) {
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Span(span) = msg {
                self.stats.depth.fetch_sub(1, Ordering::Relaxed);
                self.batch.push(*span);
                if self.batch.len() >= self.cfg.max_batch {
                    self.export();
                }
            }
        }
        self.export();
    }

    fn export(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.cfg.max_batch));
        let n = batch.len() as u64;
        match futures::executor::block_on(self.exporter.export(batch)) {
            Ok(()) => {
                self.stats.exported.fetch_add(n, Ordering::Relaxed);
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
                self.stats.note_batch(true);
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
                        %error,
                        "Span export failed; the batch is dropped and counted."
                    );
                }
            }
        }
    }
}
