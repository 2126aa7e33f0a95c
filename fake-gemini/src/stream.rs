//! Streamed answers: SSE (`alt=sse`) and JSON-array `streamGenerateContent`,
//! plus the generic frame pump (gaps, holds, mid-stream resets) that the
//! OpenAI-compatible stream reuses.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::config::{Fault, Knobs};
use crate::native::{BlockedResponse, GenResponse, response_id};
use crate::state::Shared;
use crate::tokens::{self, Prompt};
use crate::util::{google_line, pretty};

/// How a `streamGenerateContent` answer is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `data: <json>\r\n\r\n` events (`alt=sse`).
    Sse,
    /// A pretty-printed JSON array sent element by element.
    JsonArray,
}

impl Framing {
    /// One stream element: an SSE event, or an array element (opening the array when it is
    /// the `first`, closing it when it is the `last`).
    fn frame<T: serde::Serialize>(self, event: &T, first: bool, last: bool) -> Bytes {
        Bytes::from(match self {
            Framing::Sse => format!("data: {}\r\n\r\n", google_line(event)),
            Framing::JsonArray => {
                let open = if first { "[" } else { "\r\n," };
                let close = if last { "\r\n]" } else { "" };
                format!("{open}{}{close}", pretty(event))
            }
        })
    }
}

/// Events sent before the connection is aborted by `reset-mid-stream`.
const EVENTS_BEFORE_RESET: usize = 2;

/// Render the stream events of a generate request.
pub(crate) fn generate_frames(
    model: &str,
    prompt: &Prompt,
    chunks: usize,
    framing: Framing,
    seed: u64,
) -> Vec<Bytes> {
    let words = prompt.reply_words();
    // Nothing generated: one event, with the usage and the finish reason.
    let pieces = if prompt.exhausted {
        vec![(String::new(), 0)]
    } else {
        tokens::pieces(&words, chunks)
    };
    let id = response_id(seed);
    let n = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, (text, cumulative))| {
            let last = i + 1 == n;
            let event = GenResponse::new(prompt, text, cumulative, last, model, &id);
            framing.frame(&event, i == 0, last)
        })
        .collect()
}

/// A streamed `streamGenerateContent` response.
pub(crate) fn generate_stream(
    shared: Arc<Shared>,
    knobs: Knobs,
    model: &str,
    prompt: &Prompt,
    framing: Framing,
) -> Response {
    let mut frames = match knobs.block {
        // A blocked prompt: one event, the feedback and the prompt's usage.
        Some(reason) => {
            let event =
                BlockedResponse::new(prompt, reason, model, &response_id(shared.next_seq()));
            vec![framing.frame(&event, true, true)]
        }
        None => generate_frames(model, prompt, knobs.chunks, framing, shared.next_seq()),
    };
    if knobs.fault == Some(Fault::ErrorMidStream) {
        // Two events, then the error as the stream's last element (Gemini's in-band error).
        frames.truncate(EVENTS_BEFORE_RESET);
        let error = crate::errors::ApiError::new(
            500,
            "An internal error has occurred. Please retry or report in \
             https://developers.generativeai.google/guide/troubleshooting",
        )
        .envelope();
        frames.push(framing.frame(&error, false, true));
    }
    let content_type = match framing {
        Framing::Sse => "text/event-stream",
        Framing::JsonArray => "application/json; charset=UTF-8",
    };
    frames_response(shared, knobs, frames, content_type)
}

/// A response whose body sends `frames` one by one, honouring the chunk gap,
/// `x-fake-hold` (after the first frame) and `x-fake-fault: reset-mid-stream`.
pub(crate) fn frames_response(
    shared: Arc<Shared>,
    knobs: Knobs,
    frames: Vec<Bytes>,
    content_type: &'static str,
) -> Response {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(1);
    tokio::spawn(pump(shared, knobs, frames, tx));
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut resp = Body::from_stream(stream).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Feed `frames` into the body channel; stops early if the client goes away.
async fn pump(
    shared: Arc<Shared>,
    knobs: Knobs,
    frames: Vec<Bytes>,
    tx: mpsc::Sender<io::Result<Bytes>>,
) {
    let gap = Duration::from_millis(knobs.chunk_gap_ms);
    let reset = knobs.fault == Some(Fault::ResetMidStream);
    let limit = if reset {
        EVENTS_BEFORE_RESET
    } else {
        usize::MAX
    };
    for (i, frame) in frames.into_iter().take(limit).enumerate() {
        if i > 0 && !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        if tx.send(Ok(frame)).await.is_err() {
            return;
        }
        if i == 0
            && let Some(token) = &knobs.hold
        {
            tokio::select! {
                () = shared.wait_release(token) => {}
                () = tx.closed() => return,
            }
        }
    }
    if reset {
        // Let hyper flush the events already sent before the body fails.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let err = io::Error::new(
            io::ErrorKind::ConnectionReset,
            "fake-gemini reset-mid-stream",
        );
        let _ = tx.send(Err(err)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn prompt() -> Prompt {
        Prompt {
            prompt_tokens: 3,
            cached_tokens: 0,
            thoughts_tokens: 7,
            last_user_text: "say hi".into(),
            grounded: false,
            media: None,
            tier: crate::tier::Tier::Standard,
            exhausted: false,
        }
    }

    #[test]
    fn json_array_frames_form_an_array() {
        let frames = generate_frames("gemini-2.5-flash", &prompt(), 3, Framing::JsonArray, 1);
        let all: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
        let v: Value = serde_json::from_slice(&all).expect("array");
        assert_eq!(v.as_array().map(Vec::len), Some(3));
        assert_eq!(v[2]["candidates"][0]["finishReason"], "STOP");
        assert!(v[0]["candidates"][0].get("finishReason").is_none());
    }

    #[test]
    fn sse_frames_are_crlf_terminated() {
        let frames = generate_frames("gemini-2.5-flash", &prompt(), 2, Framing::Sse, 1);
        assert!(
            frames
                .iter()
                .all(|f| f.starts_with(b"data: {") && f.ends_with(b"}\r\n\r\n"))
        );
    }
}
