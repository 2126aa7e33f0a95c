//! Scheduling priority of a writer thread: background while it keeps up, normal under backlog,
//! and high when its queue is about to overflow.
//!
//! A writer that shares a core with the proxy must not delay requests: with an ordinary
//! priority the scheduler lets a running batch finish its time slice before a woken proxy
//! thread gets the core, which shows as milliseconds at p99. So the writer runs under
//! `SCHED_IDLE` and any request thread preempts it at once. Idle priority alone would starve
//! the writer on a saturated core, so the producer side promotes it back to normal priority as
//! soon as the queue passes a high-water mark, and the writer demotes itself again once it has
//! drained to a quarter of that. A high-water mark alone would leave a few spans unwritten for as
//! long as other processes keep every core busy (light traffic on a loaded machine), so a
//! producer also promotes the writer when it has not started a batch for [`STALE_MS`] while
//! spans wait.
//!
//! Normal priority is not enough when the machine is saturated for long: the writer then gets
//! one share of the cores among the proxy threads, the clients and the upstream, stores fewer
//! traces than the proxy answers, and the queue overflows (spans dropped and counted). So when
//! the queue is half full, in spans or in bytes, the writer is raised to nice [`URGENT_NICE`]:
//! it takes the core it needs and the proxy answers only as fast as the traces can be stored.
//! That is the one place where observation slows the data path, and only under sustained
//! overload; a burst shorter than the queue never gets there. The writer goes back to normal
//! priority once the queue is down to an eighth.
//!
//! Under sustained overload that cycle repeats every second or two: drained, the writer goes
//! back to the background, falls behind at once, and is raised again only when the queue is half
//! full, each time with half a queue (a few tenths of a second of traffic) between it and
//! dropped spans; one slow `fsync` there drops spans. So for [`RECENT_URGENT_MS`] after an urgent
//! promotion, the high-water mark raises the writer straight to the high level.
//!
//! Leaving `SCHED_IDLE` and a negative nice need `CAP_SYS_NICE` or `RLIMIT_NICE` on Linux. When a
//! probe at start shows the process cannot leave `SCHED_IDLE`, the writer simply stays at normal
//! priority; when it cannot lower its nice value, the high level is the normal one. Other
//! systems always use normal priority.
//!
//! In the background the writer also stays on one core, with the checkpoint thread, which is
//! then at background priority too ([`crate::affinity`]); raised, it may use them all, and the
//! checkpoint thread is at normal priority.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU64, Ordering};

/// The nice value of a writer whose queue is half full (`-10`: about nine times the weight of
/// an ordinary thread, so the one writer thread gets a core when it needs one).
pub(crate) const URGENT_NICE: i32 = -10;

/// Milliseconds without the writer starting a batch, while spans wait, after which a producer
/// promotes it to normal priority.
pub(crate) const STALE_MS: u64 = 1_000;

/// Milliseconds after an urgent promotion during which the high-water mark promotes to the high
/// level rather than to normal priority (see the module documentation).
pub(crate) const RECENT_URGENT_MS: u64 = 5_000;

/// The writer's scheduling levels, in order.
const IDLE: u8 = 0;
const NORMAL: u8 = 1;
const URGENT: u8 = 2;

/// Shared between the producers (proxy threads) and the writer thread.
#[derive(Debug)]
pub(crate) struct Priority {
    enabled: bool,
    can_urgent: bool,
    high: u64,
    capacity: u64,
    bytes: u64,
    tid: AtomicI32,
    level: AtomicU8,
    /// When the writer last started a batch, milliseconds since the Unix epoch.
    started_batch_ms: AtomicU64,
    /// The end of the span whose queueing last raised the writer to the high level
    /// (milliseconds since the Unix epoch, at least 1), or 0 if none did.
    urgent_ms: AtomicU64,
    /// Held while a level is changed, so that the scheduler sees changes in the order of
    /// `level`.
    change: Mutex<()>,
}

