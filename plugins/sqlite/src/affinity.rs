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
//! it. The checkpoint thread follows, core and priority: at each checkpoint, and at once when a
//! writer is raised. A process allowed a single core pins nothing.

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

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// Where the checkpoint thread stands: on the persistence core and at background priority while
/// every writer is in the background, on every core at normal priority while one is raised.
/// Tests make their own; the process has [`STATE`].
#[derive(Debug, Default)]
pub(crate) struct Followers {
    /// Writers raised out of the background ([`crate::priority`]) right now.
    raised: AtomicUsize,
    /// The checkpoint thread, once it has checkpointed (0 before).
    checkpoint: AtomicI32,
}

/// This process's writers and checkpoint thread.
static STATE: Followers = Followers::new();

impl Followers {
    pub(crate) const fn new() -> Self {
        Self {
            raised: AtomicUsize::new(0),
            checkpoint: AtomicI32::new(0),
        }
    }

    /// A writer left the background: persistence may use every core, and the checkpoint
    /// thread leaves the background at once, even in the middle of a checkpoint (it could
    /// otherwise be starved on the one core while the writer needs its checkpoints).
    pub(crate) fn writer_raised(&self) {
        self.raised.fetch_add(1, Ordering::SeqCst);
        let tid = self.checkpoint.load(Ordering::SeqCst);
        if tid != 0 {
            place(tid, false);
        }
    }

    /// A raised writer is back in the background; the checkpoint thread follows at its next
    /// checkpoint.
    pub(crate) fn writer_lowered(&self) {
        let _ = self
            .raised
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// Called by the checkpoint thread before each checkpoint (two system calls, against the
    /// thousands of page copies of a checkpoint).
    pub(crate) fn follow(&self) {
        self.checkpoint
            .store(crate::priority::gettid(), Ordering::SeqCst);
        loop {
            let background = self.raised.load(Ordering::SeqCst) == 0;
            place(0, background);
            // A writer raised meanwhile may have placed this thread before it did: again.
            if (self.raised.load(Ordering::SeqCst) == 0) == background {
                return;
            }
        }
    }
}

/// Thread `tid` (0: the calling thread) on the persistence core at background priority, or on
/// every core at normal priority: a writer as [`crate::priority`] moves it, and the checkpoint
/// thread after the writers.
pub(crate) fn place(tid: i32, background: bool) {
    if background {
        crate::priority::set_background(tid, true);
        pin(tid);
    } else {
        unpin(tid);
        crate::priority::set_background(tid, false);
    }
}

/// A writer left the background (see [`Followers::writer_raised`]).
pub(crate) fn writer_raised() {
    STATE.writer_raised();
}

/// A raised writer is back in the background.
pub(crate) fn writer_lowered() {
    STATE.writer_lowered();
}

/// Called by the checkpoint thread before each checkpoint: on the persistence core at
/// background priority while every writer is in the background, on every core at normal
/// priority while one is raised (under a backlog the checkpoints must keep up, or the writer
/// checkpoints itself). At normal priority a checkpoint, which copies thousands of pages at a
/// stretch, made a request thread woken on its core wait: the added p99 at concurrency 1 was
/// about 0.5 ms higher (docs/benchmarks.md).
pub(crate) fn follow_writers() {
    STATE.follow();
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

    /// The checkpoint thread is on one core at background priority while no writer is
    /// raised; a writer raised from another thread moves it to every core at normal priority
    /// at once (as in the middle of a checkpoint), and it stays there at its next checkpoint;
    /// once the writer is lowered, its next checkpoint puts it back.
    #[test]
    fn the_checkpoint_thread_follows_the_writers_core_and_priority() {
        use std::sync::{Arc, mpsc};
        let all = cores_of(0);
        let one = if all >= 2 { 1 } else { all };
        let idle = if crate::priority::can_leave_idle() {
            libc::SCHED_IDLE
        } else {
            libc::SCHED_OTHER
        };
        // SAFETY: plain syscall on a thread id of this process.
        let policy_of = |tid: i32| unsafe { libc::sched_getscheduler(tid) };
        let followers = Arc::new(super::Followers::new());
        let (go, checkpoints) = mpsc::channel::<()>();
        let (report, done) = mpsc::channel::<i32>();
        let thread = std::thread::spawn({
            let followers = followers.clone();
            move || {
                for () in checkpoints {
                    followers.follow();
                    report.send(crate::priority::gettid()).unwrap();
                }
            }
        });
        let checkpoint = || {
            go.send(()).unwrap();
            done.recv().unwrap()
        };
        let tid = checkpoint();
        assert_eq!(
            (policy_of(tid), cores_of(tid)),
            (idle, one),
            "in the background"
        );
        followers.writer_raised();
        assert_eq!(
            (policy_of(tid), cores_of(tid)),
            (libc::SCHED_OTHER, all),
            "raised at once"
        );
        checkpoint();
        assert_eq!((policy_of(tid), cores_of(tid)), (libc::SCHED_OTHER, all));
        followers.writer_lowered();
        checkpoint();
        assert_eq!((policy_of(tid), cores_of(tid)), (idle, one), "back");
        drop(go);
        thread.join().unwrap();
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
