//! Tees response bytes into a bounded observer that finds the events carrying usage.
//!
//! The proxy forwards every chunk untouched; this module only looks. A compressed answer
//! (`Content-Encoding: gzip`, `deflate`, `br` or `zstd`) is decoded here, on the observer's copy
//! only and chunk by chunk, so streams stay streams. The decoded size is bounded: past
//! `max_parse_bytes` the decoder may produce at most [`MAX_RATIO`] bytes per compressed byte, so
//! a decompression bomb costs a counted truncation and nothing more. The [`framer`] then splits
//! the decoded body into events and keeps the last one that mentions usage. An upgraded
//! connection (the Live API) is read by the [`websocket`] frame decoder instead, which inflates
//! permessage-deflate messages ([`permessage_deflate`]).

mod decode;
pub(crate) mod framer;
pub mod permessage_deflate;
pub mod websocket;

use crate::route::Framing;
use crate::surfaces::Surface;
use decode::Decoder;
use framer::Framer;
use std::time::Instant;

/// Past `max_parse_bytes`, the decoder may yield at most this many bytes per compressed byte.
pub const MAX_RATIO: u64 = 64;

/// What was seen of a response body, ready for [`crate::payload`] to parse.
#[derive(Debug, Default)]
pub struct Observed {
    /// The payload of the last event that mentions usage.
    pub usage_event: Option<Vec<u8>>,
    /// The payload of the last event when it is not the usage event.
    pub last_event: Option<Vec<u8>>,
    /// Payloads of all events, when capture is on (bounded by the capture budget).
    pub captured: Vec<Vec<u8>>,
    /// Events the surface asked to keep whole, with their arrival time (bounded).
    pub kept: Vec<(Instant, Vec<u8>)>,
    /// Number of events (SSE events or array elements; 1 for a JSON document).
    pub events: u32,
    /// Total body bytes as received (compressed, when it was).
    pub bytes: u64,
    /// Body bytes after decoding (equal to `bytes` for an uncompressed answer).
    pub decoded_bytes: u64,
    /// An event was an error object (`{"error": ...}`), e.g. a mid-stream failure.
    pub error_event: Option<Vec<u8>>,
    /// The single JSON document was larger than the cap; `usage_event` holds its tail.
    pub truncated: bool,
    /// The `Content-Encoding` that was decoded.
    pub encoding: Option<&'static str>,
    /// Why decoding stopped early (corrupt data, an unsupported encoding, the size bound).
    pub decode_error: Option<String>,
    /// When the first event carrying generated content (text, thoughts, a function call, inline
    /// media) arrived: time to first chunk is stamped here, not at the first byte.
    pub first_content: Option<Instant>,
    /// When the last such event arrived.
    pub last_content: Option<Instant>,
    /// Events that carried generated content.
    pub content_events: u32,
}

impl Observed {
    /// Mean time between content-carrying events after the first (`time_per_output_chunk`).
    pub fn time_per_output_chunk(&self) -> Option<std::time::Duration> {
        let (first, last) = (self.first_content?, self.last_content?);
        let gaps = self.content_events.checked_sub(1).filter(|&n| n > 0)?;
        Some(last.saturating_duration_since(first) / gaps)
    }
}

/// Incremental, bounded body observer.
#[derive(Debug)]
pub struct Observer {
    decoder: Decoder,
}

impl Observer {
    /// A new observer of an uncompressed body; `capture_budget` > 0 keeps event payloads up
    /// to that many bytes; `usage_needle` is the JSON key that marks usage-bearing events.
    pub fn new(
        framing: Framing,
        cap: usize,
        capture_budget: usize,
        usage_needle: &'static [u8],
    ) -> Self {
        Self::build(framing, cap, capture_budget, usage_needle, None, None)
    }

    /// An observer for an answer of `surface`: it decodes `content_encoding` first, finds
    /// usage by the surface's needle and keeps whole the events the surface asks for.
    pub fn for_surface(
        framing: Framing,
        cap: usize,
        capture_budget: usize,
        surface: &'static dyn Surface,
        content_encoding: Option<&str>,
    ) -> Self {
        let needle = surface.usage_needle();
        Self::build(
            framing,
            cap,
            capture_budget,
            needle,
            Some(surface),
            content_encoding,
        )
    }

    fn build(
        framing: Framing,
        cap: usize,
        capture_budget: usize,
        usage_needle: &'static [u8],
        keep: Option<&'static dyn Surface>,
        content_encoding: Option<&str>,
    ) -> Self {
        let cap = cap.max(1024);
        let framer = Framer::new(framing, cap, capture_budget, usage_needle, keep);
        let inspect = framing != Framing::Opaque;
        Self {
            decoder: Decoder::new(framer, content_encoding.filter(|_| inspect), cap as u64),
        }
    }

    /// Feeds one chunk of the body as received.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.decoder.feed(chunk);
    }

    /// Ends the body and returns what was seen.
    pub fn finish(self) -> Observed {
        self.decoder.finish()
    }
}
