//! Response compression: `Content-Encoding: gzip` when the client's
//! `Accept-Encoding` lists gzip, or whatever `x-fake-encoding` forces
//! (`identity | gzip | deflate | br | zstd`). Bodies are compressed chunk by
//! chunk with a flush after each, so a stream's events still arrive one by
//! one and what has arrived always decodes.

use std::io::{self, Write};

use axum::body::{Body, HttpBody as _};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use futures::StreamExt;

/// Request knob forcing a content coding.
const FORCE_KNOB: &str = "x-fake-encoding";
/// Brotli quality and window (typical for dynamic content).
const BROTLI_QUALITY: u32 = 5;
const BROTLI_LGWIN: u32 = 22;
/// zstd level.
const ZSTD_LEVEL: i32 = 3;

/// A content coding of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Plain bytes.
    Identity,
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`, i.e. zlib-wrapped deflate (RFC 1950) as HTTP means it.
    Deflate,
    /// `br`.
    Br,
    /// `zstd`.
    Zstd,
}

impl Encoding {
    fn parse(s: &str) -> Option<Encoding> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "identity" | "none" => Encoding::Identity,
            "gzip" | "x-gzip" => Encoding::Gzip,
            "deflate" => Encoding::Deflate,
            "br" => Encoding::Br,
            "zstd" => Encoding::Zstd,
            _ => return None,
        })
    }

    fn token(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Br => "br",
            Encoding::Zstd => "zstd",
        }
    }
}

/// Whether an `Accept-Encoding` value lists `coding` with a non-zero q.
fn accepts(value: &str, coding: &str) -> bool {
    value.split(',').any(|item| {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q_zero = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        name.eq_ignore_ascii_case(coding) && !q_zero
    })
}

/// The coding of the answer to a request with `headers`.
pub(crate) fn negotiate(headers: &HeaderMap) -> Encoding {
    let forced = headers
        .get(FORCE_KNOB)
        .and_then(|v| v.to_str().ok())
        .and_then(Encoding::parse);
    if let Some(forced) = forced {
        return forced;
    }
    let asked = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| accepts(v, "gzip"));
    if asked {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// A streaming compressor writing into a buffer drained after every chunk.
enum Encoder {
    Gzip(GzEncoder<Vec<u8>>),
    Deflate(ZlibEncoder<Vec<u8>>),
    Br(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    fn new(enc: Encoding) -> io::Result<Option<Encoder>> {
        Ok(Some(match enc {
            Encoding::Identity => return Ok(None),
            Encoding::Gzip => Encoder::Gzip(GzEncoder::new(Vec::new(), Compression::default())),
            Encoding::Deflate => {
                Encoder::Deflate(ZlibEncoder::new(Vec::new(), Compression::default()))
            }
            Encoding::Br => Encoder::Br(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                BROTLI_QUALITY,
                BROTLI_LGWIN,
            ))),
            Encoding::Zstd => {
                Encoder::Zstd(zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)?)
            }
        }))
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Encoder::Gzip(e) => e,
            Encoder::Deflate(e) => e,
            Encoder::Br(e) => e.as_mut(),
            Encoder::Zstd(e) => e,
        }
    }

    fn output(&mut self) -> &mut Vec<u8> {
        match self {
            Encoder::Gzip(e) => e.get_mut(),
            Encoder::Deflate(e) => e.get_mut(),
            Encoder::Br(e) => e.get_mut(),
            Encoder::Zstd(e) => e.get_mut(),
        }
    }

    /// Compress `chunk` and flush (a sync flush): the bytes to send now.
    fn push(&mut self, chunk: &[u8]) -> io::Result<Bytes> {
        let w = self.writer();
        w.write_all(chunk)?;
        w.flush()?;
        Ok(Bytes::from(std::mem::take(self.output())))
    }

    /// End the compressed stream: its last bytes.
    fn finish(self) -> io::Result<Bytes> {
        let out = match self {
            Encoder::Gzip(e) => e.finish()?,
            Encoder::Deflate(e) => e.finish()?,
            Encoder::Br(e) => e.into_inner(),
            Encoder::Zstd(e) => e.finish()?,
        };
        Ok(Bytes::from(out))
    }
}

/// `resp` with its body compressed as `enc` (unchanged for identity, bodiless
/// statuses and empty bodies).
pub(crate) fn encode(resp: Response, enc: Encoding) -> Response {
    let status = resp.status();
    let empty = resp.body().size_hint().exact() == Some(0);
    if empty || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return resp;
    }
    let encoder = match Encoder::new(enc) {
        Ok(Some(e)) => e,
        Ok(None) => return resp,
        Err(e) => {
            tracing::warn!("fake-gemini: cannot start the {} encoder: {e}", enc.token());
            return resp;
        }
    };
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(enc.token()),
    );
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    let chunks = body.into_data_stream();
    let stream = futures::stream::unfold(
        (chunks, Some(encoder)),
        |(mut chunks, encoder)| async move {
            let mut encoder = encoder?;
            match chunks.next().await {
                Some(Ok(chunk)) => match encoder.push(&chunk) {
                    Ok(out) => Some((Ok(out), (chunks, Some(encoder)))),
                    Err(e) => Some((Err(e), (chunks, None))),
                },
                // A broken body (reset-mid-stream) stays broken.
                Some(Err(e)) => Some((Err(io::Error::other(e)), (chunks, None))),
                None => Some((encoder.finish(), (chunks, None))),
            }
        },
    );
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(&headers(&[])), Encoding::Identity);
        let gz = headers(&[("accept-encoding", "gzip, deflate, br, zstd")]);
        assert_eq!(negotiate(&gz), Encoding::Gzip);
        let no = headers(&[("accept-encoding", "br, gzip;q=0")]);
        assert_eq!(negotiate(&no), Encoding::Identity);
        let forced = headers(&[("accept-encoding", "gzip"), (FORCE_KNOB, "identity")]);
        assert_eq!(negotiate(&forced), Encoding::Identity);
        assert_eq!(negotiate(&headers(&[(FORCE_KNOB, "zstd")])), Encoding::Zstd);
    }

    #[test]
    fn every_flushed_prefix_decodes() {
        let mut enc = Encoder::new(Encoding::Gzip)
            .expect("encoder")
            .expect("not identity");
        let first = enc.push(b"data: one\n\n").expect("push");
        // A sync-flushed prefix decodes to everything written so far.
        let mut dec = flate2::read::GzDecoder::new(&first[..]);
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(n @ 1..) = dec.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"data: one\n\n");
        let second = enc.push(b"data: two\n\n").expect("push");
        let tail = enc.finish().expect("finish");
        let all = [first, second, tail].concat();
        let mut whole = String::new();
        flate2::read::GzDecoder::new(&all[..])
            .read_to_string(&mut whole)
            .expect("complete gzip");
        assert_eq!(whole, "data: one\n\ndata: two\n\n");
    }
}
