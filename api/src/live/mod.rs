//! The live feed: one tailer per [`AppState`] follows `traces` by rowid and fans messages out
//! to WebSocket clients through a `tokio::sync::broadcast` channel.
//!
//! Messages are JSON text frames, serialized once by the tailer:
//! - `{"type":"snapshot","traces":[...],"stats":{...}}` once, on connect;
//! - `{"type":"trace", ...summary}` for each new trace row, within about a second;
//! - `{"type":"stats", ...}` every `stats_interval` (2 s by default);
//! - `{"type":"lagged","skipped":n}` when a slow client missed `n` messages (it is moved ahead).

mod tailer;
pub(crate) mod ws;

pub(crate) use tailer::ensure_started;
pub(crate) use ws::live_handler;
pub use ws::run_client;

use axum::extract::ws::Utf8Bytes;
use gateway_store::query::{LiveStats, TraceSummary};
use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Messages a client may fall behind by before it is skipped ahead.
const CHANNEL_CAPACITY: usize = 1024;

/// Traces in the connect snapshot.
pub const SNAPSHOT_TRACES: u32 = 50;

/// The fan-out hub.
#[derive(Debug)]
pub(crate) struct Live {
    pub tx: broadcast::Sender<Utf8Bytes>,
    pub started: AtomicBool,
    pub stats: Mutex<Option<Arc<LiveStats>>>,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CHANNEL_CAPACITY).0,
            started: AtomicBool::new(false),
            stats: Mutex::new(None),
        }
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
