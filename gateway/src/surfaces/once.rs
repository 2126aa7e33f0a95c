//! Meter-once bookkeeping for deferred work (a background interaction, a batch job, a batch
//! results file): the ids whose usage was already metered, bounded and oldest-first evicted,
//! one set per kind.
//!
//! The sets live in memory, and a SIGHUP reload leaves them as they are (it swaps the
//! reloadable configuration, not these). So that a restart does not meter an id again,
//! [`restore`] fills them before the gateway serves, from the LLM spans of the SQLite store
//! that say an id was metered (or already metered): the spans of the retention period, the
//! newest [`CAPACITY`] ids per set (`gateway_store::query::OnceKind` says what marks each).
//! The request path only ever touches memory.

use gateway_store::query::{OnceKind, Reader};
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Ids kept per set; past it the oldest are forgotten (a poll that old meters again).
pub const CAPACITY: usize = 200_000;

/// Interactions whose usage was metered, by interaction id.
pub(super) static INTERACTIONS: MeteredOnce = MeteredOnce::new("interactions");
/// Batch jobs whose inlined responses were metered, by `batches/{id}`.
pub(super) static BATCH_JOBS: MeteredOnce = MeteredOnce::new("batch_jobs");
/// Results files whose lines were metered on a download, by `files/{id}`.
pub(super) static BATCH_FILES: MeteredOnce = MeteredOnce::new("batch_files");
/// Results files a job poll announced (`responsesFile`), by `files/{id}`: an unreadable
/// download of one of them is flagged, not taken for an ordinary free file.
pub(super) static ANNOUNCED_FILES: MeteredOnce = MeteredOnce::new("announced_files");

/// A bounded set of metered ids.
pub struct MeteredOnce {
    name: &'static str,
    inner: Mutex<Option<(HashSet<String>, VecDeque<String>)>>,
    evicted: AtomicU64,
}

impl MeteredOnce {
    /// An empty set (usable in a `static`); `name` is for logs.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            inner: Mutex::new(None),
            evicted: AtomicU64::new(0),
        }
    }

    /// Records `id` as metered; `false` when it already was.
    pub fn first(&self, id: &str) -> bool {
        self.insert(id, CAPACITY)
    }

    fn insert(&self, id: &str, capacity: usize) -> bool {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (ids, order) = guard.get_or_insert_with(Default::default);
        if ids.contains(id) {
            return false;
        }
        if order.len() >= capacity
            && let Some(old) = order.pop_front()
        {
            ids.remove(&old);
            // Stated at the 1st, 10th, 100th, … id forgotten, with the running count.
            let evicted = self.evicted.fetch_add(1, Ordering::Relaxed) + 1;
            if evicted == 10u64.pow(evicted.ilog10()) {
                tracing::warn!(
                    set = self.name,
                    capacity,
                    evicted,
                    "Meter-once set full: the oldest ids are forgotten (a later poll of one is \
                     metered again)."
                );
            }
        }
        ids.insert(id.to_owned());
        order.push_back(id.to_owned());
        true
    }

    /// Whether `id` was recorded (and not forgotten since).
    pub fn contains(&self, id: &str) -> bool {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().is_some_and(|(ids, _)| ids.contains(id))
    }

    /// Ids forgotten because the set was full.
    #[cfg(test)]
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Ids held now.
    pub fn len(&self) -> usize {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map_or(0, |(ids, _)| ids.len())
    }

    /// Records `ids`, oldest first, as metered.
    fn extend(&self, ids: &[String]) {
        for id in ids {
            self.insert(id, CAPACITY);
        }
    }
}

fn set_of(kind: OnceKind) -> &'static MeteredOnce {
    match kind {
        OnceKind::Interaction => &INTERACTIONS,
        OnceKind::BatchJob => &BATCH_JOBS,
        OnceKind::BatchFile => &BATCH_FILES,
        OnceKind::AnnouncedFile => &ANNOUNCED_FILES,
    }
}

/// Nanoseconds in a day.
const DAY_NS: i64 = 86_400_000_000_000;

/// Fills the sets from the SQLite store, before the gateway serves (see the module docs). A
/// store that is off or cannot be read leaves them empty, with a warning: ids metered before
/// this start may then be metered again.
pub fn restore(config: &crate::config::Config) {
    if !config.builtins.sqlite {
        return;
    }
    let storage = &config.storage;
    let started = Instant::now();
    let reader = match Reader::open(
        &storage.path,
        Duration::from_millis(storage.busy_timeout_ms),
    ) {
        Ok(r) => r,
        Err(error) => {
            tracing::warn!(%error, "Cannot read the metered ids back: ids metered before this \
                start may be metered again.");
            return;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let since = match i64::try_from(storage.retention_days) {
        Ok(0) | Err(_) => i64::MIN,
        Ok(days) => now.saturating_sub(days.saturating_mul(DAY_NS)),
    };
    for kind in OnceKind::ALL {
        match reader.metered_ids(kind, since, CAPACITY) {
            Ok(found) => {
                set_of(kind).extend(&found.ids);
                if found.not_loaded > 0 {
                    tracing::warn!(
                        set = kind.name(),
                        loaded = found.ids.len(),
                        not_loaded = found.not_loaded,
                        capacity = CAPACITY,
                        "More metered ids in the database than the set holds: the oldest were \
                         not loaded (a later poll of one is metered again)."
                    );
                }
            }
            Err(error) => tracing::warn!(
                set = kind.name(),
                %error,
                "Cannot read the metered ids back: ids metered before this start may be \
                 metered again."
            ),
        }
    }
    tracing::info!(
        interactions = INTERACTIONS.len(),
        batch_jobs = BATCH_JOBS.len(),
        batch_files = BATCH_FILES.len(),
        ms = started.elapsed().as_millis() as u64,
        "Metered-once ids read back from the database."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_metered_once() {
        let s = MeteredOnce::new("t");
        assert!(s.first("a"));
        assert!(!s.first("a"));
        assert!(s.first("b"));
        assert!(s.contains("a") && !s.contains("c"));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn a_full_set_forgets_the_oldest_and_counts_it() {
        let s = MeteredOnce::new("t");
        s.extend(&["a".to_owned(), "b".to_owned()]);
        assert!(s.insert("c", 3));
        assert_eq!(s.evicted(), 0);
        assert!(s.insert("d", 3));
        assert_eq!(s.evicted(), 1);
        assert!(!s.contains("a"), "the oldest goes first");
        assert!(s.contains("b") && s.contains("c") && s.contains("d"));
        assert!(s.insert("a", 3), "a forgotten id is metered again");
        assert_eq!(s.evicted(), 2);
    }
}
