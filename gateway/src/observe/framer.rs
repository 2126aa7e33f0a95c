//! Splits a (decoded) response body into events and keeps the few that matter.
//!
//! It splits the body into
//! events (SSE `data:` events, JSON-array elements, or one JSON document), and keeps just the
//! last event that mentions usage and the last event overall. Memory per request is bounded by
//! `cap` whatever the body size: an event larger than `cap` is skipped and a huge single JSON
//! document keeps only its tail, where Gemini puts `usageMetadata`.

use super::Observed;
use crate::route::Framing;
use crate::surfaces::Surface;
use memchr::memmem;
use std::time::Instant;

/// A searcher for a constant needle, built once for the process: `memmem::find` builds one on
/// every call (some 150 instructions, several times per event of every response).
macro_rules! finder {
    ($needle:expr) => {{
        static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new($needle));
        &*FINDER
    }};
}
pub(crate) use finder;

const TAIL: usize = 256 * 1024;
/// At most this many events are kept whole (with their arrival time) per response.
const KEPT_EVENTS: usize = 512;

/// Incremental, bounded event splitter.
#[derive(Debug)]
pub(super) struct Framer {
    framing: Framing,
    cap: usize,
    /// Current incomplete line (SSE), element (array) or document (JSON).
    buf: Vec<u8>,
    /// Data of the SSE event being assembled.
    data: Vec<u8>,
    overflow: bool,
    depth: u32,
    in_string: bool,
    escape: bool,
    capture_budget: usize,
    /// Searches for the `usage_needle` (built once per response, not per event).
    usage: memmem::Finder<'static>,
    keep: Option<&'static dyn Surface>,
    kept_bytes: usize,
    pub(super) out: Observed,
}

impl std::fmt::Debug for dyn Surface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Framer {
    /// A new framer; `capture_budget` > 0 keeps event payloads up to that many bytes;
    /// `usage_needle` marks the events that carry usage; `keep` selects events kept whole.
    pub(super) fn new(
        framing: Framing,
        cap: usize,
        capture_budget: usize,
        usage_needle: &'static [u8],
        keep: Option<&'static dyn Surface>,
    ) -> Self {
        Self {
            framing,
            cap: cap.max(1024),
            buf: Vec::new(),
            data: Vec::new(),
            overflow: false,
            depth: 0,
            in_string: false,
            escape: false,
            capture_budget,
            usage: memmem::Finder::new(usage_needle),
            keep,
            kept_bytes: 0,
            out: Observed::default(),
        }
    }

    /// Feeds one chunk of the (decoded) body.
    pub(super) fn feed(&mut self, chunk: &[u8]) {
        match self.framing {
            Framing::Opaque => {}
            Framing::Json => self.feed_json(chunk),
            Framing::Sse => self.feed_sse(chunk),
            Framing::JsonArray => self.feed_array(chunk),
        }
    }

    /// Ends the body and returns what was seen.
    pub(super) fn finish(mut self) -> Observed {
        match self.framing {
            Framing::Json if !self.buf.is_empty() => {
                let doc = std::mem::take(&mut self.buf);
                self.out.truncated = self.overflow;
                self.dispatch(doc);
            }
            Framing::Sse => {
                if !self.buf.is_empty() {
                    let line = std::mem::take(&mut self.buf);
                    self.sse_line(&line);
                }
                self.end_sse_event();
            }
            _ => {}
        }
        self.out
    }

    fn feed_json(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        if self.buf.len() > self.cap {
            self.overflow = true;
            let cut = self.buf.len() - TAIL.min(self.cap);
            self.buf.drain(..cut);
        }
    }

