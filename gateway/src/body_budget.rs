//! A global memory budget for request bodies kept for parsing.
//!
//! Each request may keep up to `max_parse_bytes` of its body (for usage parsing and plugins),
//! but thousands of stalled uploads must not hold gigabytes between them. Every kept chunk is
//! reserved here first; when the budget is spent, the request is forwarded untouched and simply
//! not inspected (`gateway.request.parse_error` says why, `gateway_parse_budget_refusals_total`
//! counts it). The reservation is released when the request's context is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Bytes of request bodies all requests may keep at once.
#[derive(Debug)]
pub struct BodyBudget {
    limit: usize,
    held: AtomicUsize,
    refused: AtomicU64,
}

impl BodyBudget {
    /// The budget for `max_parse_bytes` per request: room for 32 full bodies, at least 64 MiB.
    pub fn for_max_parse(max_parse_bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: max_parse_bytes.saturating_mul(32).max(64 << 20),
            held: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Requests not inspected because the budget was spent.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn try_reserve(&self, n: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |h| {
                h.checked_add(n).filter(|&t| t <= self.limit)
            })
            .is_ok()
    }
}

/// What one request holds of the budget; released on drop.
#[derive(Debug)]
pub struct BodyHold {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

impl BodyHold {
    /// An empty hold on `budget`.
    pub fn new(budget: &Arc<BodyBudget>) -> Self {
        Self {
            budget: budget.clone(),
            bytes: 0,
        }
    }

    /// Reserves `n` more bytes; false (and counted) when the budget is spent.
    pub fn grow(&mut self, n: usize) -> bool {
        if self.budget.try_reserve(n) {
            self.bytes += n;
            true
        } else {
            self.budget.refused.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    /// Gives back everything held.
    pub fn release(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::AcqRel);
        self.bytes = 0;
    }
}

impl Drop for BodyHold {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_are_bounded_and_released() {
        let b = BodyBudget::for_max_parse(1 << 20);
        assert_eq!(b.limit(), 64 << 20);
        let mut a = BodyHold::new(&b);
        assert!(a.grow(60 << 20));
        let mut c = BodyHold::new(&b);
        assert!(!c.grow(5 << 20), "past the budget");
        assert_eq!(b.refused(), 1);
        drop(a);
        assert_eq!(b.held(), 0);
        assert!(c.grow(5 << 20));
        c.release();
        assert_eq!(b.held(), 0);
    }
}
