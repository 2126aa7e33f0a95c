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
//!
//! At shutdown the queue gets a deadline ([`Completions::skip_hooks_after`], the end of the
//! grace period): requests finished after it skip the library hooks (counted on their spans as
//! `gateway.plugin.skipped`, as when the queue is full) but still get their spans, cost and
//! snapshots; [`Completions::finish_queued`] finishes what is still queued on the calling
//! thread too, so a hook that never returns holds only the request it runs for.

use crate::ctx::RequestCtx;
use crate::proxy::GatewayProxy;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// After this instant (the end of the shutdown's grace period) library hooks are skipped.
#[derive(Debug, Default)]
struct SkipAfter(Mutex<Option<Instant>>);

impl SkipAfter {
    fn get(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn passed(&self) -> bool {
        self.get().is_some_and(|d| Instant::now() >= d)
    }
}

/// The queue and its thread.
pub struct Completions {
    tx: Sender<Msg>,
    /// The queue's other end, for [`Completions::finish_queued`].
    rx: Receiver<Msg>,
    /// Finishes requests on the caller's thread in [`Completions::finish_queued`].
    proxy: GatewayProxy,
    stats: Arc<CompletionStats>,
    skip_after: Arc<SkipAfter>,
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
        let skip_after = Arc::new(SkipAfter::default());
        let (p, r, s, k) = (proxy.clone(), rx.clone(), stats.clone(), skip_after.clone());
        // Normal priority, unlike the span writers: at background priority a preempted
        // completion holding a lock the proxy needs (metrics, the span queue) cost
        // milliseconds at p99 (measured).
        std::thread::Builder::new()
            .name("completion".into())
            .spawn(move || run(&p, &r, &s, &k))?;
        Ok(Arc::new(Self {
            tx,
            rx,
            proxy,
            stats,
            skip_after,
        }))
    }

    /// From `deadline` on, requests are finished without the library hooks (counted as
    /// `gateway.plugin.skipped` on their spans). Set once: the earliest deadline holds.
    pub fn skip_hooks_after(&self, deadline: Instant) {
        let mut d = self.skip_after.0.lock().unwrap_or_else(|e| e.into_inner());
        *d = Some(d.map_or(deadline, |old| old.min(deadline)));
    }

    /// The deadline set by [`Completions::skip_hooks_after`], if any.
    pub fn hooks_deadline(&self) -> Option<Instant> {
        self.skip_after.get()
    }

    /// Finishes, on the calling thread and without library hooks, every request still queued;
    /// returns how many. For shutdown past the deadline, while the completion thread may be
    /// held by a hook.
    pub fn finish_queued(&self) -> usize {
        let mut n = 0;
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Done(mut ctx) => {
                    self.stats.depth.fetch_sub(1, Ordering::Relaxed);
                    ctx.skip_library_hooks = true;
                    finish_one(&self.proxy, &mut ctx);
                    n += 1;
                }
                Msg::Drain(ack) => {
                    let _ = ack.send(());
                }
            }
        }
        n
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

fn run(proxy: &GatewayProxy, rx: &Receiver<Msg>, stats: &CompletionStats, skip: &SkipAfter) {
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Done(mut ctx) => {
                stats.depth.fetch_sub(1, Ordering::Relaxed);
                if skip.passed() {
                    ctx.skip_library_hooks = true;
                }
                finish_one(proxy, &mut ctx);
            }
            Msg::Drain(ack) => {
                let _ = ack.send(());
            }
        }
    }
}

fn finish_one(proxy: &GatewayProxy, ctx: &mut RequestCtx) {
    // Plugin hooks are isolated already; this keeps the thread alive whatever else.
    let done = std::panic::catch_unwind(AssertUnwindSafe(|| proxy.finish(ctx)));
    if let Err(panic) = done {
        tracing::error!(
            trace_id = %ctx.trace_id,
            panic = gateway_plugin_sdk::panic_message(panic.as_ref()),
            "Finishing a request panicked; its spans may be incomplete."
        );
    }
}
