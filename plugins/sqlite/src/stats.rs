//! The counters of a [`BoundedBatchProcessor`](crate::BoundedBatchProcessor), shared with
//! `/metrics`, the drop warnings and the health check.
//!
//! Every span ends up in exactly one of `exported` or the three `dropped_*` counters, and
//! [`ExportStats::dropped`] sums the drops whatever their reason. What the lost spans carried is
//! counted too: the gateway requests whose trace summary was lost
//! ([`ExportStats::dropped_traces`]) and the `metric_snapshots` rows, the alert feed, that were
//! never written ([`ExportStats::dropped_metric_rows`], breached ones in
//! [`ExportStats::dropped_breached_rows`]). [`ExportStats::health_problem`] says why the pipeline
//! is not healthy: its last batch failed (the writer cannot write now), it is waiting for a write
//! lock another connection holds, or spans were dropped within [`RECENT_DROPS`].

use crate::convert::{METRIC_EVENT, is_trace_root};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a drop keeps [`ExportStats::health_problem`] reporting it.
pub const RECENT_DROPS: Duration = Duration::from_secs(60);

/// Counters shared with the metrics endpoint.
#[derive(Debug)]
pub struct ExportStats {
    /// Spans written successfully.
    pub exported: AtomicU64,
    /// Spans dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Spans lost because the exporter failed (database locked, full, read-only...).
    pub dropped_export_error: AtomicU64,
    /// Spans of a batch written into a database file that was then no longer at the configured
    /// path (deleted, moved or replaced), which could not be written again into the file now
    /// there.
    pub dropped_file_replaced: AtomicU64,
    /// Gateway requests whose trace summary (the root span) was lost, whatever the reason: the
    /// `traces` row of the request was never written or merged.
    pub dropped_traces: AtomicU64,
    /// `metric_snapshots` rows (the alert feed) lost with their span, whatever the reason.
    pub dropped_metric_rows: AtomicU64,
    /// Of [`ExportStats::dropped_metric_rows`], the breached ones: alerts that never reached
    /// the feed.
    pub dropped_breached_rows: AtomicU64,
    /// Times a batch was written again because another connection held the database's write
    /// lock past the busy timeout (the batch is kept, not dropped).
    pub busy_retries: AtomicU64,
    /// Batches that failed.
    pub export_errors: AtomicU64,
    /// Batches written.
    pub batches: AtomicU64,
    /// Times a backlog moved the writer from background to normal priority.
    pub priority_boosts: AtomicU64,
    /// Times a queue half full raised the writer to high priority (nice -10), where the proxy
    /// answers only as fast as traces are stored.
    pub priority_urgent: AtomicU64,
    pub(crate) depth: AtomicU64,
    /// Estimated bytes of the spans waiting in the queue (see `processor::span_bytes`).
    pub(crate) bytes: AtomicU64,
    /// The queue's bound in those bytes; 0 for counters no queue has used.
    pub(crate) bytes_limit: AtomicU64,
    /// Whether the last batch failed.
    failing: AtomicBool,
    /// Whether the writer holds a batch it is retrying because the database is locked.
    waiting: AtomicBool,
    /// Milliseconds from `epoch` to the last drop, plus one; 0: never.
    last_drop: AtomicU64,
    epoch: Instant,
}

