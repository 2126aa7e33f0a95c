//! The tailer task: polls `traces` for rows above the last rowid seen, counts them for
//! `/metrics`, broadcasts them, and, while the feed has subscribers, recomputes the live
//! statistics every `stats_interval`. Before the
//! trace rows of each pass it reads the Live turn spans stored since the last pass and
//! broadcasts a provisional summary of each session that has no trace row yet, so a session's
//! final row is always sent after its provisional ones.
//!
//! It holds only a weak reference to the state, so it ends when the last [`AppState`] clone is
//! dropped. A missing or busy database is retried on the next tick.

use super::{RUNNING_MAX, RUNNING_TTL, stats_message, trace_message};
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
                    // Nobody watching: the rows are only counted, not serialised.
                    let watched = inner.live.tx.receiver_count() > 0;
                    for (rowid, t) in rows {
                        last_rowid = Some(rowid);
                        inner.prom.observe(&t);
                        if watched {
                            let _ = inner.live.tx.send(trace_message(&t));
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "Live tailer poll failed."),
            },
        }
        // The statistics read the last hour of traces: only worth their CPU (which the proxy
        // shares) while somebody watches the feed. A client that connects gets fresh ones.
        let watched = inner.live.tx.receiver_count() > 0;
        if watched && last_stats.is_none_or(|t| t.elapsed() >= inner.stats_interval) {
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

/// Remembers and broadcasts running sessions; forgets those silent past [`RUNNING_TTL`] and,
/// beyond [`RUNNING_MAX`], the ones silent longest. Every one forgotten is counted.
fn running(inner: &Inner, sessions: Vec<TraceSummary>) {
    let now = Instant::now();
    if let Ok(mut map) = inner.live.running.lock() {
        let before = map.len();
        map.retain(|_, (_, seen)| now.duration_since(*seen) < RUNNING_TTL);
        let mut evicted = before - map.len();
        for t in &sessions {
            map.insert(t.trace_id.clone(), (t.clone(), now));
        }
        if map.len() > RUNNING_MAX {
            let mut by_age: Vec<(Instant, String)> = map
                .iter()
                .map(|(id, (_, seen))| (*seen, id.clone()))
                .collect();
            by_age.sort_unstable();
            let excess = map.len() - RUNNING_MAX;
            for (_, id) in by_age.into_iter().take(excess) {
                map.remove(&id);
            }
            evicted += excess;
        }
        if evicted > 0 {
            inner
                .live
                .running_evicted
                .fetch_add(evicted as u64, Ordering::Relaxed);
            tracing::debug!(evicted, "Live feed forgot running sessions.");
        }
    }
    if inner.live.tx.receiver_count() > 0 {
        for t in &sessions {
            let _ = inner.live.tx.send(trace_message(t));
        }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn summary(id: usize) -> TraceSummary {
        TraceSummary {
            trace_id: format!("{id:032x}"),
            start_time_unix_nano: id as i64,
            end_time_unix_nano: id as i64 + 1,
            duration_ms: 0.0,
            model: Some("m".repeat(1000)),
            operation: None,
            stream: true,
            status: TraceSummary::RUNNING.to_owned(),
            http_status: None,
            error_type: None,
            input_tokens: None,
            output_tokens: None,
            cached_tokens: None,
            reasoning_tokens: None,
            ttft_ms: None,
            cost_usd: None,
            unpriced: false,
            user_id: None,
            session_id: None,
            request_count: 1,
            breached: false,
        }
    }

    #[test]
    fn running_sessions_are_capped_and_evictions_counted() {
        let state = AppState::from_path("/nonexistent/gateway.db");
        let inner = &state.inner;
        running(inner, (0..RUNNING_MAX).map(summary).collect());
        assert_eq!(inner.live.running.lock().unwrap().len(), RUNNING_MAX);
        assert_eq!(inner.live.running_evicted.load(Ordering::Relaxed), 0);
        // 10 more sessions, in a later pass: the 10 silent longest go (ties by trace id), and
        // are counted.
        running(
            inner,
            (RUNNING_MAX..RUNNING_MAX + 10).map(summary).collect(),
        );
        let map = inner.live.running.lock().unwrap();
        assert_eq!(map.len(), RUNNING_MAX);
        assert!(map.contains_key(&summary(RUNNING_MAX + 9).trace_id));
        drop(map);
        assert_eq!(inner.live.running_evicted.load(Ordering::Relaxed), 10);
        let mut page = String::new();
        inner.live.render(&mut page);
        assert!(
            page.contains("gateway_live_running_evicted_total 10\n"),
            "{page}"
        );
    }
}