    fn feed_sse(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(nl);
            rest = &tail[1..];
            if self.buf.is_empty() {
                self.sse_line(strip_cr(line));
            } else {
                let mut full = std::mem::take(&mut self.buf);
                full.extend_from_slice(line);
                self.sse_line(strip_cr(&full));
                full.clear();
                self.buf = full;
            }
        }
        if self.buf.len() + rest.len() <= self.cap {
            self.buf.extend_from_slice(rest);
        } else {
            self.overflow = true;
        }
    }

    fn sse_line(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.end_sse_event();
        } else if let Some(value) = line.strip_prefix(b"data:") {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if self.data.len() + value.len() + 1 > self.cap {
                self.overflow = true;
                return;
            }
            if !self.data.is_empty() {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
        }
    }

    fn end_sse_event(&mut self) {
        if self.overflow {
            self.overflow = false;
            self.out.events += 1;
            self.data.clear();
            return;
        }
        if self.data.is_empty() {
            return;
        }
        if self.data == b"[DONE]" {
            self.data.clear();
            return;
        }
        let data = std::mem::take(&mut self.data);
        self.dispatch(data);
    }

    fn feed_array(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if self.depth == 0 {
                if b == b'{' {
                    self.depth = 1;
                    self.buf.clear();
                    self.overflow = false;
                    self.buf.push(b);
                }
                continue;
            }
            if !self.overflow {
                if self.buf.len() < self.cap {
                    self.buf.push(b);
                } else {
                    self.overflow = true;
                    self.buf.clear();
                }
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        if self.overflow {
                            self.out.events += 1;
                        } else {
                            let element = std::mem::take(&mut self.buf);
                            self.dispatch(element);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn dispatch(&mut self, payload: Vec<u8>) {
        self.out.events += 1;
        if self.capture_budget > 0 && payload.len() <= self.capture_budget {
            self.capture_budget -= payload.len();
            self.out.captured.push(payload.clone());
        }
        if let Some(keep) = self.keep
            && self.out.kept.len() < KEPT_EVENTS
            && self.kept_bytes + payload.len() <= self.cap
            && keep.keep_event(&payload)
        {
            self.kept_bytes += payload.len();
            self.out.kept.push((Instant::now(), payload.clone()));
        }
        if is_error_object(&payload) {
            self.out.error_event = Some(payload.clone());
        } else if carries_content(&payload) {
            let now = Instant::now();
            self.out.first_content.get_or_insert(now);
            self.out.last_content = Some(now);
            self.out.content_events += 1;
        }
        if self.usage.find(&payload).is_some() {
            self.out.usage_event = Some(payload);
            self.out.last_event = None;
        } else {
            self.out.last_event = Some(payload);
        }
    }
}

/// True when an event carries generated content: a non-empty `"text"` (answer or thought
/// part; Interactions text and thought-summary deltas), a non-empty OpenAI `"content"` or
/// `"reasoning_content"`, a function or tool call, or inline media. A role-only frame, an empty
/// text, a thought signature alone or a usage-only frame is not content.
pub(crate) fn carries_content(payload: &[u8]) -> bool {
    const MARKERS: [&[u8]; 6] = [
        b"\"functionCall\"",
        b"\"function_call\"",
        b"\"tool_calls\"",
        b"\"inlineData\"",
        b"\"inline_data\"",
        b"\"arguments_delta\"",
    ];
    static MARKER_FINDERS: std::sync::LazyLock<Vec<memmem::Finder<'static>>> =
        std::sync::LazyLock::new(|| MARKERS.iter().map(memmem::Finder::new).collect());
    non_empty_string(payload, finder!(b"\"text\""))
        || non_empty_string(payload, finder!(b"\"content\""))
        || non_empty_string(payload, finder!(b"\"reasoning_content\""))
        || MARKER_FINDERS.iter().any(|m| m.find(payload).is_some())
}

/// Whether some `key` (the searcher's needle) in `payload` is followed by `: "` and at least
/// one character.
fn non_empty_string(payload: &[u8], key: &memmem::Finder<'_>) -> bool {
    key.find_iter(payload).any(|at| {
        let rest = payload[at + key.needle().len()..].trim_ascii_start();
        let Some(rest) = rest.strip_prefix(b":") else {
            return false;
        };
        let rest = rest.trim_ascii_start();
        rest.strip_prefix(b"\"")
            .is_some_and(|r| r.first().is_some_and(|&c| c != b'"'))
    })
}

/// True for `{"error": ...}` (possibly with whitespace), the shape of Gemini errors.
fn is_error_object(payload: &[u8]) -> bool {
    payload
        .trim_ascii_start()
        .strip_prefix(b"{")
        .is_some_and(|rest| rest.trim_ascii_start().starts_with(b"\"error\""))
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::carries_content;

    #[test]
    fn content_is_text_thoughts_calls_or_media_not_empty_frames() {
        let yes: [&[u8]; 7] = [
            br#"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"}}]}"#,
            br#"{"candidates":[{"content":{"parts":[{"text": "thinking...","thought":true}]}}]}"#,
            br#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]}}]}"#,
            br#"{"choices":[{"delta":{"content":"Hel"}}]}"#,
            br#"{"event_type":"step.delta","index":1,"delta":{"type":"text","text":"a"}}"#,
            br#"{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png"}}]}}]}"#,
            br#"{"choices":[{"delta":{"reasoning_content":"r"}}]}"#,
        ];
        for p in yes {
            assert!(carries_content(p), "{}", String::from_utf8_lossy(p));
        }
        let no: [&[u8]; 5] = [
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":""}]}}]}"#,
            br#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            br#"{"usageMetadata":{"promptTokenCount":3}}"#,
            br#"{"event_type":"step.delta","delta":{"type":"thought_signature","signature":"x"}}"#,
            br#"{"event_type":"interaction.created","interaction":{"id":"a"}}"#,
        ];
        for p in no {
            assert!(!carries_content(p), "{}", String::from_utf8_lossy(p));
        }
    }
}
