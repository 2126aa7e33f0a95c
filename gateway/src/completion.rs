//! Completion off the proxy threads, for configurations that load plugin libraries.
//!
//! The completion hooks of a user's plugin may be slow or block (a network call, a lock). When
//! a plugin library is loaded, pingora's logging phase hands the finished request to a bounded
//! queue and returns, so the worker serves its next request at once; one background thread runs
//! the hooks and builds and ends the spans ([`GatewayProxy::finish`]), and a slow hook delays
//! only that thread. When it is [`INLINE_AT`] requests behind, requests are finished on the
//! proxy thread again and counted: nothing is lost and memory stays bounded.
//!
//! With the built-in plugins only, requests are finished in place: that work is a few tens of
//! µs, and on a saturated core doing it in place is what keeps the proxy from producing spans
//! faster than the SQLite writer persists them (measured: handing it off raised throughput but
//! let the writer's queue, and the memory, grow without bound under closed-loop load).
//!
//! Span times leave the wait in the queue out: post-processing starts when the client had its
//! last byte and lasts as long as the work itself; the wait is the span attribute
//! `gateway.completion.wait_ms`.

use crate::ctx::RequestCtx;
use crate::proxy::GatewayProxy;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Requests that may wait for completion; from this depth on they are finished in place.
pub const INLINE_AT: usize = 256;

/// Counters shown on `/metrics`.
#[derive(Debug, Default)]
pub struct CompletionStats {
    /// Requests finished on a proxy thread because the queue was [`INLINE_AT`] deep.
    pub inline: AtomicU64,
    depth: AtomicU64,
}

impl CompletionStats {
    /// Requests waiting now.
    pub fn queue_depth(&self) -> u64 {
        self.depth.load(Ordering::Relaxed)
    }
}

enum Msg {
    Done(Box<RequestCtx>),
    Drain(Sender<()>),
}

/// The queue and its thread.
pub struct Completions {
    tx: Sender<Msg>,
    stats: Arc<CompletionStats>,
}

impl std::fmt::Debug for Completions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completions")
            .field("stats", &self.stats)
            .finish()
    }
}

impl Completions {
    /// Starts the completion thread; `proxy` finishes requests there (its own `completions`
    /// must be `None`).
    pub fn start(proxy: GatewayProxy, capacity: usize) -> std::io::Result<Arc<Self>> {
        let (tx, rx) = bounded(capacity.max(1));
        let stats = Arc::new(CompletionStats::default());
        let s = stats.clone();
        // Normal priority, unlike the span writers: at background priority a preempted
        // completion holding a lock the proxy needs (metrics, the span queue) cost
        // milliseconds at p99 (measured).
        std::thread::Builder::new()
            .name("completion".into())
            .spawn(move || run(&proxy, &rx, &s))?;
        Ok(Arc::new(Self { tx, stats }))
    }

    /// The counters.
    pub fn stats(&self) -> Arc<CompletionStats> {
        self.stats.clone()
    }

    /// Queues a finished request. Returns it back when the queue is full: the caller finishes
    /// it in place.
    pub fn submit(&self, ctx: &mut RequestCtx) -> Option<Box<RequestCtx>> {
        ctx.handoff = Some(Instant::now());
        let fresh = RequestCtx::new(ctx.rt.clone());
        let job = Box::new(std::mem::replace(ctx, fresh));
        // Counted before sending, so the thread's decrement never runs first.
        self.stats.depth.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(Msg::Done(job)) {
            Ok(()) => None,
            Err(
                TrySendError::Full(Msg::Done(job)) | TrySendError::Disconnected(Msg::Done(job)),
            ) => {
                self.stats.depth.fetch_sub(1, Ordering::Relaxed);
                self.stats.inline.fetch_add(1, Ordering::Relaxed);
                Some(job)
            }
            Err(_) => None,
        }
    }

    /// Waits until every request queued so far is finished (at shutdown, before the span
    /// exporters flush). False if that took longer than `timeout`.
    pub fn drain(&self, timeout: Duration) -> bool {
        let (ack_tx, ack_rx) = bounded(1);
        self.tx.send_timeout(Msg::Drain(ack_tx), timeout).is_ok()
            && ack_rx.recv_timeout(timeout).is_ok()
    }
}

fn run(proxy: &GatewayProxy, rx: &Receiver<Msg>, stats: &CompletionStats) {
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Done(mut ctx) => {
                stats.depth.fetch_sub(1, Ordering::Relaxed);
                // Plugin hooks are isolated already; this keeps the thread alive whatever else.
                let done = std::panic::catch_unwind(AssertUnwindSafe(|| proxy.finish(&mut ctx)));
                if let Err(panic) = done {
                    tracing::error!(
                        trace_id = %ctx.trace_id,
                        panic = gateway_plugin_sdk::panic_message(panic.as_ref()),
                        "Finishing a request panicked; its spans may be incomplete."
                    );
                }
            }
            Msg::Drain(ack) => {
                let _ = ack.send(());
            }
        }
    }
}
