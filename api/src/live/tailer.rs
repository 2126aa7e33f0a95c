//! The tailer task: polls `traces` for rows above the last rowid seen, counts them for
//! `/metrics`, broadcasts them, and periodically recomputes the live statistics. Before the
//! trace rows of each pass it reads the Live turn spans stored since the last pass and
//! broadcasts a provisional summary of each session that has no trace row yet, so a session's
//! final row is always sent after its provisional ones.
//!
//! It holds only a weak reference to the state, so it ends when the last [`AppState`] clone is
//! dropped. A missing or busy database is retried on the next tick.

use super::{RUNNING_TTL, stats_message, trace_message};
use crate::state::{AppState, Inner};
use crate::time::now_unix_nano;
use gateway_store::query::TraceSummary;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

/// Rows read per poll; a full batch is followed by another poll at once.
const BATCH: u32 = 1000;

/// Starts the state's tailer if it is not running (needs a tokio runtime; no-op without one).
pub(crate) fn ensure_started(state: &AppState) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if state.inner.live.started.swap(true, Ordering::AcqRel) {
        return;
    }
    let weak = Arc::downgrade(&state.inner);
    handle.spawn(run(weak));
}

async fn run(weak: Weak<Inner>) {
    let mut last_rowid: Option<i64> = None;
    let mut last_span: Option<i64> = None;
    let mut last_stats: Option<Instant> = None;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let poll = inner.poll_interval;
        let mut full = false;
        // Running Live sessions first: a final row read below is then never followed by an
        // older provisional summary of its session.
        match last_span {
            None => match inner.db.run(|r| r.max_span_rowid()).await {
                Ok(max) => last_span = Some(max),
                Err(e) => tracing::debug!(error = %e, "Live tailer waits for the database."),
            },
            Some(after) => match inner.db.run(move |r| running_after(r, after)).await {
                Ok((upto, sessions)) => {
                    last_span = Some(upto);
                    running(&inner, sessions);
                }
                Err(e) => tracing::debug!(error = %e, "Live tailer poll of sessions failed."),
            },
        }
        match last_rowid {
            None => match inner.db.run(|r| r.max_trace_rowid()).await {
                Ok(max) => last_rowid = Some(max),
                Err(e) => tracing::debug!(error = %e, "Live tailer waits for the database."),
            },
            Some(after) => match inner.db.run(move |r| r.traces_after(after, BATCH)).await {
                Ok(rows) => {
                    full = rows.len() == BATCH as usize;
                    if !rows.is_empty()
                        && let Ok(mut running) = inner.live.running.lock()
                    {
                        for (_, t) in &rows {
                            running.remove(&t.trace_id);
                        }
                    }
                    for (rowid, t) in rows {
                        last_rowid = Some(rowid);
                        inner.prom.observe(&t);
                        // No receivers is fine: nobody is watching.
                        let _ = inner.live.tx.send(trace_message(&t));
                    }
                }
                Err(e) => tracing::debug!(error = %e, "Live tailer poll failed."),
            },
        }
        if last_stats.is_none_or(|t| t.elapsed() >= inner.stats_interval) {
            last_stats = Some(Instant::now());
            refresh_stats(&inner).await;
        }
        drop(inner);
        if !full {
            tokio::time::sleep(poll).await;
        }
    }
}

/// The newest span id and the provisional summaries of the sessions with turns up to it.
fn running_after(
    r: &gateway_store::query::Reader,
    after: i64,
) -> gateway_store::query::QueryResult<(i64, Vec<TraceSummary>)> {
    let upto = r.max_span_rowid()?;
    if upto <= after {
        return Ok((upto, Vec::new()));
    }
    Ok((upto, r.running_live_sessions(after, upto)?))
}

/// Remembers and broadcasts running sessions; forgets those silent past [`RUNNING_TTL`].
fn running(inner: &Inner, sessions: Vec<TraceSummary>) {
    let now = Instant::now();
    if let Ok(mut map) = inner.live.running.lock() {
        map.retain(|_, (_, seen)| now.duration_since(*seen) < RUNNING_TTL);
        for t in &sessions {
            map.insert(t.trace_id.clone(), (t.clone(), now));
        }
    }
    for t in &sessions {
        let _ = inner.live.tx.send(trace_message(t));
    }
}

async fn refresh_stats(inner: &Inner) {
    match inner.db.run(|r| r.live_stats(now_unix_nano())).await {
        Ok(stats) => {
            let msg = stats_message(&stats);
            if let Ok(mut slot) = inner.live.stats.lock() {
                *slot = Some(Arc::new(stats));
            }
            let _ = inner.live.tx.send(msg);
        }
        Err(e) => tracing::debug!(error = %e, "Live statistics unavailable."),
    }
}
