//! The live feed: one tailer per [`AppState`] follows `traces` by rowid (and `spans` by id, for
//! Live API sessions still running) and fans messages out to WebSocket clients through a
//! `tokio::sync::broadcast` channel.
//!
//! Messages are JSON text frames, serialized once by the tailer:
//! - `{"type":"snapshot","traces":[...],"stats":{...}}` once, on connect (with the Live
//!   sessions running at that moment);
//! - `{"type":"trace", ...summary}` for each new trace row, within about a second;
//! - `{"type":"trace", ...summary, "status":"running"}` for a Live API session still open,
//!   each time one of its turns is stored: the sum of its turns so far. The same `trace_id`
//!   comes again with each later turn, and last with its final row when the session ends
//!   (always after its provisional summaries);
//! - `{"type":"stats", ...}` every `stats_interval` (2 s by default), computed only while the
//!   feed has subscribers;
//! - `{"type":"lagged","skipped":n}` when a slow client missed `n` messages (it is moved ahead).

mod tailer;
pub(crate) mod ws;

pub(crate) use tailer::ensure_started;
pub(crate) use ws::live_handler;
pub use ws::run_client;

use axum::extract::ws::Utf8Bytes;
use gateway_store::query::{LiveStats, TraceSummary};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Messages a client may fall behind by before it is skipped ahead.
const CHANNEL_CAPACITY: usize = 1024;

/// Traces in the connect snapshot.
pub const SNAPSHOT_TRACES: u32 = 50;

/// A running Live session without a new turn for this long is forgotten (its gateway stopped
/// under it, so no final row will come). Gemini ends a Live connection well before.
pub(crate) const RUNNING_TTL: Duration = Duration::from_secs(3600);

/// Running Live sessions remembered at most; past it the one silent longest is forgotten (and
/// counted in `gateway_live_running_evicted_total`). Each holds one trace summary (a few
/// hundred bytes, up to a few KB with long names), so the map stays under a few MB.
pub(crate) const RUNNING_MAX: usize = 1024;

/// The fan-out hub.
#[derive(Debug)]
pub(crate) struct Live {
    pub tx: broadcast::Sender<Utf8Bytes>,
    pub started: AtomicBool,
    pub stats: Mutex<Option<Arc<LiveStats>>>,
    /// Live sessions seen running and not ended yet, by trace id: their latest provisional
    /// summary and when it was read. New clients get them in their snapshot.
    pub running: Mutex<HashMap<String, (TraceSummary, Instant)>>,
    /// Running sessions forgotten before their final row: past [`RUNNING_TTL`] or beyond
    /// [`RUNNING_MAX`]. Their final row, if it comes, is still sent and stored.
    pub running_evicted: AtomicU64,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CHANNEL_CAPACITY).0,
            started: AtomicBool::new(false),
            stats: Mutex::new(None),
            running: Mutex::new(HashMap::new()),
            running_evicted: AtomicU64::new(0),
        }
    }
}

impl Live {
    /// The feed's own counters, in OpenMetrics text.
    pub(crate) fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP gateway_live_running_evicted Running Live sessions the live feed forgot \
             before their final row (silent past an hour, or beyond {RUNNING_MAX} at once).\n\
             # TYPE gateway_live_running_evicted counter\n\
             gateway_live_running_evicted_total {}",
            self.running_evicted.load(Ordering::Relaxed)
        );
    }

    /// The running sessions not in `listed`, for a snapshot.
    pub(crate) fn running_except(&self, listed: &[TraceSummary]) -> Vec<TraceSummary> {
        let Ok(running) = self.running.lock() else {
            return Vec::new();
        };
        running
            .values()
            .filter(|(t, _)| !listed.iter().any(|l| l.trace_id == t.trace_id))
            .map(|(t, _)| t.clone())
            .collect()
    }
}

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    r#type: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Serialize)]
struct Snapshot<'a> {
    traces: &'a [TraceSummary],
    stats: Option<&'a LiveStats>,
}

fn tagged<T: Serialize>(kind: &'static str, body: &T) -> Utf8Bytes {
    let text = serde_json::to_string(&Tagged { r#type: kind, body })
        .unwrap_or_else(|e| format!(r#"{{"type":"error","message":"{e}"}}"#));
    Utf8Bytes::from(text)
}

/// `{"type":"trace", ...}`.
pub(crate) fn trace_message(t: &TraceSummary) -> Utf8Bytes {
    tagged("trace", t)
}

/// `{"type":"stats", ...}`.
pub(crate) fn stats_message(s: &LiveStats) -> Utf8Bytes {
    tagged("stats", s)
}

/// `{"type":"snapshot", "traces": [...], "stats": {...}}`.
pub(crate) fn snapshot_message(traces: &[TraceSummary], stats: Option<&LiveStats>) -> Utf8Bytes {
    tagged("snapshot", &Snapshot { traces, stats })
}

/// `{"type":"lagged","skipped":n}`.
pub(crate) fn lagged_message(skipped: u64) -> Utf8Bytes {
    Utf8Bytes::from(format!(r#"{{"type":"lagged","skipped":{skipped}}}"#))
}
