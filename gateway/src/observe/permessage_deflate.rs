//! permessage-deflate (RFC 7692) on the observer's copy of a WebSocket connection: what the
//! handshake agreed, and one bounded inflater per direction.
//!
//! The Python and JavaScript Gemini SDKs (`websockets`, `ws`) offer the extension on every Live
//! connection; when the upstream accepts it, data messages arrive deflated (RSV1 set). The
//! proxy forwards them untouched. The [`super::websocket`] decoder inflates its copy with an
//! [`Inflater`]: a raw DEFLATE stream per direction whose window carries over from message to
//! message, unless the agreement says `*_no_context_takeover` for that direction. Each
//! message's output is bounded by `max_parse_bytes`: past it inflating stops, and on a
//! direction whose window carries over nothing more of that direction can be read (the window
//! is lost). The reason is reported, and counted as an unreadable message like any other.

use flate2::{Decompress, FlushDecompress, Status};

/// What the upstream's `101` agreed to, from its `Sec-WebSocket-Extensions` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// The server resets its compression after each message it sends.
    pub server_no_context_takeover: bool,
    /// The client resets its compression after each message it sends.
    pub client_no_context_takeover: bool,
}

impl Agreement {
    /// The permessage-deflate agreement in a `Sec-WebSocket-Extensions` response header
    /// value, if it holds one (the server accepts at most one; its parameters are
    /// case-insensitive tokens, values possibly quoted). Window sizes need nothing here: an
    /// inflater with the largest window reads a stream made with any smaller one.
    pub fn from_header(value: &str) -> Option<Self> {
        value.split(',').find_map(|extension| {
            let mut parts = extension.split(';').map(str::trim);
            if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
                return None;
            }
            let mut agreed = Self {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
            };
            for param in parts {
                let name = param.split('=').next().unwrap_or("").trim();
                if name.eq_ignore_ascii_case("server_no_context_takeover") {
                    agreed.server_no_context_takeover = true;
                } else if name.eq_ignore_ascii_case("client_no_context_takeover") {
                    agreed.client_no_context_takeover = true;
                }
            }
            Some(agreed)
        })
    }
}

/// The end every deflated message had before the sender removed it (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// One direction's inflater.
pub struct Inflater {
    stream: Decompress,
    /// The window starts afresh with each message.
    reset_each: bool,
    /// Why nothing more can be inflated, once that is so.
    lost: Option<String>,
    /// The current message went past its bound or failed (its reason).
    failed: Option<String>,
    /// The deflate stream ended (a final block) in the current message.
    ended: bool,
    buf: Box<[u8; 16 * 1024]>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("reset_each", &self.reset_each)
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    /// An inflater for a direction whose sender resets after each message (`reset_each`) or
    /// keeps its window.
    pub fn new(reset_each: bool) -> Self {
        Self {
            stream: Decompress::new(false),
            reset_each,
            lost: None,
            failed: None,
            ended: false,
            buf: Box::new([0; 16 * 1024]),
        }
    }

    /// Why this direction can no longer be inflated, if so.
    pub fn lost(&self) -> Option<&str> {
        self.lost.as_deref()
    }