/// What a producer's [`Priority::on_queue`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Raised {
    /// Nothing changed.
    No,
    /// From background to normal priority.
    Normal,
    /// To the high level (nice [`URGENT_NICE`]).
    Urgent,
}

impl Priority {
    /// `wanted`: whether to use background priority at all; `high`: queue depth that promotes to
    /// normal; `capacity` and `bytes`: the queue's bounds, half of either promotes to urgent.
    pub(crate) fn new(wanted: bool, high: u64, capacity: u64, bytes: u64) -> Self {
        let (can_leave_idle, can_urgent) = capabilities();
        Self {
            enabled: wanted && can_leave_idle,
            can_urgent,
            high: high.max(1),
            capacity: capacity.max(2),
            bytes: bytes.max(2),
            tid: AtomicI32::new(0),
            level: AtomicU8::new(NORMAL),
            started_batch_ms: AtomicU64::new(0),
            urgent_ms: AtomicU64::new(0),
            change: Mutex::new(()),
        }
    }

    /// Whether the writer runs at background priority while it keeps up.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Called once on the writer thread before its first batch.
    pub(crate) fn writer_started(&self) {
        self.batch_started(unix_ms(std::time::SystemTime::now()));
        self.tid.store(sys::gettid(), Ordering::Release);
        if self.enabled {
            let _guard = self.change.lock().unwrap_or_else(|e| e.into_inner());
            crate::affinity::place(0, true);
            self.level.store(IDLE, Ordering::Release);
        }
    }

    /// Called by the writer when it starts a batch, at `now_ms` (milliseconds since the Unix
    /// epoch).
    pub(crate) fn batch_started(&self, now_ms: u64) {
        self.started_batch_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Called by a producer after queueing, with the queue's depth in spans and bytes and the
    /// queued span's end (milliseconds since the Unix epoch); raises the writer's level when the
    /// backlog, or a writer that has not started a batch for [`STALE_MS`], asks for it. Cheap
    /// when nothing changes: two loads.
    #[inline]
    pub(crate) fn on_queue(&self, depth: u64, bytes: u64, end_ms: u64) -> Raised {
        let stale = || end_ms > self.started_batch_ms.load(Ordering::Relaxed) + STALE_MS;
        let recent_urgent = || {
            let at = self.urgent_ms.load(Ordering::Relaxed);
            at != 0 && end_ms < at.saturating_add(RECENT_URGENT_MS)
        };
        let want = if self.can_urgent
            && (depth >= self.capacity / 2
                || bytes >= self.bytes / 2
                || (depth >= self.high && recent_urgent()))
        {
            URGENT
        } else if self.enabled && (depth >= self.high || stale()) {
            NORMAL
        } else {
            return Raised::No;
        };
        if self.level.load(Ordering::Acquire) >= want {
            return Raised::No;
        }
        let tid = self.tid.load(Ordering::Acquire);
        if tid == 0 {
            return Raised::No;
        }
        let _guard = self.change.lock().unwrap_or_else(|e| e.into_inner());
        let from = self.level.load(Ordering::Acquire);
        if from >= want {
            return Raised::No;
        }
        self.apply(tid, from, want);
        if want == URGENT {
            self.urgent_ms.store(end_ms.max(1), Ordering::Relaxed);
            Raised::Urgent
        } else {
            Raised::Normal
        }
    }

    /// Called by the writer after a batch, with what is still queued: back to normal once the
    /// queue is down to an eighth, and to background once drained to a quarter of `high`.
    pub(crate) fn after_batch(&self, depth: u64, bytes: u64) {
        let from = self.level.load(Ordering::Acquire);
        let want = if self.enabled && depth <= self.high / 4 {
            IDLE
        } else if depth <= self.capacity / 8 && bytes <= self.bytes / 8 {
            NORMAL
        } else {
            URGENT
        };
        if want >= from {
            return;
        }
        let _guard = self.change.lock().unwrap_or_else(|e| e.into_inner());
        let from = self.level.load(Ordering::Acquire);
        if want < from {
            self.apply(0, from, want);
        }
    }

    /// Moves thread `tid` (0: the calling thread) from level `from` to `want`; called with
    /// `change` held.
    fn apply(&self, tid: i32, from: u8, want: u8) {
        if from == URGENT {
            sys::set_nice(tid, 0);
        }
        match want {
            IDLE => {
                // In the background the writer shares one core with the checkpoint thread.
                crate::affinity::place(tid, true);
                crate::affinity::writer_lowered();
            }
            _ => {
                if from == IDLE {
                    crate::affinity::place(tid, false);
                    crate::affinity::writer_raised();
                }
                if want == URGENT {
                    sys::set_nice(tid, URGENT_NICE);
                }
            }
        }
        self.level.store(want, Ordering::Release);
    }
}

/// What this process may do: (leave `SCHED_IDLE`, set the high level's nice value), probed
/// once.
fn capabilities() -> (bool, bool) {
    static PROBED: std::sync::OnceLock<(bool, bool)> = std::sync::OnceLock::new();
    *PROBED.get_or_init(sys::probe)
}

/// Puts thread `tid` (0: the calling thread) at background priority (`SCHED_IDLE`) or back at
/// normal priority; only where the process may leave `SCHED_IDLE` again, as for the writer.
pub(crate) fn set_background(tid: i32, background: bool) -> bool {
    capabilities().0 && sys::set_idle(tid, background)
}

/// Whether this process may leave `SCHED_IDLE` again (and so uses it).
#[cfg(test)]
pub(crate) fn can_leave_idle() -> bool {
    capabilities().0
}

/// The calling thread's id (0 where there is none).
pub(crate) fn gettid() -> i32 {
    sys::gettid()
}

/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // three libc scheduler calls, nothing else
mod sys {
    /// Switches thread `tid` (0: the calling thread) to `SCHED_IDLE` or back to `SCHED_OTHER`.
    pub(super) fn set_idle(tid: i32, idle: bool) -> bool {
        let policy = if idle {
            libc::SCHED_IDLE
        } else {
            libc::SCHED_OTHER
        };
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain syscall on a thread id of this process with a valid parameter struct.
        unsafe { libc::sched_setscheduler(tid, policy, &param) == 0 }
    }

