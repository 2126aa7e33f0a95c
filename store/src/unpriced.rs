//! The one rule for "unpriced", applied when a request's summary is written.
//!
//! A request is **unpriced** when its usage was metered (or should have been) but no price
//! applied:
//!
//! - the cost plugin flagged it (`gateway.cost.unpriced = true`: no price for the model, no
//!   usage in a successful answer, implausible usage), or
//! - it carries usage without a cost (the cost plugin is off, or did not run).
//!
//! It is **not** unpriced when it is billed later on another trace (`gateway.metering =
//! deferred`: an Interactions background create, a batch create, a batch whose results file was
//! not seen yet), free (`gateway.metering = free`: countTokens, files, listings, a repeated
//! poll), or failed or was cancelled before any usage (an error answer, a client gone before
//! the headers, a stream cut by the client or by the gateway's shutdown before its usage). Those
//! have a NULL cost and show as "—" or "deferred", never as $0 and never as unpriced.
//!
//! [`is_unpriced`] decides it for each request's root span; the writer stores the answer in
//! `traces.unpriced` (a merged trace is unpriced once any of its requests is), and every reader,
//! trigger and aggregate counts `unpriced = 1` and nothing else.

/// What a request's root span says about its pricing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pricing<'a> {
    /// `gateway.cost.unpriced = true`: the cost plugin found no price.
    pub flagged: bool,
    /// `gateway.cost.usd`, when a cost was computed.
    pub cost_usd: Option<f64>,
    /// Whether the span reports usage (input or output tokens).
    pub has_usage: bool,
    /// `gateway.metering` (`metered`, `free`, `deferred`, `unknown`), when recorded.
    pub metering: Option<&'a str>,
    /// `gateway.status`: `ok`, `error` or `cancelled`.
    pub status: &'a str,
}

/// Whether a request is unpriced (see the module documentation).
pub fn is_unpriced(p: &Pricing<'_>) -> bool {
    if matches!(p.metering, Some("deferred" | "free")) {
        return false; // Billed on another trace, or not billed at all.
    }
    if !p.has_usage && p.status != "ok" {
        return false; // Failed or cut before any usage: nothing was metered.
    }
    p.flagged || (p.cost_usd.is_none() && p.has_usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(flagged: bool, cost: Option<f64>, usage: bool, metering: &str, status: &str) -> bool {
        is_unpriced(&Pricing {
            flagged,
            cost_usd: cost,
            has_usage: usage,
            metering: Some(metering),
            status,
        })
    }

    #[test]
    fn each_kind_of_request() {
        assert!(!p(false, Some(0.01), true, "metered", "ok"), "priced");
        assert!(
            p(true, None, true, "metered", "ok"),
            "no price for the model"
        );
        assert!(
            p(true, None, false, "metered", "ok"),
            "a success without usage"
        );
        assert!(!p(false, None, false, "deferred", "ok"), "deferred create");
        assert!(
            !p(false, None, true, "deferred", "ok"),
            "deferred, usage seen"
        );
        assert!(!p(false, Some(0.0), true, "free", "ok"), "countTokens");
        assert!(!p(false, None, true, "free", "ok"), "free, cost plugin off");
        assert!(!p(false, None, false, "metered", "error"), "no response");
        assert!(
            !p(true, None, false, "metered", "cancelled"),
            "cut before usage"
        );
        assert!(
            p(true, None, true, "metered", "cancelled"),
            "cut, usage unpriced"
        );
        assert!(p(false, None, true, "metered", "ok"), "cost plugin off");
        assert!(p(false, None, true, "unknown", "ok"), "unknown path, off");
        assert!(!p(false, None, false, "unknown", "ok"), "not a model call");
        assert!(
            !p(false, Some(0.0), false, "metered", "error"),
            "failed, $0"
        );
    }
}