impl Default for ExportStats {
    fn default() -> Self {
        Self {
            exported: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_export_error: AtomicU64::new(0),
            dropped_file_replaced: AtomicU64::new(0),
            dropped_traces: AtomicU64::new(0),
            dropped_metric_rows: AtomicU64::new(0),
            dropped_breached_rows: AtomicU64::new(0),
            busy_retries: AtomicU64::new(0),
            export_errors: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            priority_boosts: AtomicU64::new(0),
            priority_urgent: AtomicU64::new(0),
            depth: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            bytes_limit: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            last_drop: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl ExportStats {
    /// Spans waiting in the queue now.
    pub fn queue_depth(&self) -> u64 {
        self.depth.load(Ordering::Relaxed)
    }

    /// The queue's bound in estimated bytes of span data, past which spans are dropped (0 for
    /// counters no queue has used).
    pub fn queue_bytes_limit(&self) -> u64 {
        self.bytes_limit.load(Ordering::Relaxed)
    }

    /// Estimated bytes of span data waiting in the queue now.
    pub fn queue_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// All spans lost so far, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full.load(Ordering::Relaxed)
            + self.dropped_export_error.load(Ordering::Relaxed)
            + self.dropped_file_replaced.load(Ordering::Relaxed)
    }

    /// Why the pipeline is not healthy, or `None`: see [`ExportStats::health_problem_within`]
    /// with [`RECENT_DROPS`].
    pub fn health_problem(&self) -> Option<String> {
        self.health_problem_within(RECENT_DROPS)
    }

    /// What was lost so far, in words: spans, and the traces and alert rows they carried.
    pub fn loss_summary(&self) -> String {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "{} spans dropped so far ({} traces, {} metric_snapshots rows of which {} breached)",
            self.dropped(),
            load(&self.dropped_traces),
            load(&self.dropped_metric_rows),
            load(&self.dropped_breached_rows)
        )
    }

    /// Why the pipeline is not healthy, or `None`: the last batch failed (the writer cannot
    /// write now), the writer waits for a write lock held by another connection, or spans were
    /// dropped within `window`.
    pub fn health_problem_within(&self, window: Duration) -> Option<String> {
        let lost = self.loss_summary();
        if self.failing.load(Ordering::Relaxed) {
            return Some(format!(
                "the span writer cannot write: its last batch failed; {lost}"
            ));
        }
        if self.waiting.load(Ordering::Relaxed) {
            return Some(format!(
                "the span writer waits for the database's write lock, held by another \
                 connection past the busy timeout: its batch is kept and retried, {} spans \
                 queued; {lost}",
                self.queue_depth()
            ));
        }
        let last = self.last_drop.load(Ordering::Relaxed).checked_sub(1)?;
        let ago = self
            .epoch
            .elapsed()
            .saturating_sub(Duration::from_millis(last));
        (ago < window).then(|| format!("{lost}, the last {} s ago", ago.as_secs()))
    }

    /// Counts what lost spans carried (traces, metric rows); the spans themselves are counted
    /// by the caller under their reason.
    pub(crate) fn count_loss(&self, spans: &[SpanData]) {
        let loss = Loss::of(spans);
        self.add_lost(loss.traces, loss.metric_rows, loss.breached_rows);
    }

    /// Counts the traces, metric rows and breached rows of a batch's rows that were not
    /// written (the spans are counted by the caller).
    pub(crate) fn count_lost_rows(&self, left: &crate::identity::Left) {
        self.add_lost(left.traces, left.metric_rows, left.breached_rows);
    }

    fn add_lost(&self, traces: u64, metric_rows: u64, breached_rows: u64) {
        self.dropped_traces.fetch_add(traces, Ordering::Relaxed);
        self.dropped_metric_rows
            .fetch_add(metric_rows, Ordering::Relaxed);
        self.dropped_breached_rows
            .fetch_add(breached_rows, Ordering::Relaxed);
    }

    /// Records whether the writer is retrying a batch the locked database refused.
    pub(crate) fn note_waiting(&self, waiting: bool) {
        self.waiting.store(waiting, Ordering::Relaxed);
    }

    /// Records that spans were just dropped.
    pub(crate) fn note_drop(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_drop.store(ms + 1, Ordering::Relaxed);
    }

    /// Records whether the last batch was written.
    pub(crate) fn note_batch(&self, ok: bool) {
        self.failing.store(!ok, Ordering::Relaxed);
        if !ok {
            self.note_drop();
        }
    }
}

/// What a set of spans carries besides itself.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Loss {
    /// Gateway root spans (each one request's trace summary).
    pub traces: u64,
    /// `gateway.metric` events with a metric and a value (each one `metric_snapshots` row).
    pub metric_rows: u64,
    /// Of those, the breached ones (value above a threshold).
    pub breached_rows: u64,
}

impl Loss {
    pub(crate) fn of(spans: &[SpanData]) -> Self {
        let mut loss = Self::default();
        for span in spans {
            loss.traces += u64::from(is_trace_root(span));
            for e in span.events.iter().filter(|e| e.name == METRIC_EVENT) {
                let num = |key: &str| {
                    e.attributes
                        .iter()
                        .rev()
                        .find(|kv| kv.key.as_str() == key)
                        .and_then(|kv| match &kv.value {
                            Value::F64(f) => Some(*f),
                            Value::I64(i) => Some(*i as f64),
                            _ => None,
                        })
                };
                let has_metric = e.attributes.iter().any(|kv| kv.key.as_str() == "metric");
                let Some(value) = num("value").filter(|_| has_metric) else {
                    continue;
                };
                loss.metric_rows += 1;
                loss.breached_rows += u64::from(num("threshold").is_some_and(|t| value > t));
            }
        }
        loss
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_reflects_failures_and_recent_drops() {
        let s = ExportStats::default();
        assert_eq!(s.health_problem(), None);
        s.dropped_queue_full.fetch_add(3, Ordering::Relaxed);
        s.note_drop();
        s.dropped_traces.fetch_add(1, Ordering::Relaxed);
        s.dropped_metric_rows.fetch_add(2, Ordering::Relaxed);
        s.dropped_breached_rows.fetch_add(1, Ordering::Relaxed);
        let problem = s.health_problem().unwrap_or_default();
        assert!(
            problem.contains("3 spans dropped")
                && problem.contains("1 traces")
                && problem.contains("2 metric_snapshots rows of which 1 breached"),
            "{problem}"
        );
        assert_eq!(
            s.health_problem_within(Duration::ZERO),
            None,
            "a drop is forgotten once older than the window"
        );
        s.dropped_file_replaced.fetch_add(2, Ordering::Relaxed);
        s.note_batch(false);
        assert_eq!(s.dropped(), 5);
        let failing = s.health_problem_within(Duration::ZERO);
        assert!(failing.is_some_and(|p| p.contains("cannot write")));
        s.note_batch(true);
        assert_eq!(s.health_problem_within(Duration::ZERO), None);
        s.note_waiting(true);
        let waiting = s.health_problem_within(Duration::ZERO);
        assert!(waiting.is_some_and(|p| p.contains("write lock")));
        s.note_waiting(false);
        assert_eq!(s.health_problem_within(Duration::ZERO), None);
    }
}
