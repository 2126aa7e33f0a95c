//! The bytes of files, where the fake needs them: small uploads (a batch job's JSONL input,
//! kept up to [`MAX_FILE_BYTES`]) and the results files batch jobs write. `GET
//! /download/{ver}/files/{id}:download?alt=media` (and `/{ver}/files/{id}:download`, the path
//! the google-genai SDK's `files.download` uses) serves them as `application/jsonl`.
//!
//! Process-wide and bounded: at most [`MAX_FILES`] files, the oldest dropped first.

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::errors::ApiError;
use crate::state::lock;

/// Largest file whose bytes are kept (larger uploads are only counted).
pub(crate) const MAX_FILE_BYTES: usize = 16 << 20;
/// Files whose bytes are kept.
const MAX_FILES: usize = 256;

#[derive(Default)]
struct Store {
    files: HashMap<String, Option<Vec<u8>>>,
    order: VecDeque<String>,
}

static STORE: LazyLock<Mutex<Store>> = LazyLock::new(Mutex::default);

fn bare(id: &str) -> &str {
    id.strip_prefix("files/").unwrap_or(id)
}

fn insert(store: &mut Store, id: &str, bytes: Option<Vec<u8>>) {
    if store.files.insert(id.to_owned(), bytes).is_none() {
        store.order.push_back(id.to_owned());
    }
    while store.order.len() > MAX_FILES {
        if let Some(old) = store.order.pop_front() {
            store.files.remove(&old);
        }
    }
}

/// Appends an uploaded chunk to file `id`; `kept` is `None` when the chunk was too large to
/// keep, which gives up the whole file.
pub(crate) fn append(id: &str, kept: Option<&[u8]>) {
    let mut store = lock(&STORE);
    let id = bare(id);
    let next = match (
        store.files.get(id).cloned().unwrap_or(Some(Vec::new())),
        kept,
    ) {
        (Some(mut v), Some(chunk)) if v.len() + chunk.len() <= MAX_FILE_BYTES => {
            v.extend_from_slice(chunk);
            Some(v)
        }
        _ => None,
    };
    insert(&mut store, id, next);
}

/// Stores the whole content of file `id` (a batch job's results).
pub(crate) fn put(id: &str, bytes: Vec<u8>) {
    insert(&mut lock(&STORE), bare(id), Some(bytes));
}

/// The content of file `id`, if it was kept.
pub(crate) fn get(id: &str) -> Option<Vec<u8>> {
    lock(&STORE).files.get(bare(id)).cloned().flatten()
}

/// `GET …/files/{id}:download?alt=media`.
pub(crate) fn download(id: &str) -> Result<Response, ApiError> {
    let bytes = get(id).ok_or_else(|| {
        ApiError::new(
            404,
            format!("File files/{id} not found or not downloadable."),
        )
    })?;
    let mut resp = Bytes::from(bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jsonl"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_kept_until_too_large() {
        append("files/u1", Some(b"a\n"));
        append("u1", Some(b"b\n"));
        assert_eq!(get("u1").as_deref(), Some(&b"a\nb\n"[..]));
        append("u2", Some(b"x"));
        append("u2", None);
        assert_eq!(get("u2"), None);
        put("files/r1", b"{}\n".to_vec());
        assert!(download("r1").is_ok());
        assert!(download("nope").is_err());
    }
}