    /// Inflates a piece of the current message's payload (unmasked), appending to `out` as
    /// long as `out` stays within `max` bytes.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>, max: usize) {
        while self.failed.is_none() && !input.is_empty() {
            if self.ended {
                self.fail("deflate data continues past the end of its stream".to_owned());
                break;
            }
            input = &input[self.step(input, out, max).0..];
        }
    }

    /// Ends the current message: inflates the removed tail. `Err` with the reason when the
    /// message could not be read whole; `out` then means nothing.
    pub fn finish(&mut self, out: &mut Vec<u8>, max: usize) -> Result<(), String> {
        let mut tail: &[u8] = &TAIL;
        // Sync flush: everything the tail completes comes out now. A stream that ended in the
        // message (a final block) leaves the tail unread.
        while self.failed.is_none() && !self.ended {
            let (used, produced) = self.step(tail, out, max);
            tail = &tail[used..];
            if produced == 0 && (tail.is_empty() || used == 0) {
                break;
            }
        }
        let result = match self.failed.take() {
            Some(why) => {
                if !self.reset_each {
                    // The sender's window includes what was not read: later messages refer
                    // to it.
                    self.lost.get_or_insert_with(|| {
                        format!("compression window lost after a message that was not read ({why})")
                    });
                }
                Err(why)
            }
            None => Ok(()),
        };
        // A stream that ended is over for the sender too: its next message starts a new one.
        if self.reset_each || self.ended {
            self.stream.reset(false);
            self.ended = false;
        }
        result
    }

    /// One call into the inflater: the input bytes it used and the bytes it produced (appended
    /// while `out` stays within `max`). Nothing, once the direction is lost.
    fn step(&mut self, input: &[u8], out: &mut Vec<u8>, max: usize) -> (usize, usize) {
        if let Some(lost) = &self.lost {
            let why = lost.clone();
            self.fail(why);
            return (0, 0);
        }
        let (before_in, before_out) = (self.stream.total_in(), self.stream.total_out());
        match self
            .stream
            .decompress(input, &mut self.buf[..], FlushDecompress::Sync)
        {
            Ok(Status::StreamEnd) => self.ended = true,
            Ok(Status::Ok | Status::BufError) => {}
            Err(e) => {
                self.fail(format!("not deflate data: {e}"));
                return (0, 0);
            }
        }
        let used = (self.stream.total_in() - before_in) as usize;
        let produced = (self.stream.total_out() - before_out) as usize;
        if out.len() + produced > max {
            self.fail(format!("inflates past {max} bytes"));
        } else {
            out.extend_from_slice(&self.buf[..produced]);
        }
        if used == 0 && produced == 0 && !self.ended && !input.is_empty() {
            // No progress with input left and room to write: nothing more will come.
            self.fail("deflate data that does not progress".to_owned());
        }
        (used, produced)
    }

    fn fail(&mut self, why: String) {
        self.failed.get_or_insert(why);
    }
}

/// A permessage-deflate sender, for tests here and in the decoders that use [`Inflater`].
#[cfg(test)]
pub(crate) mod testing {
    use super::TAIL;
    use flate2::{Compress, Compression, FlushCompress};

    /// A sender: deflates each message with a sync flush and removes the tail, keeping its
    /// window across messages unless `reset_each`.
    pub(crate) struct Sender {
        stream: Compress,
        reset_each: bool,
    }

    impl Sender {
        pub(crate) fn new(reset_each: bool) -> Self {
            Self {
                stream: Compress::new(Compression::default(), false),
                reset_each,
            }
        }

