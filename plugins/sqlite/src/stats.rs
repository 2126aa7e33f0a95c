//! The counters of a [`BoundedBatchProcessor`](crate::BoundedBatchProcessor), shared with
//! `/metrics`, the drop warnings and the health check.
//!
//! Every span ends up in exactly one of `exported` or the three `dropped_*` counters, and
//! [`ExportStats::dropped`] sums the drops whatever their reason. [`ExportStats::health_problem`]
//! says why the pipeline is not healthy: its last batch failed (the writer cannot write now), or
//! spans were dropped within [`RECENT_DROPS`].

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
    /// Batches that failed.
    pub export_errors: AtomicU64,
    /// Batches written.
    pub batches: AtomicU64,
    /// Times a backlog moved the writer from background to normal priority.
    pub priority_boosts: AtomicU64,
    pub(crate) depth: AtomicU64,
    /// Whether the last batch failed.
    failing: AtomicBool,
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
            export_errors: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            priority_boosts: AtomicU64::new(0),
            depth: AtomicU64::new(0),
            failing: AtomicBool::new(false),
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

    /// Why the pipeline is not healthy, or `None`: the last batch failed (the writer cannot
    /// write now), or spans were dropped within `window`.
    pub fn health_problem_within(&self, window: Duration) -> Option<String> {
        let dropped = self.dropped();
        if self.failing.load(Ordering::Relaxed) {
            return Some(format!(
                "the span writer cannot write: its last batch failed ({dropped} spans dropped so far)"
            ));
        }
        let last = self.last_drop.load(Ordering::Relaxed).checked_sub(1)?;
        let ago = self
            .epoch
            .elapsed()
            .saturating_sub(Duration::from_millis(last));
        (ago < window).then(|| {
            format!(
                "{dropped} spans dropped so far, the last {} s ago",
                ago.as_secs()
            )
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_reflects_failures_and_recent_drops() {
        let s = ExportStats::default();
        assert_eq!(s.health_problem(), None);
        s.dropped_queue_full.fetch_add(3, Ordering::Relaxed);
        s.note_drop();
        assert!(
            s.health_problem()
                .is_some_and(|p| p.contains("3 spans dropped"))
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
    }
}
