//! One core for background persistence.
//!
//! At concurrency 1 on a two-core machine the writer and the WAL checkpoint thread, left free,
//! ran on both cores at once: every step of a request (client, proxy thread, upstream) then
//! had to take a core from one of them, and on a kernel that preempts only at the next tick or
//! system call (`PREEMPT_NONE`, the common server setting) that cost up to a tick. The added
//! p99 was about 2 ms. Kept on one core together, they leave the other to the requests: p99
//! 0.31–0.39 ms (docs/benchmarks.md). Pinning only one of the two did not help.
//!
//! The core is the last one this process may use at start. The writer stays on it while it runs
//! at background priority ([`crate::priority`]) and gets every core back when a backlog raises
//! it; the checkpoint thread follows, at each checkpoint. A process allowed a single core pins
//! nothing.

#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // sched_getaffinity / sched_setaffinity and libc's CPU_* helpers
mod sys {
    use std::sync::OnceLock;

    /// The process's CPU set at start and the core kept for persistence, when it has two or
    /// more cores.
    fn cores() -> Option<&'static (libc::cpu_set_t, usize)> {
        static CORES: OnceLock<Option<(libc::cpu_set_t, usize)>> = OnceLock::new();
        CORES
            .get_or_init(|| {
                // SAFETY: an all-zero cpu_set_t is a valid empty set.
                let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
                // SAFETY: pid 0 is this process; the size is the set's.
                let ok = unsafe {
                    libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set)
                } == 0;
                // SAFETY: reads a valid, initialised set.
                let count = unsafe { libc::CPU_COUNT(&set) };
                if !ok || count < 2 {
                    return None;
                }
                let last = (0..libc::CPU_SETSIZE as usize)
                    .rev()
                    // SAFETY: `cpu` is below CPU_SETSIZE.
                    .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })?;
                Some((set, last))
            })
            .as_ref()
    }

    fn set(tid: i32, set: &libc::cpu_set_t) -> bool {
        // SAFETY: a thread id of this process (0: the calling thread) and a valid set.
        unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), set) == 0 }
    }

    /// Keeps thread `tid` (0: the calling thread) on the persistence core.
    pub(crate) fn pin(tid: i32) -> bool {
        let Some((_, core)) = cores() else {
            return false;
        };
        // SAFETY: an all-zero cpu_set_t is a valid empty set; `core` is below CPU_SETSIZE.
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        unsafe { libc::CPU_SET(*core, &mut one) };
        set(tid, &one)
    }

    /// Gives thread `tid` (0: the calling thread) every core the process had at start.
    pub(crate) fn unpin(tid: i32) -> bool {
        cores().is_some_and(|(all, _)| set(tid, all))
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    pub(crate) fn pin(_tid: i32) -> bool {
        false
    }

    pub(crate) fn unpin(_tid: i32) -> bool {
        false
    }
}

pub(crate) use sys::{pin, unpin};

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Writers raised out of the background ([`crate::priority`]) right now, in this process.
static RAISED: AtomicUsize = AtomicUsize::new(0);

/// A writer left the background: persistence may use every core.
pub(crate) fn writer_raised() {
    RAISED.fetch_add(1, Ordering::Relaxed);
}

/// A raised writer is back in the background.
pub(crate) fn writer_lowered() {
    let _ = RAISED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

/// Called by the checkpoint thread before each checkpoint: on the persistence core while every
/// writer is in the background, on every core while one is raised (under a backlog the
/// checkpoints must keep up, or the writer checkpoints itself). A system call only on change.
pub(crate) fn follow_writers() {
    thread_local! {
        static PINNED: Cell<Option<bool>> = const { Cell::new(None) };
    }
    let want = RAISED.load(Ordering::Relaxed) == 0;
    PINNED.with(|pinned| {
        if pinned.get() != Some(want) {
            if want {
                pin(0);
            } else {
                unpin(0);
            }
            pinned.set(Some(want));
        }
    });
}

#[cfg(all(test, target_os = "linux"))]
#[allow(unsafe_code, clippy::unwrap_used)]
pub(crate) mod tests {
    /// How many cores thread `tid` (0: the calling thread) may run on.
    pub(crate) fn cores_of(tid: i32) -> i32 {
        // SAFETY: an all-zero set is valid; a thread id of this process; the set's size.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        assert_eq!(
            unsafe {
                libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set)
            },
            0
        );
        // SAFETY: reads the set just filled.
        unsafe { libc::CPU_COUNT(&set) }
    }

    /// On a machine with two or more cores a pinned thread runs on one, and unpinned gets
    /// them all back; with one core nothing changes.
    #[test]
    fn pin_keeps_one_core_and_unpin_gives_them_back() {
        std::thread::spawn(|| {
            let all = cores_of(0);
            let pinned = super::pin(0);
            assert_eq!(pinned, all >= 2);
            assert_eq!(cores_of(0), if all >= 2 { 1 } else { all });
            assert_eq!(super::unpin(0), all >= 2);
            assert_eq!(cores_of(0), all);
        })
        .join()
        .unwrap();
    }
}
