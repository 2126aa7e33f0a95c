//! WAL checkpoints on a thread of their own, off the writer's.
//!
//! SQLite's automatic checkpoint runs on the connection that commits, once the WAL holds 1,000
//! pages: the writer thread then reads every page back from the WAL, writes it into the database
//! file and waits for both `fsync`s before it takes its next batch. Under load that was an eighth
//! of the writer's time, plus the waits on the disk (`perf` with call graphs and the thread's
//! state, docs/benchmarks.md), and the queue overflowed behind it. With
//! [`Store::checkpoint_in_background`] the writer's connection only signals, after a commit that
//! leaves [`CHECKPOINT_PAGES`] or more in the WAL, and a second connection does the same passive
//! checkpoint on its own thread. If that thread falls behind (starved, or blocked on the disk)
//! and the WAL reaches [`INLINE_PAGES`], the writer checkpoints itself, as SQLite would: the WAL
//! stays bounded either way.
//!
//! The second connection opens the file and its WAL at once, while the writer's connection has
//! them open, so both always work on the same file even if another one is moved to the path
//! later; it never creates a file.

use crate::{Result, Store};
use rusqlite::{Connection, OpenFlags};
use std::ffi::c_int;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// WAL size (pages) after a commit that wakes the checkpoint thread. SQLite's own
/// `wal_autocheckpoint` default is 1,000. With 4,000 a checkpoint copies a page the commits
/// between two checkpoints rewrote (the last leaf of each index, mostly) once for four times
/// as many requests: its bytes per request fell by 5% and its CPU by 15% (`bench/writer_io.py`,
/// docs/benchmarks.md). Below 4,096 frames, the WAL index readers search stays one segment.
pub const CHECKPOINT_PAGES: c_int = 4_000;

/// WAL size (pages) at which the writer checkpoints itself because the checkpoint thread is
/// behind: 64 MiB of 4 KiB pages.
pub const INLINE_PAGES: c_int = 16_000;

/// The checkpoint thread of a [`Store`]; stopped and joined when the store is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    done: Arc<AtomicU64>,
    inline: Arc<AtomicU64>,
}

impl Checkpointer {
    /// Stops the thread after the checkpoint it may be running, and waits for it.
    pub(crate) fn stop(&mut self) {
        self.wake.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Store {
    /// Moves this connection's WAL checkpoints to a thread of their own (see the module
    /// documentation). On error nothing changes: SQLite's automatic checkpoint stays on.
    pub fn checkpoint_in_background(&mut self) -> Result<()> {
        self.checkpoint_in_background_with(|| {})
    }

    /// [`Store::checkpoint_in_background`], running `before_each` on the checkpoint thread
    /// before each checkpoint (the span writer keeps it on the core it writes from while in
    /// the background).
    pub fn checkpoint_in_background_with(
        &mut self,
        before_each: impl Fn() + Send + 'static,
    ) -> Result<()> {
        if self.checkpointer.is_some() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |e| crate::sqlite_err(&path, e);
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        conn.busy_timeout(Duration::from_millis(100)).map_err(err)?;
        // The checkpoint's `fsync`s are those of `synchronous=NORMAL`, as on the writer.
        conn.execute_batch("PRAGMA synchronous=NORMAL")
            .map_err(err)?;
        // Opens the WAL now (see the module documentation), and copies what it holds.
        passive(&conn).map_err(err)?;
        let (wake, woken) = sync_channel::<()>(1);
        let done = Arc::new(AtomicU64::new(0));
        let inline = Arc::new(AtomicU64::new(0));
        let thread = {
            let done = done.clone();
            let path = self.path.clone();
            std::thread::Builder::new()
                .name("sqlite-checkpoint".into())
                .spawn(move || {
                    let mut failing = false;
                    while woken.recv().is_ok() {
                        before_each();
                        match passive(&conn) {
                            Ok(()) => {
                                done.fetch_add(1, Ordering::Relaxed);
                                failing = false;
                            }
                            Err(error) if !failing => {
                                failing = true;
                                tracing::warn!(
                                    path = %path.display(),
                                    %error,
                                    "A WAL checkpoint failed; it is tried again after the next \
                                     commit, and the writer checkpoints itself if the WAL keeps \
                                     growing."
                                );
                            }
                            Err(_) => {}
                        }
                    }
                })
                .map_err(|e| crate::StoreError::Sqlite {
                    path: self.path.clone(),
                    source: rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                        Some(format!("cannot start the checkpoint thread: {e}")),
                    ),
                })?
        };
        let hook_wake = wake.clone();
        let hook_inline = inline.clone();
        let hooked =
            self.conn
                .wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: c_int| {
                    if pages >= INLINE_PAGES {
                        if wal.checkpoint().is_ok() {
                            hook_inline.fetch_add(1, Ordering::Relaxed);
                        }
                    } else if pages >= CHECKPOINT_PAGES {
                        // Full: a wake-up is already pending.
                        if let Err(TrySendError::Disconnected(())) = hook_wake.try_send(()) {
                            let _ = wal.checkpoint();
                        }
                    }
                    Ok(())
                }));
        let mut checkpointer = Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
            done,
            inline,
        };
        if let Err(e) = hooked {
            checkpointer.stop();
            return Err(self.err(e));
        }
        self.checkpointer = Some(checkpointer);
        Ok(())
    }

    /// Checkpoints made by the checkpoint thread, and by the writer itself because that thread
    /// was behind; `(0, 0)` without [`Store::checkpoint_in_background`].
    pub fn checkpoints(&self) -> (u64, u64) {
        self.checkpointer.as_ref().map_or((0, 0), |c| {
            (
                c.done.load(Ordering::Relaxed),
                c.inline.load(Ordering::Relaxed),
            )
        })
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(mut checkpointer) = self.checkpointer.take() {
            // The hook holds a sender too: removed first, so that the thread sees the end.
            let _ = self
                .conn
                .wal_hook(None::<fn(&mut rusqlite::hooks::Wal, c_int) -> _>);
            checkpointer.stop();
        }
    }
}

/// A passive checkpoint (`PRAGMA wal_checkpoint(PASSIVE)`): copies what the WAL holds into the
/// file as far as readers allow, without waiting for them. Also [`Store::checkpoint`].
pub(crate) fn passive(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}