    /// Sets the nice value of thread `tid` (0: the calling thread).
    pub(super) fn set_nice(tid: i32, nice: i32) -> bool {
        let who = if tid == 0 { gettid() } else { tid };
        // SAFETY: plain syscall on a thread id of this process; on Linux `PRIO_PROCESS` with a
        // thread id applies to that thread only.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, who as libc::id_t, nice) == 0 }
    }

    pub(super) fn gettid() -> i32 {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    }

    /// What this process may do, tried and undone on one short-lived thread so that a failure
    /// strands nobody: (leave `SCHED_IDLE`, set the high level's nice value).
    pub(super) fn probe() -> (bool, bool) {
        std::thread::Builder::new()
            .name("priority-probe".into())
            .spawn(|| {
                (
                    set_idle(0, true) && set_idle(0, false),
                    set_nice(0, super::URGENT_NICE) && set_nice(0, 0),
                )
            })
            .ok()
            .and_then(|t| t.join().ok())
            .unwrap_or((false, false))
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    pub(super) fn set_idle(_tid: i32, _idle: bool) -> bool {
        false
    }

    pub(super) fn set_nice(_tid: i32, _nice: i32) -> bool {
        false
    }

    pub(super) fn gettid() -> i32 {
        0
    }

    pub(super) fn probe() -> (bool, bool) {
        (false, false)
    }
}

#[cfg(all(test, target_os = "linux"))]
#[allow(unsafe_code, clippy::unwrap_used)] // reads the scheduling policy and nice value back
mod tests {
    use super::*;
    use crate::affinity::tests::cores_of;

