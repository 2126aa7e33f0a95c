//! Server-wide configuration ([`FakeConfig`]) and the per-request control
//! knobs read from `x-fake-*` request headers.

use axum::http::HeaderMap;

/// Timing and shape of the fake's answers; every field can be overridden per
/// request with an `x-fake-*` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeConfig {
    /// Delay before the first byte of every answer (headers included), in ms.
    pub latency_ms: u64,
    /// Delay between two events of a streamed answer, in ms.
    pub chunk_gap_ms: u64,
    /// Number of events of a streamed answer (at least 1 is always sent).
    pub chunks: usize,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            latency_ms: 0,
            chunk_gap_ms: 0,
            chunks: 4,
        }
    }
}

/// A fault injected with `x-fake-fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Send two stream events, then abort the connection.
    ResetMidStream,
    /// Send two stream events, then an in-band `{"error": …}` event (500 `INTERNAL`), and end
    /// the stream normally: the HTTP status stays 200.
    ErrorMidStream,
    /// Never answer.
    Hang,
}

/// Effective knobs of one request: the config merged with its headers.
#[derive(Debug, Clone)]
pub(crate) struct Knobs {
    /// Delay before the answer, in ms.
    pub latency_ms: u64,
    /// Delay between stream events, in ms.
    pub chunk_gap_ms: u64,
    /// Number of stream events (>= 1).
    pub chunks: usize,
    /// Forced error status (`x-fake-status`), only 400..=599.
    pub status: Option<u16>,
    /// Injected fault (`x-fake-fault`).
    pub fault: Option<Fault>,
    /// Hold token (`x-fake-hold`).
    pub hold: Option<String>,
    /// Block the prompt with this `promptFeedback.blockReason` (`x-fake-block-reason`; one of
    /// [`BLOCK_REASONS`]).
    pub block: Option<&'static str>,
}

/// The `BlockedReason` values the Gemini API sends (the SDK's enum without the two it marks
/// "not supported in Gemini API" and the unspecified one).
pub(crate) const BLOCK_REASONS: [&str; 5] = [
    "SAFETY",
    "OTHER",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "IMAGE_SAFETY",
];

impl Knobs {
    /// Merge `cfg` with the `x-fake-*` headers found in `headers`; values that
    /// do not parse are ignored.
    pub fn from_headers(cfg: &FakeConfig, headers: &HeaderMap) -> Knobs {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let num = |name: &str| text(name).and_then(|s| s.parse::<u64>().ok());
        let fault = text("x-fake-fault").and_then(|f| match f.to_ascii_lowercase().as_str() {
            "reset-mid-stream" | "reset" => Some(Fault::ResetMidStream),
            "error-mid-stream" => Some(Fault::ErrorMidStream),
            "hang" => Some(Fault::Hang),
            _ => None,
        });
        Knobs {
            latency_ms: num("x-fake-latency-ms").unwrap_or(cfg.latency_ms),
            chunk_gap_ms: num("x-fake-chunk-gap-ms").unwrap_or(cfg.chunk_gap_ms),
            chunks: num("x-fake-chunks")
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(cfg.chunks)
                .max(1),
            status: num("x-fake-status")
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (400..=599).contains(n)),
            fault,
            hold: text("x-fake-hold"),
            block: text("x-fake-block-reason").and_then(|r| {
                BLOCK_REASONS
                    .into_iter()
                    .find(|b| b.eq_ignore_ascii_case(&r))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_override_config() {
        let mut h = HeaderMap::new();
        h.insert("x-fake-chunks", "0".parse().expect("header"));
        h.insert("x-fake-status", "429".parse().expect("header"));
        h.insert("x-fake-fault", "hang".parse().expect("header"));
        let k = Knobs::from_headers(&FakeConfig::default(), &h);
        assert_eq!(k.chunks, 1);
        assert_eq!(k.status, Some(429));
        assert_eq!(k.fault, Some(Fault::Hang));
        assert_eq!(k.latency_ms, 0);
    }

    #[test]
    fn non_error_status_is_ignored() {
        let mut h = HeaderMap::new();
        h.insert("x-fake-status", "200".parse().expect("header"));
        let k = Knobs::from_headers(&FakeConfig::default(), &h);
        assert_eq!(k.status, None);
        assert_eq!(k.chunks, 4);
    }
}