        pub(crate) fn send(&mut self, message: &[u8]) -> Vec<u8> {
            let mut out = Vec::with_capacity(message.len() + 64);
            let mut input = message;
            loop {
                let before = self.stream.total_in();
                out.reserve(4096);
                self.stream
                    .compress_vec(input, &mut out, FlushCompress::Sync)
                    .expect("deflate");
                input = &input[(self.stream.total_in() - before) as usize..];
                if input.is_empty() && out.len() < out.capacity() {
                    break;
                }
            }
            assert!(out.ends_with(&TAIL));
            out.truncate(out.len() - TAIL.len());
            if self.reset_each {
                self.stream.reset();
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Sender;
    use super::*;

    fn read(
        inflater: &mut Inflater,
        deflated: &[u8],
        piece: usize,
        max: usize,
    ) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        for chunk in deflated.chunks(piece.max(1)) {
            inflater.feed(chunk, &mut out, max);
        }
        inflater.finish(&mut out, max).map(|()| out)
    }

    #[test]
    fn the_agreement_is_read_from_the_response_header() {
        let none = Agreement {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
        };
        assert_eq!(Agreement::from_header("permessage-deflate"), Some(none));
        assert_eq!(
            Agreement::from_header(
                "permessage-deflate; Server_No_Context_Takeover; client_max_window_bits=\"10\""
            ),
            Some(Agreement {
                server_no_context_takeover: true,
                ..none
            })
        );
        assert_eq!(
            Agreement::from_header("x-other; a=1, PERMESSAGE-DEFLATE;client_no_context_takeover"),
            Some(Agreement {
                client_no_context_takeover: true,
                ..none
            })
        );
        for other in [
            "",
            "x-webkit-deflate-frame",
            "permessage-deflated",
            "deflate-stream",
        ] {
            assert_eq!(Agreement::from_header(other), None, "{other:?}");
        }
    }

    /// Messages that refer back to earlier ones (the window carries over) and messages that
    /// start afresh both come out whole, fed in any piece size, including ones much larger
    /// than the inflater's buffer.
    #[test]
    fn messages_inflate_with_and_without_the_window_carried_over() {
        let messages: Vec<Vec<u8>> = (0..6)
            .map(|i| {
                let text = format!("{{\"serverContent\":{{\"modelTurn\":{{\"parts\":[{{\"text\":\"part {i}\"}}]}}}}}}");
                if i == 3 {
                    // 20 KB that compress little by themselves (numbers without a short
                    // period), within the 32 KB window.
                    (0..3_000u32)
                        .map(|n| (n * 7_919 % 10_007).to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                        .into_bytes()
                } else {
                    text.into_bytes()
                }
            })
            .collect();
        for reset_each in [false, true] {
            for piece in [1, 7, 1 << 20] {
                let mut sender = Sender::new(reset_each);
                let mut inflater = Inflater::new(reset_each);
                for m in &messages {
                    let deflated = sender.send(m);
                    assert_eq!(
                        read(&mut inflater, &deflated, piece, 1 << 20).as_deref(),
                        Ok(&m[..])
                    );
                }
                assert_eq!(inflater.lost(), None);
            }
        }
        // With the window carried over, a repeated message is mostly a reference back: far
        // smaller than the first time.
        let mut sender = Sender::new(false);
        let first = sender.send(&messages[3]).len();
        assert!(sender.send(&messages[3]).len() * 4 < first);
    }

    /// A bomb stops at the bound. Where the window starts afresh, the next message reads
    /// again; where it carries over, the direction is lost and says why.
    #[test]
    fn a_message_past_the_bound_stops_there_and_loses_only_a_carried_window() {
        let bomb = vec![b'a'; 8_000_000];
        for reset_each in [true, false] {
            let mut sender = Sender::new(reset_each);
            let mut inflater = Inflater::new(reset_each);
            let deflated = sender.send(&bomb);
            assert!(deflated.len() < 20_000, "{}", deflated.len());
            let err = read(&mut inflater, &deflated, 4096, 1 << 20).expect_err("bomb");
            assert_eq!(err, format!("inflates past {} bytes", 1 << 20));
            let next = sender.send(b"{\"ok\":true}");
            match read(&mut inflater, &next, 4096, 1 << 20) {
                Ok(text) => {
                    assert!(reset_each);
                    assert_eq!(text, b"{\"ok\":true}");
                    assert_eq!(inflater.lost(), None);
                }
                Err(_) => {
                    assert!(!reset_each);
                    let lost = inflater.lost().expect("lost");
                    assert!(lost.contains("window lost"), "{lost}");
                }
            }
        }
    }

    /// A sender may end a message with a final block (BFINAL): its deflate stream is then
    /// over, the tail goes unread, and its next message is a new stream. Both read whole, in
    /// either window mode.
    #[test]
    fn a_message_that_ends_its_stream_reads_and_the_next_starts_afresh() {
        use flate2::{Compress, Compression, FlushCompress};
        let finished = |message: &[u8]| {
            let mut stream = Compress::new(Compression::default(), false);
            let mut out = Vec::with_capacity(message.len() + 64);
            let status = stream
                .compress_vec(message, &mut out, FlushCompress::Finish)
                .expect("deflate");
            assert_eq!(status, flate2::Status::StreamEnd);
            out
        };
        for reset_each in [false, true] {
            let mut inflater = Inflater::new(reset_each);
            for m in [&b"{\"setupComplete\":{}}"[..], b"{\"serverContent\":{}}"] {
                assert_eq!(
                    read(&mut inflater, &finished(m), 3, 1 << 20).as_deref(),
                    Ok(m)
                );
            }
            // A sync-flushed message after them reads too.
            let next = Sender::new(reset_each).send(b"{\"a\":1}");
            assert_eq!(
                read(&mut inflater, &next, 3, 1 << 20).as_deref(),
                Ok(&b"{\"a\":1}"[..])
            );
            assert_eq!(inflater.lost(), None);
        }
    }

    #[test]
    fn bytes_that_are_not_deflate_are_an_error() {
        let mut inflater = Inflater::new(true);
        let err = read(&mut inflater, b"{\"setup\":{}}", 3, 1 << 20).expect_err("garbage");
        assert!(err.starts_with("not deflate data"), "{err}");
        // Reset: the next message reads.
        let deflated = Sender::new(true).send(b"{\"a\":1}");
        assert_eq!(
            read(&mut inflater, &deflated, 3, 1 << 20).as_deref(),
            Ok(&b"{\"a\":1}"[..])
        );
    }
}
