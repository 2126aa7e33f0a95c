//! An incremental, bounded WebSocket frame decoder (RFC 6455) for the observer's copy of an
//! upgraded connection's bytes, one decoder per direction.
//!
//! It never writes anything: the proxy forwards the bytes untouched and feeds the same bytes
//! here. Bytes arrive in arbitrary pieces (a frame header split across reads, several frames in
//! one read); client frames are unmasked; fragmented messages are reassembled; control frames
//! (ping, pong, close) may come between fragments. Memory is bounded: a message longer than
//! `max_message` is skipped (its bytes still counted, its frames still followed) and reported
//! as [`Event::TooLarge`]. A message with the RSV1 bit (permessage-deflate) is inflated when the
//! handshake agreed to the extension ([`FrameDecoder::with_inflater`], bounded the same way:
//! [`super::permessage_deflate`]), and reported as [`Event::Compressed`] when it did not. A
//! framing error stops decoding for the rest of the connection ([`Event::Broken`]); the bytes
//! keep flowing.

use super::permessage_deflate::Inflater;

/// What one direction of the connection said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete data message (text or binary), unmasked and reassembled.
    Message {
        /// Sent as a binary message (opcode 2) rather than text (opcode 1).
        binary: bool,
        /// The payload.
        payload: Vec<u8>,
    },
    /// A data message compressed by permessage-deflate (RSV1) on a connection whose handshake
    /// did not agree to it: not read.
    Compressed,
    /// A compressed data message that could not be inflated, and why.
    NotInflated(String),
    /// A data message longer than the decoder's bound: not read.
    TooLarge {
        /// Its length in bytes.
        len: u64,
    },
    /// A ping frame.
    Ping,
    /// A pong frame.
    Pong,
    /// A close frame, with its status code when it carried one.
    Close {
        /// The close code.
        code: Option<u16>,
    },
    /// The byte stream is not valid WebSocket framing; nothing more is decoded.
    Broken(String),
}

/// Header bytes of the longest frame header: 2 + 8 (length) + 4 (mask).
const MAX_HEADER: usize = 14;

#[derive(Debug)]
enum State {
    Header,
    Payload,
    Failed,
}

