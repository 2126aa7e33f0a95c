//! The decoding stage in front of the framer: identity, gzip, deflate (zlib), br or zstd,
//! written chunk by chunk into a bounded buffer that is drained into the framer after each
//! chunk.

use super::MAX_RATIO;
use super::Observed;
use super::framer::Framer;
use std::io::{self, Write};

/// Where decoders write: a buffer drained after every chunk, refusing past the size bound.
#[derive(Debug, Default)]
pub(super) struct Sink {
    buf: Vec<u8>,
    decoded: u64,
    /// Compressed bytes fed so far.
    raw: u64,
    /// Free allowance before the ratio bound applies (`max_parse_bytes`).
    allowance: u64,
}

impl Sink {
    fn limit(&self) -> u64 {
        self.allowance.max(self.raw.saturating_mul(MAX_RATIO))
    }
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.decoded + data.len() as u64 > self.limit() {
            return Err(io::Error::other(format!(
                "decoded answer exceeds {}x its compressed size past max_parse_bytes; \
                 not inspected further",
                MAX_RATIO
            )));
        }
        self.decoded += data.len() as u64;
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Brotli = brotli_decompressor::DecompressorWriter<Sink>;

enum Stage {
    Identity,
    Gzip(Box<flate2::write::GzDecoder<Sink>>),
    Deflate(Box<flate2::write::ZlibDecoder<Sink>>),
    Br(Box<Brotli>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Sink>>),
    /// Decoding stopped: the rest of the body is only counted.
    Stopped,
}

/// A decoder feeding a framer.
pub(super) struct Decoder {
    stage: Stage,
    framer: Framer,
    bytes: u64,
    decoded: u64,
    encoding: Option<&'static str>,
    error: Option<String>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("encoding", &self.encoding)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    pub(super) fn new(framer: Framer, encoding: Option<&str>, allowance: u64) -> Self {
        let sink = || Sink {
            allowance,
            ..Sink::default()
        };
        let name = encoding
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty() && e != "identity");
        let (stage, encoding, error) = match name.as_deref() {
            None => (Stage::Identity, None, None),
            Some("gzip" | "x-gzip") => (
                Stage::Gzip(Box::new(flate2::write::GzDecoder::new(sink()))),
                Some("gzip"),
                None,
            ),
            Some("deflate") => (
                Stage::Deflate(Box::new(flate2::write::ZlibDecoder::new(sink()))),
                Some("deflate"),
                None,
            ),
            Some("br") => (
                Stage::Br(Box::new(Brotli::new(sink(), 8192))),
                Some("br"),
                None,
            ),
            Some("zstd") => match zstd::stream::write::Decoder::new(sink()) {
                Ok(d) => (Stage::Zstd(Box::new(d)), Some("zstd"), None),
                Err(e) => (Stage::Stopped, Some("zstd"), Some(e.to_string())),
            },
            Some(other) => (
                Stage::Stopped,
                None,
                Some(format!(
                    "unsupported Content-Encoding {other:?}; answer not inspected"
                )),
            ),
        };
        Self {
            stage,
            framer,
            bytes: 0,
            decoded: 0,
            encoding,
            error,
        }
    }

    fn sink(&mut self) -> Option<&mut Sink> {
        match &mut self.stage {
            Stage::Gzip(d) => Some(d.get_mut()),
            Stage::Deflate(d) => Some(d.get_mut()),
            Stage::Br(d) => Some(d.get_mut()),
            Stage::Zstd(d) => Some(d.get_mut()),
            Stage::Identity | Stage::Stopped => None,
        }
    }

    fn drain(&mut self) {
        let Some(sink) = self.sink() else { return };
        let buf = std::mem::take(&mut sink.buf);
        self.decoded += buf.len() as u64;
        self.framer.feed(&buf);
        if let Some(sink) = self.sink() {
            // Reuse the allocation for the next chunk.
            let mut buf = buf;
            buf.clear();
            sink.buf = buf;
        }
    }

    fn stop(&mut self, e: io::Error) {
        self.drain();
        self.error
            .get_or_insert_with(|| format!("could not decode the answer: {e}"));
        self.stage = Stage::Stopped;
    }

    pub(super) fn feed(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        if let Some(sink) = self.sink() {
            sink.raw += chunk.len() as u64;
        }
        let result = match &mut self.stage {
            Stage::Identity => {
                self.decoded += chunk.len() as u64;
                self.framer.feed(chunk);
                return;
            }
            Stage::Stopped => return,
            Stage::Gzip(d) => d.write_all(chunk),
            Stage::Deflate(d) => d.write_all(chunk),
            Stage::Br(d) => d.write_all(chunk),
            Stage::Zstd(d) => d.write_all(chunk),
        };
        match result {
            Ok(()) => self.drain(),
            Err(e) => self.stop(e),
        }
    }

    pub(super) fn finish(mut self) -> Observed {
        let result = match &mut self.stage {
            Stage::Gzip(d) => d.try_finish(),
            Stage::Deflate(d) => d.try_finish(),
            Stage::Br(d) => d.close().map_err(|e| io::Error::other(format!("{e:?}"))),
            Stage::Zstd(d) => d.flush(),
            Stage::Identity | Stage::Stopped => Ok(()),
        };
        match result {
            Ok(()) => self.drain(),
            Err(e) => self.stop(e),
        }
        let mut out = self.framer.finish();
        out.bytes = self.bytes;
        out.decoded_bytes = self.decoded;
        out.encoding = self.encoding;
        out.decode_error = self.error;
        out
    }
}
