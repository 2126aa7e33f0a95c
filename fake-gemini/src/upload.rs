//! Resumable uploads (`/upload/{ver}/files`): `start` hands out an upload
//! URL, then `upload` / `upload, finalize` chunks are counted (never kept)
//! while they stream in.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use crate::errors::ApiError;
use crate::files::{FileJson, FileRec, request_base};
use crate::native::{json_response, parse_body};
use crate::state::{MAX_RECORDED_BODY, Shared};
use crate::util::{LOWER_CHARS, field, now_micros, random_id};

/// Chunk granularity advertised on `start` (what Google sends).
const GRANULARITY: &str = "8388608";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The comma-separated `x-goog-upload-command` words, lowercased.
fn commands(headers: &HeaderMap) -> Vec<String> {
    header(headers, "x-goog-upload-command")
        .unwrap_or("")
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Add `x-goog-upload-*` headers to a response.
fn with_upload_headers(mut resp: Response, pairs: &[(&'static str, String)]) -> Response {
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(*name, v);
        }
    }
    resp
}

/// `POST /upload/{ver}/files` with `x-goog-upload-command: start`.
pub(crate) fn start(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    ver: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let resumable = header(headers, "x-goog-upload-protocol")
        .is_some_and(|p| p.eq_ignore_ascii_case("resumable"));
    if !resumable || !commands(headers).iter().any(|c| c == "start") {
        return Err(ApiError::new(
            400,
            "fake-gemini only supports resumable uploads \
             (x-goog-upload-protocol: resumable, x-goog-upload-command: start).",
        ));
    }
    let req = parse_body(body)?;
    let file = req.get("file").cloned().unwrap_or(Value::Null);
    let text = |camel: &str, snake: &str| {
        field(&file, camel, snake)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let id = match text("name", "name") {
        Some(name) => name.strip_prefix("files/").unwrap_or(&name).to_string(),
        None => random_id(shared.next_seq(), 12, LOWER_CHARS),
    };
    let mime = text("mimeType", "mime_type")
        .or_else(|| header(headers, "x-goog-upload-header-content-type").map(str::to_string))
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let now = now_micros();
    let upload_id = format!("ABPtcP{}", random_id(shared.next_seq(), 40, LOWER_CHARS));
    shared.files.create(
        &upload_id,
        FileRec {
            id,
            seq: shared.next_seq(),
            display_name: text("displayName", "display_name"),
            mime,
            received: 0,
            created: now,
            updated: now,
            finalized: false,
        },
    )?;
    let url = format!(
        "{}/upload/{ver}/files?upload_id={upload_id}&upload_protocol=resumable",
        request_base(headers, shared)
    );
    let resp = (StatusCode::OK, "").into_response();
    Ok(with_upload_headers(
        resp,
        &[
            ("x-goog-upload-url", url.clone()),
            ("x-goog-upload-control-url", url),
            ("x-goog-upload-status", "active".into()),
            ("x-goog-upload-chunk-granularity", GRANULARITY.into()),
        ],
    ))
}

#[derive(Serialize)]
struct Finalized {
    file: FileJson,
}

/// A chunk POST to an upload URL (`upload`, `finalize`, `query`, `cancel`).
/// `record` receives the body if it is at most 1 MiB.
pub(crate) async fn chunk(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    upload_id: &str,
    body: Body,
    record: impl FnOnce(Bytes),
) -> Result<Response, ApiError> {
    let cmds = commands(headers);
    let has = |c: &str| cmds.iter().any(|x| x == c);
    let rec = shared
        .files
        .by_session(upload_id)
        .ok_or_else(|| ApiError::new(404, format!("Upload session {upload_id} not found.")))?;
    let base = request_base(headers, shared);
    if has("cancel") {
        shared.files.cancel(upload_id);
        let resp = (StatusCode::OK, "").into_response();
        return Ok(with_upload_headers(
            resp,
            &[("x-goog-upload-status", "cancelled".into())],
        ));
    }
    if has("query") {
        let status = if rec.finalized { "final" } else { "active" };
        let resp = (StatusCode::OK, "").into_response();
        return Ok(with_upload_headers(
            resp,
            &[
                ("x-goog-upload-status", status.into()),
                ("x-goog-upload-size-received", rec.received.to_string()),
            ],
        ));
    }
    if !has("upload") && !has("finalize") {
        return Err(ApiError::new(400, "Unknown x-goog-upload-command."));
    }
    if rec.finalized {
        return Err(ApiError::new(400, "The upload was already finalized."));
    }
    if let Some(offset) = header(headers, "x-goog-upload-offset") {
        let offset: u64 = offset
            .parse()
            .map_err(|_| ApiError::new(400, format!("Invalid x-goog-upload-offset: {offset}")))?;
        if offset != rec.received {
            return Err(ApiError::new(
                400,
                format!(
                    "Invalid upload offset {offset}: {} bytes were received so far.",
                    rec.received
                ),
            ));
        }
    }
    let (count, kept) = count_body(body).await?;
    crate::file_contents::append(&rec.id, (kept.len() as u64 == count).then_some(&kept[..]));
    record(kept);
    let finalize = has("finalize");
    let rec = shared
        .files
        .update_session(upload_id, |f| {
            f.received += count;
            f.updated = now_micros();
            f.finalized = finalize;
        })
        .ok_or_else(|| ApiError::new(404, format!("Upload session {upload_id} vanished.")))?;
    let mut pairs = vec![("x-goog-upload-size-received", rec.received.to_string())];
    if finalize {
        pairs.push(("x-goog-upload-status", "final".into()));
        let resp = json_response(&Finalized {
            file: FileJson::new(&rec, &base),
        });
        return Ok(with_upload_headers(resp, &pairs));
    }
    pairs.push(("x-goog-upload-status", "active".into()));
    Ok(with_upload_headers(
        (StatusCode::OK, "").into_response(),
        &pairs,
    ))
}

/// Count the bytes of `body` as they stream in; also returns them if <= 1 MiB.
async fn count_body(body: Body) -> Result<(u64, Bytes), ApiError> {
    let mut stream = body.into_data_stream();
    let mut count: u64 = 0;
    let mut kept = BytesMut::new();
    let mut keep = true;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(400, format!("Upload body error: {e}")))?;
        count += chunk.len() as u64;
        if keep && kept.len() + chunk.len() <= MAX_RECORDED_BODY {
            kept.extend_from_slice(&chunk);
        } else {
            keep = false;
            kept = BytesMut::new();
        }
    }
    Ok((count, kept.freeze()))
}
