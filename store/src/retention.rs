//! Retention: deleting old rows in small batches, each its own short transaction, so the
//! writer never waits long for the lock; then giving pages back with incremental vacuum.

use crate::{Result, Store};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

/// What to delete.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionPolicy {
    /// Traces (with their spans) that started before this are deleted.
    pub traces_before_unix_nano: Option<i64>,
    /// `metric_snapshots` rows created before this are deleted (their own retention).
    pub metrics_before_unix_nano: Option<i64>,
    /// When the live data exceeds this many bytes, the oldest traces go first.
    pub max_size_bytes: Option<u64>,
    /// Where this pass's sweep for spans without a `traces` row starts (the id after which;
    /// 0 from the start): the previous pass's [`RetentionReport::sweep_next_id`].
    pub sweep_after_id: i64,
    /// Windows of `batch` spans the sweep walks in a pass (0: no sweep). It runs with the age
    /// rule (`traces_before_unix_nano`), after the walk from the oldest rows.
    pub sweep_windows: usize,
    /// Spans without a `traces` row are deleted (by age or by size), and metric rows go with
    /// the traces the size cap takes, only when they started before this: a request's spans
    /// and metric rows written a batch before its root, and the turns of a Live session that
    /// is still running, have no `traces` row yet. None: such spans are kept, and the size
    /// cap leaves metric rows to their own retention.
    pub orphans_before_unix_nano: Option<i64>,
    /// Traces (or metric rows) per transaction.
    pub batch: usize,
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Trace rows deleted.
    pub traces: u64,
    /// Span rows deleted with their traces.
    pub spans: u64,
    /// Span rows deleted that belong to no `traces` row (not counted in `spans`): an
    /// application's spans of a trace without a gateway call, or the spans of a trace whose
    /// root span was lost.
    pub orphan_spans: u64,
    /// Metric snapshot rows deleted.
    pub metrics: u64,
    /// `cache_storage` intervals deleted: those that ended before the oldest trace kept.
    pub cache_intervals: u64,
    /// Pages given back to the file system.
    pub pages_freed: u64,
    /// Where the next pass's sweep starts: the last span id this one walked, or 0 when it
    /// reached the end of the table (or did not run).
    pub sweep_next_id: i64,
}

const OLDEST_TRACES: &str = "SELECT trace_id FROM traces WHERE start_time_unix_nano < ?1
    ORDER BY start_time_unix_nano LIMIT ?2";
const DELETE_SPANS_OF: &str = "DELETE FROM spans WHERE trace_id = ?1";
/// The copies in `span_lookup` of a trace's spans, deleted before the spans (found by their
/// row ids through `spans_trace`).
const DELETE_LOOKUPS_OF: &str =
    "DELETE FROM span_lookup WHERE id IN (SELECT id FROM spans WHERE trace_id = ?1)";
const DELETE_TRACE: &str = "DELETE FROM traces WHERE trace_id = ?1";
/// Only looks at the oldest `?2` rows by id (ids grow with time), so a pass with nothing to
/// delete costs `?2` row reads, not a table scan.
const DELETE_OLD_METRICS: &str = "DELETE FROM metric_snapshots WHERE id IN
    (SELECT id FROM metric_snapshots ORDER BY id LIMIT ?2) AND created_at_unix_nano < ?1";

/// Intervals of cache storage that ended before `?1`, oldest first (by the start index: an
/// interval ends after it starts). Open intervals, and those with no known end, stay.
const DELETE_ENDED_CACHE_INTERVALS: &str = "DELETE FROM cache_storage WHERE id IN
    (SELECT id FROM cache_storage WHERE start_unix_nano < ?1 AND end_unix_nano < ?1
        ORDER BY start_unix_nano LIMIT ?2)";
/// One window of `spans` in id order after `?1` (ids grow as rows are written): each row's id,
/// whether it started before `?2`, and whether it is then an orphan, of no `traces` row.
const SPAN_WINDOW: &str = "SELECT s.id, s.start_time_unix_nano < ?2,
        s.start_time_unix_nano < ?2
            AND NOT EXISTS (SELECT 1 FROM traces AS t WHERE t.trace_id = s.trace_id)
    FROM spans AS s WHERE s.id > ?1 ORDER BY s.id LIMIT ?3";
/// The copy and the span, if the span still has no `traces` row (the window was read before
/// the write transaction began).
const DELETE_LOOKUP: &str = "DELETE FROM span_lookup WHERE id = ?1
    AND NOT EXISTS (SELECT 1 FROM traces AS t WHERE t.trace_id = span_lookup.trace_id)";
const DELETE_SPAN: &str = "DELETE FROM spans WHERE id = ?1
    AND NOT EXISTS (SELECT 1 FROM traces AS t WHERE t.trace_id = spans.trace_id)";

/// Where the traces kept begin; with none kept, nothing older than now is needed.
const OLDEST_TRACE_START: &str = "SELECT MIN(start_time_unix_nano) FROM traces";