/// The decoder of one direction.
#[derive(Debug)]
pub struct FrameDecoder {
    max_message: usize,
    state: State,
    header: [u8; MAX_HEADER],
    have: usize,
    // The frame being read.
    opcode: u8,
    fin: bool,
    mask: Option<[u8; 4]>,
    left: u64,
    offset: usize,
    control: Vec<u8>,
    // The data message being assembled.
    in_message: bool,
    binary: bool,
    compressed: bool,
    message: Vec<u8>,
    message_len: u64,
    frames: u64,
    // permessage-deflate, when agreed: the inflater, and a buffer to unmask its input in.
    inflater: Option<Inflater>,
    unmasked: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder that reads messages of up to `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            state: State::Header,
            header: [0; MAX_HEADER],
            have: 0,
            opcode: 0,
            fin: false,
            mask: None,
            left: 0,
            offset: 0,
            control: Vec::new(),
            in_message: false,
            binary: false,
            compressed: false,
            message: Vec::new(),
            message_len: 0,
            frames: 0,
            inflater: None,
            unmasked: Vec::new(),
        }
    }

    /// The same decoder, inflating compressed messages with `inflater` (the handshake agreed
    /// to permessage-deflate).
    pub fn with_inflater(mut self, inflater: Inflater) -> Self {
        self.inflater = Some(inflater);
        self
    }

    /// Frames seen so far (data, continuation and control).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Decodes `data`, appending what it completes to `out`.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<Event>) {
        while !data.is_empty() {
            match self.state {
                State::Failed => return,
                State::Header => {
                    let take = (self.header_len() - self.have).min(data.len());
                    self.header[self.have..self.have + take].copy_from_slice(&data[..take]);
                    self.have += take;
                    data = &data[take..];
                    if self.have == self.header_len()
                        && let Err(e) = self.start_frame(out)
                    {
                        self.state = State::Failed;
                        out.push(Event::Broken(e));
                        return;
                    }
                }
                State::Payload => {
                    let take = usize::try_from(self.left)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    self.payload(&data[..take]);
                    data = &data[take..];
                    self.left -= take as u64;
                    if self.left == 0 {
                        self.end_frame(out);
                    }
                }
            }
        }
    }

    /// Bytes of the current header: 2, then as many as the first two announce.
    fn header_len(&self) -> usize {
        if self.have < 2 {
            return 2;
        }
        let len = match self.header[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.header[1] & 0x80 != 0 { 4 } else { 0 };
        2 + len + mask
    }

    fn start_frame(&mut self, out: &mut Vec<Event>) -> Result<(), String> {
        let h = self.header;
        self.frames += 1;
        self.have = 0;
        self.fin = h[0] & 0x80 != 0;
        let rsv1 = h[0] & 0x40 != 0;
        self.opcode = h[0] & 0x0f;
        let (len, at) = match h[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[2..10]);
                (u64::from_be_bytes(b), 10)
            }
            n => (u64::from(n), 2),
        };
        self.mask = (h[1] & 0x80 != 0).then(|| [h[at], h[at + 1], h[at + 2], h[at + 3]]);
        self.left = len;
        self.offset = 0;
        match self.opcode {
            0x8..=0xa => {
                if !self.fin || len > 125 {
                    return Err(format!(
                        "control frame {:#x} fragmented or too long",
                        self.opcode
                    ));
                }
                self.control.clear();
            }
            0x1 | 0x2 => {
                if self.in_message {
                    return Err("a new message began inside a fragmented one".to_owned());
                }
                self.in_message = true;
                self.binary = self.opcode == 0x2;
                self.compressed = rsv1;
                self.message.clear();
                self.message_len = 0;
            }
            0x0 => {
                if !self.in_message {
                    return Err("a continuation frame without a message".to_owned());
                }
            }
            op => return Err(format!("reserved opcode {op:#x}")),
        }
        self.state = State::Payload;
        if len == 0 {
            self.end_frame(out);
        }
        Ok(())
    }

    fn payload(&mut self, bytes: &[u8]) {
        let control = self.opcode >= 0x8;
        if !control {
            self.message_len += bytes.len() as u64;
        }
        let offset = self.offset;
        self.offset += bytes.len();
        if let Some(inflater) = self
            .inflater
            .as_mut()
            .filter(|_| !control && self.compressed)
        {
            let input = match self.mask {
                Some(mask) => {
                    self.unmasked.clear();
                    self.unmasked.extend_from_slice(bytes);
                    unmask(&mut self.unmasked, mask, offset);
                    &self.unmasked[..]
                }
                None => bytes,
            };
            inflater.feed(input, &mut self.message, self.max_message);
            return;
        }
        if !control && (self.compressed || self.message_len > self.max_message as u64) {
            self.message = Vec::new();
            return;
        }
        let buf = if control {
            &mut self.control
        } else {
            &mut self.message
        };
        let start = buf.len();
        buf.extend_from_slice(bytes);
        if let Some(mask) = self.mask {
            unmask(&mut buf[start..], mask, offset);
        }
    }

    fn end_frame(&mut self, out: &mut Vec<Event>) {
        self.state = State::Header;
        match self.opcode {
            0x8 => {
                let code = (self.control.len() >= 2)
                    .then(|| u16::from_be_bytes([self.control[0], self.control[1]]));
                out.push(Event::Close { code });
            }
            0x9 => out.push(Event::Ping),
            0xa => out.push(Event::Pong),
            _ if self.fin => {
                self.in_message = false;
                let event = if self.compressed {
                    match &mut self.inflater {
                        Some(inflater) => {
                            match inflater.finish(&mut self.message, self.max_message) {
                                Ok(()) => Event::Message {
                                    binary: self.binary,
                                    payload: std::mem::take(&mut self.message),
                                },
                                Err(why) => {
                                    self.message = Vec::new();
                                    Event::NotInflated(why)
                                }
                            }
                        }
                        None => Event::Compressed,
                    }
                } else if self.message_len > self.max_message as u64 {
                    Event::TooLarge {
                        len: self.message_len,
                    }
                } else {
                    Event::Message {
                        binary: self.binary,
                        payload: std::mem::take(&mut self.message),
                    }
                };
                out.push(event);
            }
            _ => {}
        }
    }
}

/// Unmasks `bytes`, the payload bytes from `offset` on, with a client frame's `mask`.
fn unmask(bytes: &mut [u8], mask: [u8; 4], offset: usize) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b ^= mask[(offset + i) % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut f = vec![(u8::from(fin) << 7) | opcode];
        let m = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n <= 0xffff => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(k) => {
                f.extend_from_slice(&k);
                f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
            }
            None => f.extend_from_slice(payload),
        }
        f
    }

    fn decode_in_pieces(bytes: &[u8], piece: usize, max: usize) -> Vec<Event> {
        let mut d = FrameDecoder::new(max);
        let mut out = Vec::new();
        for c in bytes.chunks(piece) {
            d.feed(c, &mut out);
        }
        out
    }

    #[test]
    fn masked_fragmented_messages_with_control_frames_between_decode_byte_by_byte() {
        let key = Some([1, 2, 3, 4]);
        let big = vec![b'x'; 70_000];
        let mut bytes = frame(false, 1, b"{\"a\":", key);
        bytes.extend(frame(true, 9, b"hi", key));
        bytes.extend(frame(true, 0, b"1}", key));
        bytes.extend(frame(true, 2, &big, key));
        bytes.extend(frame(true, 2, b"", None));
        bytes.extend(frame(true, 8, &1000u16.to_be_bytes(), key));
        for piece in [1, 3, 7, 4096, bytes.len()] {
            let got = decode_in_pieces(&bytes, piece, 1 << 20);
            assert_eq!(
                got,
                vec![
                    Event::Ping,
                    Event::Message {
                        binary: false,
                        payload: b"{\"a\":1}".to_vec()
                    },
                    Event::Message {
                        binary: true,
                        payload: big.clone()
                    },
                    Event::Message {
                        binary: true,
                        payload: Vec::new()
                    },
                    Event::Close { code: Some(1000) },
                ],
                "piece size {piece}"
            );
        }
    }

    #[test]
    fn oversized_and_compressed_messages_are_skipped_and_decoding_goes_on() {
        let mut bytes = frame(true, 1, &[b'a'; 300], None);
        let mut deflated = frame(true, 2, b"\x01\x02", None);
        deflated[0] |= 0x40;
        bytes.extend(deflated);
        bytes.extend(frame(true, 1, b"ok", None));
        let got = decode_in_pieces(&bytes, 5, 100);
        assert_eq!(
            got,
            vec![
                Event::TooLarge { len: 300 },
                Event::Compressed,
                Event::Message {
                    binary: false,
                    payload: b"ok".to_vec()
                },
            ]
        );
    }

    /// Deflated messages (RSV1 on the first frame only) come out inflated: masked, fragmented,
    /// with control frames between fragments, fed in any piece size, the window carried over
    /// from message to message. Without an inflater they are reported as compressed.
    #[test]
    fn deflated_messages_inflate_when_the_handshake_agreed() {
        use crate::observe::permessage_deflate::testing::Sender;
        let messages = [
            b"{\"setup\":{\"model\":\"models/gemini-live\"}}".to_vec(),
            b"{\"clientContent\":{\"turnComplete\":true}}".repeat(500),
            b"{\"clientContent\":{\"turnComplete\":true}}".to_vec(),
        ];
        let mut sender = Sender::new(false);
        let mut bytes = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let deflated = sender.send(m);
            let key = (i != 1).then_some([9, 8, 7, i as u8]);
            let opcode = if i == 1 { 2 } else { 1 };
            if i == 0 {
                let mut whole = frame(true, opcode, &deflated, key);
                whole[0] |= 0x40;
                bytes.extend(whole);
                bytes.extend(frame(true, 9, b"ping", key));
                continue;
            }
            let (a, b) = deflated.split_at(deflated.len() / 2);
            let mut first = frame(false, opcode, a, key);
            first[0] |= 0x40;
            bytes.extend(first);
            if i == 1 {
                bytes.extend(frame(true, 9, b"ping", key));
            }
            bytes.extend(frame(true, 0, b, key));
        }
        for piece in [1, 5, 4096, bytes.len()] {
            let mut d = FrameDecoder::new(1 << 20).with_inflater(Inflater::new(false));
            let mut got = Vec::new();
            for c in bytes.chunks(piece) {
                d.feed(c, &mut got);
            }
            let want = vec![
                Event::Message {
                    binary: false,
                    payload: messages[0].clone(),
                },
                Event::Ping,
                Event::Ping,
                Event::Message {
                    binary: true,
                    payload: messages[1].clone(),
                },
                Event::Message {
                    binary: false,
                    payload: messages[2].clone(),
                },
            ];
            assert_eq!(got, want, "piece size {piece}");
        }
        let got = decode_in_pieces(&bytes, 4096, 1 << 20);
        assert_eq!(got.iter().filter(|e| **e == Event::Compressed).count(), 3);
    }

    /// A message that inflates past the bound is reported; with the window carried over, every
    /// later compressed message of that direction is too, and uncompressed ones still read.
    #[test]
    fn a_deflated_message_past_the_bound_is_reported_and_loses_the_window() {
        use crate::observe::permessage_deflate::testing::Sender;
        let mut sender = Sender::new(false);
        let mut bytes = Vec::new();
        for m in [vec![b'z'; 5_000], b"{\"after\":1}".to_vec()] {
            let mut f = frame(true, 1, &sender.send(&m), None);
            f[0] |= 0x40;
            bytes.extend(f);
        }
        bytes.extend(frame(true, 1, b"{\"plain\":1}", None));
        let mut d = FrameDecoder::new(1_000).with_inflater(Inflater::new(false));
        let mut got = Vec::new();
        d.feed(&bytes, &mut got);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(
            got[0],
            Event::NotInflated("inflates past 1000 bytes".into())
        );
        assert!(
            matches!(&got[1], Event::NotInflated(why) if why.contains("window lost")),
            "{got:?}"
        );
        assert_eq!(
            got[2],
            Event::Message {
                binary: false,
                payload: b"{\"plain\":1}".to_vec()
            }
        );
    }

    #[test]
    fn broken_framing_stops_decoding() {
        let mut bytes = frame(true, 0, b"orphan", None);
        bytes.extend(frame(true, 1, b"later", None));
        let got = decode_in_pieces(&bytes, 2, 100);
        assert_eq!(got.len(), 1);
        assert!(matches!(&got[0], Event::Broken(why) if why.contains("continuation")));
        let got = decode_in_pieces(&frame(true, 3, b"", None), 1, 100);
        assert!(matches!(&got[0], Event::Broken(why) if why.contains("reserved")));
    }
}
