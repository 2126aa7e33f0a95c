//! Scheduling priority of a writer thread: background while it keeps up, normal under backlog.
//!
//! A writer that shares a core with the proxy must not delay requests: with an ordinary
//! priority the scheduler lets a running batch finish its time slice before a woken proxy
//! thread gets the core, which shows as milliseconds at p99. So the writer runs under
//! `SCHED_IDLE` and any request thread preempts it at once. Idle priority alone would starve
//! the writer on a saturated core, so the producer side promotes it back to normal priority as
//! soon as the queue passes a high-water mark, and the writer demotes itself again once it has
//! drained to a quarter of that.
//!
//! Leaving `SCHED_IDLE` needs `CAP_SYS_NICE` or `RLIMIT_NICE` ≥ 20 on Linux. When a probe at
//! start shows the process cannot do it, the writer simply stays at normal priority. Other
//! systems always use normal priority.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Shared between the producers (proxy threads) and the writer thread.
#[derive(Debug)]
pub(crate) struct Priority {
    enabled: bool,
    high: u64,
    tid: AtomicI32,
    boosted: AtomicBool,
}

impl Priority {
    /// `wanted`: whether to use background priority at all; `high`: queue depth that promotes.
    pub(crate) fn new(wanted: bool, high: u64) -> Self {
        Self {
            enabled: wanted && sys::can_leave_idle(),
            high: high.max(1),
            tid: AtomicI32::new(0),
            boosted: AtomicBool::new(false),
        }
    }

    /// Whether the writer runs at background priority while it keeps up.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Called once on the writer thread before its first batch.
    pub(crate) fn writer_started(&self) {
        if self.enabled {
            self.tid.store(sys::gettid(), Ordering::Release);
            sys::set_idle(0, true);
        }
    }

    /// Called by a producer after queueing; promotes the writer when the backlog is high.
    /// Returns true when this call promoted it.
    #[inline]
    pub(crate) fn on_depth(&self, depth: u64) -> bool {
        if !self.enabled || depth < self.high || self.boosted.swap(true, Ordering::AcqRel) {
            return false;
        }
        let tid = self.tid.load(Ordering::Acquire);
        tid != 0 && sys::set_idle(tid, false)
    }

    /// Called by the writer after a batch; back to background once drained.
    pub(crate) fn after_batch(&self, depth: u64) {
        if self.enabled && depth <= self.high / 4 && self.boosted.load(Ordering::Acquire) {
            sys::set_idle(0, true);
            self.boosted.store(false, Ordering::Release);
        }
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // two libc scheduler calls, nothing else
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

    pub(super) fn gettid() -> i32 {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    }

    /// Tries idle and back on a short-lived thread, so a failure strands nobody.
    pub(super) fn can_leave_idle() -> bool {
        std::thread::Builder::new()
            .name("priority-probe".into())
            .spawn(|| set_idle(0, true) && set_idle(0, false))
            .ok()
            .and_then(|t| t.join().ok())
            .unwrap_or(false)
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    pub(super) fn set_idle(_tid: i32, _idle: bool) -> bool {
        false
    }

    pub(super) fn gettid() -> i32 {
        0
    }

    pub(super) fn can_leave_idle() -> bool {
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
#[allow(unsafe_code, clippy::unwrap_used)] // reads the scheduling policy back
mod tests {
    use super::*;

    fn policy_of(tid: i32) -> i32 {
        // SAFETY: plain syscall on a thread id of this process.
        unsafe { libc::sched_getscheduler(tid) }
    }

    /// Needs CAP_SYS_NICE (root in CI): `#[ignore]`d so a plain `cargo test` counts it as
    /// ignored; `scripts/test.sh` runs it with `--include-ignored`, where it fails, never
    /// passes, if the capability is missing.
    #[test]
    #[ignore = "needs CAP_SYS_NICE (run by scripts/test.sh with --include-ignored)"]
    fn backlog_promotes_and_drain_demotes() {
        let p = std::sync::Arc::new(Priority::new(true, 8));
        assert!(
            p.enabled(),
            "this process may not leave SCHED_IDLE (no CAP_SYS_NICE): run as root"
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<u64>();
        let writer = {
            let p = p.clone();
            std::thread::spawn(move || {
                p.writer_started();
                tx.send(policy_of(0)).unwrap();
                while let Ok(depth) = go_rx.recv() {
                    p.after_batch(depth);
                    tx.send(policy_of(0)).unwrap();
                }
            })
        };
        assert_eq!(rx.recv().unwrap(), libc::SCHED_IDLE);
        assert!(!p.on_depth(7));
        assert_eq!(policy_of(p.tid.load(Ordering::Acquire)), libc::SCHED_IDLE);
        assert!(p.on_depth(8));
        assert!(!p.on_depth(9), "promotes once per backlog");
        assert_eq!(policy_of(p.tid.load(Ordering::Acquire)), libc::SCHED_OTHER);
        go_tx.send(5).unwrap(); // above high/4: stays normal
        assert_eq!(rx.recv().unwrap(), libc::SCHED_OTHER);
        go_tx.send(2).unwrap();
        assert_eq!(rx.recv().unwrap(), libc::SCHED_IDLE);
        drop(go_tx);
        writer.join().unwrap();
    }

    #[test]
    fn disabled_keeps_normal_priority() {
        let p = Priority::new(false, 1);
        std::thread::scope(|s| {
            s.spawn(|| {
                p.writer_started();
                assert!(!p.on_depth(100));
                assert_eq!(policy_of(0), libc::SCHED_OTHER);
            });
        });
    }
}
