//! Meter-once bookkeeping for deferred work (a background interaction, a batch job, a batch
//! results file): the ids whose usage was already metered, bounded and oldest-first evicted,
//! one set per kind.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Ids kept per set; past it the oldest are forgotten (a poll that old meters again).
pub const CAPACITY: usize = 200_000;

/// A bounded set of metered ids.
pub struct MeteredOnce {
    inner: Mutex<Option<(HashSet<String>, VecDeque<String>)>>,
}

impl MeteredOnce {
    /// An empty set (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            inner: Mutex::new(None),
        }
    }

    /// Records `id` as metered; `false` when it already was.
    pub fn first(&self, id: &str) -> bool {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (ids, order) = guard.get_or_insert_with(Default::default);
        if ids.contains(id) {
            return false;
        }
        if order.len() >= CAPACITY
            && let Some(old) = order.pop_front()
        {
            ids.remove(&old);
        }
        ids.insert(id.to_owned());
        order.push_back(id.to_owned());
        true
    }
}

impl MeteredOnce {
    /// Whether `id` was recorded (and not forgotten since).
    pub fn contains(&self, id: &str) -> bool {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().is_some_and(|(ids, _)| ids.contains(id))
    }
}

impl Default for MeteredOnce {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_metered_once() {
        let s = MeteredOnce::new();
        assert!(s.first("a"));
        assert!(!s.first("a"));
        assert!(s.first("b"));
        assert!(s.contains("a") && !s.contains("c"));
    }
}