    fn policy_of(tid: i32) -> i32 {
        // SAFETY: plain syscall on a thread id of this process.
        unsafe { libc::sched_getscheduler(tid) }
    }

    fn nice_of(tid: i32) -> i32 {
        // SAFETY: plain syscall on a thread id of this process.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) }
    }

    /// What the test sends a writer thread (depth, bytes), what it answers (policy, nice), and
    /// the thread.
    type Writer = (
        std::sync::mpsc::Sender<(u64, u64)>,
        std::sync::mpsc::Receiver<(i32, i32)>,
        std::thread::JoinHandle<()>,
    );

    /// A writer thread that reports its (policy, nice) at start and after each `after_batch`
    /// with the (depth, bytes) it is sent.
    fn writer(p: &std::sync::Arc<Priority>) -> Writer {
        let (tx, rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<(u64, u64)>();
        let p = p.clone();
        let handle = std::thread::spawn(move || {
            p.writer_started();
            tx.send((policy_of(0), nice_of(0))).unwrap();
            while let Ok((depth, bytes)) = go_rx.recv() {
                p.after_batch(depth, bytes);
                tx.send((policy_of(0), nice_of(0))).unwrap();
            }
        });
        (go_tx, rx, handle)
    }

    /// Needs CAP_SYS_NICE (root in CI): `#[ignore]`d so a plain `cargo test` counts it as
    /// ignored; `scripts/test.sh` runs it with `--include-ignored`, where it fails, never
    /// passes, if the capability is missing.
    #[test]
    #[ignore = "needs CAP_SYS_NICE (run by scripts/test.sh with --include-ignored)"]
    fn backlog_promotes_and_drain_demotes() {
        let p = std::sync::Arc::new(Priority::new(true, 8, 64, 1 << 20));
        assert!(
            p.enabled() && p.can_urgent,
            "this process may not leave SCHED_IDLE or lower its nice value (no CAP_SYS_NICE): \
             run as root"
        );
        let all = cores_of(0);
        // In the background the writer keeps to one core (crate::affinity), when there are two.
        let background = if all >= 2 { 1 } else { all };
        let (go, got, handle) = writer(&p);
        let tid = || p.tid.load(Ordering::Acquire);
        let now = || (policy_of(tid()), nice_of(tid()));
        assert_eq!(got.recv().unwrap(), (libc::SCHED_IDLE, 0));
        assert_eq!(cores_of(tid()), background);
        assert_eq!(p.on_queue(7, 0, 0), Raised::No);
        assert_eq!(now(), (libc::SCHED_IDLE, 0));
        assert_eq!(p.on_queue(8, 0, 0), Raised::Normal);
        assert_eq!(p.on_queue(9, 0, 0), Raised::No, "promotes once per backlog");
        assert_eq!(now(), (libc::SCHED_OTHER, 0));
        assert_eq!(cores_of(tid()), all, "raised, it may use every core");
        // Half the queue's capacity in spans: the high level.
        assert_eq!(p.on_queue(32, 0, 0), Raised::Urgent);
        assert_eq!(p.on_queue(40, 0, 0), Raised::No);
        assert_eq!(now(), (libc::SCHED_OTHER, URGENT_NICE));
        go.send((9, 0)).unwrap(); // above an eighth: stays high
        assert_eq!(got.recv().unwrap(), (libc::SCHED_OTHER, URGENT_NICE));
        go.send((8, 1 << 18)).unwrap(); // an eighth in spans, not in bytes: stays high
        assert_eq!(got.recv().unwrap(), (libc::SCHED_OTHER, URGENT_NICE));
        go.send((8, 0)).unwrap();
        assert_eq!(got.recv().unwrap(), (libc::SCHED_OTHER, 0));
        go.send((5, 0)).unwrap(); // above high/4: stays normal
        assert_eq!(got.recv().unwrap(), (libc::SCHED_OTHER, 0));
        go.send((2, 0)).unwrap();
        assert_eq!(got.recv().unwrap(), (libc::SCHED_IDLE, 0));
        assert_eq!(cores_of(tid()), background);
        // Half the queue's bytes, from background straight to the high level, and down again.
        assert_eq!(p.on_queue(1, 1 << 19, 0), Raised::Urgent);
        assert_eq!(now(), (libc::SCHED_OTHER, URGENT_NICE));
        go.send((0, 0)).unwrap();
        assert_eq!(got.recv().unwrap(), (libc::SCHED_IDLE, 0));
        // One span, but the writer has not started a batch for longer than STALE_MS.
        p.batch_started(10_000);
        assert_eq!(p.on_queue(1, 0, 10_000 + STALE_MS), Raised::No);
        assert_eq!(p.on_queue(1, 0, 10_001 + STALE_MS), Raised::Normal);
        assert_eq!(now(), (libc::SCHED_OTHER, 0));
        go.send((0, 0)).unwrap();
        assert_eq!(got.recv().unwrap(), (libc::SCHED_IDLE, 0));
        drop(go);
        handle.join().unwrap();
    }

    /// Needs CAP_SYS_NICE, as [`backlog_promotes_and_drain_demotes`].
    #[test]
    #[ignore = "needs CAP_SYS_NICE (run by scripts/test.sh with --include-ignored)"]
    fn after_an_urgent_promotion_the_high_water_mark_promotes_to_the_high_level() {
        let p = std::sync::Arc::new(Priority::new(true, 8, 64, 1 << 20));
        assert!(p.enabled() && p.can_urgent, "no CAP_SYS_NICE: run as root");
        let (go, got, handle) = writer(&p);
        let tid = || p.tid.load(Ordering::Acquire);
        let now = || (policy_of(tid()), nice_of(tid()));
        assert_eq!(got.recv().unwrap(), (libc::SCHED_IDLE, 0));
        let t = 1_000_000;
        p.batch_started(t + 3 * RECENT_URGENT_MS);
        // Before any urgent promotion: the high-water mark gives normal priority.
        assert_eq!(p.on_queue(8, 0, t), Raised::Normal);
        assert_eq!(p.on_queue(32, 0, t), Raised::Urgent, "half the queue");
        go.send((0, 0)).unwrap();
        assert_eq!(got.recv().unwrap(), (libc::SCHED_IDLE, 0));
        // Within RECENT_URGENT_MS of it: the high level at once.
        assert_eq!(p.on_queue(7, 0, t + 1), Raised::No);
        assert_eq!(p.on_queue(8, 0, t + RECENT_URGENT_MS - 1), Raised::Urgent);
        assert_eq!(now(), (libc::SCHED_OTHER, URGENT_NICE));
        go.send((0, 0)).unwrap();
        assert_eq!(got.recv().unwrap(), (libc::SCHED_IDLE, 0));
        // That promotion was urgent too: the window runs from it.
        let last = t + RECENT_URGENT_MS - 1;
        assert_eq!(
            p.on_queue(8, 0, last + RECENT_URGENT_MS - 1),
            Raised::Urgent
        );
        go.send((0, 0)).unwrap();
        assert_eq!(got.recv().unwrap(), (libc::SCHED_IDLE, 0));
        let last = last + RECENT_URGENT_MS - 1;
        // Past the window: normal priority again.
        assert_eq!(p.on_queue(8, 0, last + RECENT_URGENT_MS), Raised::Normal);
        assert_eq!(now(), (libc::SCHED_OTHER, 0));
        drop(go);
        handle.join().unwrap();
    }

    #[test]
    fn disabled_keeps_normal_priority() {
        let p = Priority::new(false, 1, 64, 1 << 20);
        std::thread::scope(|s| {
            s.spawn(|| {
                p.writer_started();
                assert_eq!(p.on_queue(10, 0, 0), Raised::No);
                assert_eq!(policy_of(0), libc::SCHED_OTHER);
            });
        });
    }
}
