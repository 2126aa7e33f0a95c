//! The Files API store (`/v1beta/files…`): file records created by uploads,
//! their JSON shape, and the get / list / delete endpoints.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;

use crate::errors::ApiError;
use crate::native::json_response;
use crate::state::lock;
use crate::util::{base64, fnv1a, mix64, rfc3339};

/// How long an uploaded file lives (48 h), in microseconds.
const FILE_TTL_MICROS: u64 = 48 * 3600 * 1_000_000;

/// One file: metadata from the upload start plus the bytes counted so far.
#[derive(Debug, Clone)]
pub(crate) struct FileRec {
    /// Id without the `files/` prefix.
    pub id: String,
    /// Insertion order.
    pub seq: u64,
    /// `displayName`, if given.
    pub display_name: Option<String>,
    /// `mimeType`.
    pub mime: String,
    /// Bytes received so far.
    pub received: u64,
    /// Creation time (µs since epoch).
    pub created: u64,
    /// Last update time (µs since epoch).
    pub updated: u64,
    /// Whether `finalize` was received.
    pub finalized: bool,
}

/// Files and open upload sessions.
#[derive(Default)]
pub(crate) struct FileStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    files: BTreeMap<String, FileRec>,
    sessions: HashMap<String, String>,
}

impl FileStore {
    /// Register a file being uploaded through session `upload_id`.
    pub fn create(&self, upload_id: &str, rec: FileRec) -> Result<(), ApiError> {
        let mut inner = lock(&self.inner);
        if inner.files.contains_key(&rec.id) {
            return Err(ApiError::new(
                409,
                format!("File files/{} already exists.", rec.id),
            ));
        }
        inner.sessions.insert(upload_id.to_string(), rec.id.clone());
        inner.files.insert(rec.id.clone(), rec);
        Ok(())
    }

    /// The file behind an upload session.
    pub fn by_session(&self, upload_id: &str) -> Option<FileRec> {
        let inner = lock(&self.inner);
        let id = inner.sessions.get(upload_id)?;
        inner.files.get(id).cloned()
    }

    /// Apply `f` to the file behind an upload session; returns the new record.
    pub fn update_session(&self, upload_id: &str, f: impl FnOnce(&mut FileRec)) -> Option<FileRec> {
        let mut inner = lock(&self.inner);
        let id = inner.sessions.get(upload_id)?.clone();
        let rec = inner.files.get_mut(&id)?;
        f(rec);
        Some(rec.clone())
    }

    /// Drop an upload session and its unfinished file.
    pub fn cancel(&self, upload_id: &str) {
        let mut inner = lock(&self.inner);
        if let Some(id) = inner.sessions.remove(upload_id) {
            inner.files.remove(&id);
        }
    }

    /// A finalized file by id.
    pub fn get(&self, id: &str) -> Option<FileRec> {
        lock(&self.inner)
            .files
            .get(id)
            .filter(|f| f.finalized)
            .cloned()
    }

    /// Delete a file; false if it did not exist.
    pub fn delete(&self, id: &str) -> bool {
        let mut inner = lock(&self.inner);
        inner.sessions.retain(|_, v| v != id);
        inner.files.remove(id).is_some()
    }

    /// All finalized files in creation order.
    pub fn list(&self) -> Vec<FileRec> {
        let mut files: Vec<FileRec> = lock(&self.inner)
            .files
            .values()
            .filter(|f| f.finalized)
            .cloned()
            .collect();
        files.sort_by_key(|f| f.seq);
        files
    }
}

/// `http(s)://<Host header or bound address>` of the current request.
pub(crate) fn request_base(headers: &HeaderMap, shared: &crate::state::Shared) -> String {
    let scheme = if shared.https { "https" } else { "http" };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty());
    match host {
        Some(h) => format!("{scheme}://{h}"),
        None => format!("{scheme}://{}", shared.addr),
    }
}

/// A `File` resource.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileJson {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    mime_type: String,
    size_bytes: String,
    create_time: String,
    update_time: String,
    expiration_time: String,
    sha256_hash: String,
    uri: String,
    state: &'static str,
    source: &'static str,
}

impl FileJson {
    /// JSON of `rec`, with `uri` under `base`.
    pub fn new(rec: &FileRec, base: &str) -> FileJson {
        // Not a real SHA-256 (the bytes are never kept): a stable 64-hex-digit
        // digest of id and size, base64-encoded like the real field.
        let seed = fnv1a(rec.id.as_bytes()) ^ rec.received;
        let hex: String = (0..4u64)
            .map(|i| format!("{:016x}", mix64(seed ^ i)))
            .collect();
        FileJson {
            name: format!("files/{}", rec.id),
            display_name: rec.display_name.clone(),
            mime_type: rec.mime.clone(),
            size_bytes: rec.received.to_string(),
            create_time: rfc3339(rec.created),
            update_time: rfc3339(rec.updated),
            expiration_time: rfc3339(rec.created + FILE_TTL_MICROS),
            sha256_hash: base64(hex.as_bytes()),
            uri: format!("{base}/v1beta/files/{}", rec.id),
            state: if rec.finalized {
                "ACTIVE"
            } else {
                "PROCESSING"
            },
            source: "UPLOADED",
        }
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(404, format!("File files/{id} not found."))
}

/// `GET /{ver}/files/{id}`.
pub(crate) fn get_file(store: &FileStore, id: &str, base: &str) -> Result<Response, ApiError> {
    let rec = store.get(id).ok_or_else(|| not_found(id))?;
    Ok(json_response(&FileJson::new(&rec, base)))
}

/// `DELETE /{ver}/files/{id}` → `{}`.
pub(crate) fn delete_file(store: &FileStore, id: &str) -> Result<Response, ApiError> {
    if !store.delete(id) {
        return Err(not_found(id));
    }
    Ok(json_response(&serde_json::Map::new()))
}

#[derive(Serialize)]
struct FileList {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<FileJson>,
}

/// `GET /{ver}/files`.
pub(crate) fn list_files(store: &FileStore, base: &str) -> Response {
    json_response(&FileList {
        files: store
            .list()
            .iter()
            .map(|f| FileJson::new(f, base))
            .collect(),
    })
}