impl Store {
    /// Deletes one batch of traces (and their spans) older than `before`. Returns (traces, spans).
    fn delete_trace_batch(&mut self, before: i64, batch: usize) -> Result<(u64, u64)> {
        let path = self.path.clone();
        let err = |e| crate::sqlite_err(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let ids: Vec<String> = {
            let mut stmt = tx.prepare_cached(OLDEST_TRACES).map_err(err)?;
            stmt.query_map(params![before, batch as i64], |r| r.get(0))
                .map_err(err)?
                .collect::<rusqlite::Result<_>>()
                .map_err(err)?
        };
        let (mut traces, mut spans) = (0, 0);
        {
            let mut del_lookups = tx.prepare_cached(DELETE_LOOKUPS_OF).map_err(err)?;
            let mut del_spans = tx.prepare_cached(DELETE_SPANS_OF).map_err(err)?;
            let mut del_trace = tx.prepare_cached(DELETE_TRACE).map_err(err)?;
            for id in &ids {
                del_lookups.execute([id]).map_err(err)?;
                spans += del_spans.execute([id]).map_err(err)? as u64;
                traces += del_trace.execute([id]).map_err(err)? as u64;
            }
        }
        tx.commit().map_err(err)?;
        Ok((traces, spans))
    }

    /// Deletes the spans that started before `before` and belong to no `traces` row, walking
    /// `spans` in id order from after `after` in windows of `batch`. Each window is read
    /// without the write lock; its deletions, if any, are one transaction. After each window,
    /// `go_on` is told whether it held a span that started before `before` and says whether to
    /// walk on. Returns the spans deleted and the last id walked, or None when the walk reached
    /// the end of the table.
    fn delete_orphan_spans(
        &mut self,
        after: i64,
        before: i64,
        batch: usize,
        mut go_on: impl FnMut(&Self, bool) -> Result<bool>,
    ) -> Result<(u64, Option<i64>)> {
        let mut after = after;
        let mut deleted = 0u64;
        let path = self.path.clone();
        let err = |e| crate::sqlite_err(&path, e);
        loop {
            // Read without the write lock; most windows have nothing to delete.
            let window: Vec<(i64, bool, bool)> = {
                let mut stmt = self.conn.prepare_cached(SPAN_WINDOW).map_err(err)?;
                stmt.query_map(params![after, before, batch as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(err)?
                .collect::<rusqlite::Result<_>>()
                .map_err(err)?
            };
            let Some(&(last, ..)) = window.last() else {
                return Ok((deleted, None));
            };
            if window.iter().any(|&(_, _, orphan)| orphan) {
                let tx = self
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(err)?;
                {
                    let mut del_lookup = tx.prepare_cached(DELETE_LOOKUP).map_err(err)?;
                    let mut del_span = tx.prepare_cached(DELETE_SPAN).map_err(err)?;
                    for &(id, _, orphan) in &window {
                        if orphan {
                            del_lookup.execute([id]).map_err(err)?;
                            deleted += del_span.execute([id]).map_err(err)? as u64;
                        }
                    }
                }
                tx.commit().map_err(err)?;
            }
            if !go_on(self, window.iter().any(|&(_, old, _)| old))? {
                return Ok((deleted, Some(last)));
            }
            after = last;
        }
    }

    /// The front walk: from the oldest rows (rows are written in about the order they start,
    /// so the old ones are at the front) up to a window none of whose spans started before
    /// `before`, or until `enough` says so.
    fn delete_old_orphans(
        &mut self,
        before: i64,
        batch: usize,
        mut enough: impl FnMut(&Self) -> Result<bool>,
    ) -> Result<u64> {
        let walk = self.delete_orphan_spans(0, before, batch, |s, old| Ok(old && !enough(s)?))?;
        Ok(walk.0)
    }

    /// Deletes the `metric_snapshots` rows created before `before`, `batch` at a time.
    fn delete_metrics_before(&self, before: i64, batch: usize) -> Result<u64> {
        let mut deleted = 0;
        loop {
            let n = self
                .conn
                .prepare_cached(DELETE_OLD_METRICS)
                .and_then(|mut s| s.execute(params![before, batch as i64]))
                .map_err(|e| self.err(e))?;
            deleted += n as u64;
            if n == 0 {
                return Ok(deleted);
            }
        }
    }

    /// Bytes of this store's live data: the pages in use, less those of the tables (and their
    /// indexes) it does not own, such as a sibling's `drift_snapshots` ([`Self::foreign_bytes`]).
    pub fn live_bytes(&self) -> Result<u64> {
        Ok(self.used_bytes()?.saturating_sub(self.foreign_bytes()?))
    }

    /// Bytes of all pages in use in the file.
    fn used_bytes(&self) -> Result<u64> {
        let q = |sql: &str| -> Result<i64> {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| self.err(e))
        };
        let used = q("PRAGMA page_count")? - q("PRAGMA freelist_count")?;
        Ok((used.max(0) as u64) * q("PRAGMA page_size")? as u64)
    }

    /// Bytes of the tables in the file that this store does not own, with their indexes
    /// (SQLite's `dbstat`, which the bundled SQLite is built with, one B-tree at a time): the
    /// size cap counts only the store's own data, and never deletes traces to make room that a
    /// sibling's table takes.
    pub fn foreign_bytes(&self) -> Result<u64> {
        let err = |e| self.err(e);
        let own = crate::OWN_TABLES
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let names: Vec<String> = self
            .conn
            .prepare(&format!(
                "SELECT name FROM sqlite_schema WHERE type IN ('table', 'index') AND rootpage > 0
                    AND tbl_name NOT IN ({own}) AND tbl_name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            ))
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(err)?;
        let mut total = 0u64;
        for name in names {
            let bytes: i64 = self
                .conn
                .query_row(
                    "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = ?1 AND aggregate = TRUE",
                    [&name],
                    |r| r.get(0),
                )
                .map_err(err)?;
            total = total.saturating_add(bytes.max(0) as u64);
        }
        Ok(total)
    }

    /// Applies `policy`: old traces and spans, old metric snapshots, then size, in small
    /// transactions; finally an incremental vacuum when the file allows it.
    pub fn enforce_retention(&mut self, policy: &RetentionPolicy) -> Result<RetentionReport> {
        let batch = policy.batch.max(1);
        let mut report = RetentionReport::default();
        if let Some(before) = policy.traces_before_unix_nano {
            loop {
                let (t, s) = self.delete_trace_batch(before, batch)?;
                report.traces += t;
                report.spans += s;
                if t == 0 {
                    break;
                }
            }
            if let Some(grace) = policy.orphans_before_unix_nano {
                let before = before.min(grace);
                report.orphan_spans += self.delete_old_orphans(before, batch, |_| Ok(false))?;
                // The sweep reaches what the front walk stops short of: an old span written
                // late, behind newer rows, or old spans behind a window of future-dated ones.
                if policy.sweep_windows > 0 {
                    let mut windows = 0;
                    let (n, next) =
                        self.delete_orphan_spans(policy.sweep_after_id, before, batch, |_, _| {
                            windows += 1;
                            Ok(windows < policy.sweep_windows)
                        })?;
                    report.orphan_spans += n;
                    report.sweep_next_id = next.unwrap_or(0);
                }
            }
        }
        if let Some(before) = policy.metrics_before_unix_nano {
            report.metrics += self.delete_metrics_before(before, batch)?;
        }
        if let Some(max) = policy.max_size_bytes {
            // Other tables do not change size while ours are trimmed: measured once.
            let foreign = self.foreign_bytes()?;
            let over = |store: &Self| Ok(store.used_bytes()?.saturating_sub(foreign) > max);
            let mut by_size = 0;
            while over(self)? {
                // Oldest first: the orphan spans older than the oldest trace kept (and than
                // the grace), then a batch of traces.
                let orphans = match policy.orphans_before_unix_nano {
                    Some(grace) => {
                        let oldest = self.oldest_trace_start()?.unwrap_or(i64::MAX);
                        self.delete_old_orphans(oldest.min(grace), batch, |s| Ok(!over(s)?))?
                    }
                    None => 0,
                };
                report.orphan_spans += orphans;
                if orphans > 0 {
                    continue;
                }
                let (t, s) = self.delete_trace_batch(i64::MAX, batch)?;
                report.traces += t;
                report.spans += s;
                by_size += t;
                if t == 0 {
                    break;
                }
            }
            // Metric rows are kept as long as their traces: those older than the oldest trace
            // kept (and than the grace) go with the traces the cap took.
            if let Some(grace) = policy.orphans_before_unix_nano.filter(|_| by_size > 0) {
                let oldest = self.oldest_trace_start()?.unwrap_or(i64::MAX);
                report.metrics += self.delete_metrics_before(oldest.min(grace), batch)?;
            }
        }
        if report.traces > 0 {
            // Cache storage is cost over time, like the traces: intervals that ended before
            // the oldest trace kept go with them (by age or by size).
            let oldest = self.oldest_trace_start()?;
            let before = oldest
                .or(policy.traces_before_unix_nano)
                .unwrap_or(i64::MAX);
            loop {
                let n = self
                    .conn
                    .prepare_cached(DELETE_ENDED_CACHE_INTERVALS)
                    .and_then(|mut s| s.execute(params![before, batch as i64]))
                    .map_err(|e| self.err(e))?;
                report.cache_intervals += n as u64;
                if n == 0 {
                    break;
                }
            }
        }
        report.pages_freed = self.incremental_vacuum()?;
        Ok(report)
    }

    /// Where the oldest trace kept starts; None when none is left.
    fn oldest_trace_start(&self) -> Result<Option<i64>> {
        self.conn
            .query_row(OLDEST_TRACE_START, [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Gives free pages back when `auto_vacuum = INCREMENTAL` (set on files the gateway
    /// creates); otherwise freed pages are reused by later writes. Returns pages freed.
    fn incremental_vacuum(&self) -> Result<u64> {
        let mode: i64 = self
            .conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if mode != 2 {
            return Ok(0);
        }
        let before: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        self.conn
            .query_row("PRAGMA incremental_vacuum", [], |_| Ok(()))
            .optional()
            .map_err(|e| self.err(e))?;
        let after: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok((before - after).max(0) as u64)
    }
}
