//! State shared by the server and the [`crate::FakeGemini`] handle: the
//! request log, the hold registry, the file store and the interaction store.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::watch;

use crate::config::FakeConfig;
use crate::files::FileStore;
use crate::interactions::api::InteractionStore;

/// Bodies up to this size are kept in [`SeenRequest::body`].
pub(crate) const MAX_RECORDED_BODY: usize = 1024 * 1024;

/// One request received by the fake, as recorded by [`crate::FakeGemini::requests`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Request path without the query, e.g. `/v1beta/models/x:generateContent`.
    pub path: String,
    /// Raw query string without `?`, if any.
    pub query: Option<String>,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Request body; empty for bodies over 1 MiB.
    pub body: Bytes,
}

impl SeenRequest {
    /// First value of the header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// JSON view of a [`SeenRequest`] served at `GET /__fake/requests`.
#[derive(Serialize)]
pub(crate) struct SeenRequestJson {
    method: String,
    path: String,
    query: Option<String>,
    headers: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "bodyLen")]
    body_len: usize,
    body: String,
}

impl From<&SeenRequest> for SeenRequestJson {
    fn from(r: &SeenRequest) -> Self {
        let mut headers = serde_json::Map::new();
        for (k, v) in &r.headers {
            let joined = match headers.get(k).and_then(|old| old.as_str()) {
                Some(old) => format!("{old}, {v}"),
                None => v.clone(),
            };
            headers.insert(k.clone(), joined.into());
        }
        SeenRequestJson {
            method: r.method.clone(),
            path: r.path.clone(),
            query: r.query.clone(),
            headers,
            body_len: r.body.len(),
            body: String::from_utf8_lossy(&r.body).into_owned(),
        }
    }
}

/// Everything the server tasks and the handle share.
pub(crate) struct Shared {
    /// Server-wide defaults.
    pub cfg: FakeConfig,
    /// Bound address (used when a request carries no `Host`).
    pub addr: SocketAddr,
    /// Whether the fake serves TLS (URLs it hands out are then `https://`).
    pub https: bool,
    seen: Mutex<Vec<SeenRequest>>,
    holds: Mutex<HashMap<String, watch::Sender<bool>>>,
    /// Uploaded files and upload sessions.
    pub files: FileStore,
    /// Stored interactions (bounded).
    pub interactions: InteractionStore,
    seq: AtomicU64,
}

/// Lock a mutex, recovering the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// Fresh state for a server bound to `addr`.
    pub fn new(cfg: FakeConfig, addr: SocketAddr) -> Shared {
        Shared {
            cfg,
            addr,
            https: false,
            seen: Mutex::new(Vec::new()),
            holds: Mutex::new(HashMap::new()),
            files: FileStore::default(),
            interactions: InteractionStore::default(),
            seq: AtomicU64::new(1),
        }
    }

    /// A process-unique increasing number (ids, randomness seeds).
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Append a request (without body yet); returns its index for [`Self::set_body`].
    pub fn record(&self, req: SeenRequest) -> usize {
        let mut seen = lock(&self.seen);
        seen.push(req);
        seen.len() - 1
    }

    /// Attach the body of the request recorded at `idx` (dropped if > 1 MiB).
    pub fn set_body(&self, idx: usize, body: Bytes) {
        if body.len() > MAX_RECORDED_BODY {
            return;
        }
        if let Some(r) = lock(&self.seen).get_mut(idx) {
            r.body = body;
        }
    }

    /// Snapshot of all recorded requests.
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.seen).clone()
    }

    /// Forget all recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.seen).clear();
    }

    fn hold_sender(&self, token: &str) -> watch::Sender<bool> {
        lock(&self.holds)
            .entry(token.to_string())
            .or_insert_with(|| watch::channel(false).0)
            .clone()
    }

    /// Release every stream held (now or later) with `token`.
    pub fn release(&self, token: &str) {
        self.hold_sender(token).send_replace(true);
    }

    /// Wait until `token` has been released (returns at once if it already was).
    pub async fn wait_release(&self, token: &str) {
        let mut rx = self.hold_sender(token).subscribe();
        // The sender lives in the map for the life of the server, so this
        // only errors if the map entry is gone, which never happens.
        let _ = rx.wait_for(|released| *released).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn shared() -> Shared {
        Shared::new(FakeConfig::default(), "127.0.0.1:1".parse().expect("addr"))
    }

    #[tokio::test]
    async fn release_before_hold_is_kept() {
        let s = shared();
        s.release("t1");
        tokio::time::timeout(Duration::from_secs(1), s.wait_release("t1"))
            .await
            .expect("already released");
    }

    #[tokio::test]
    async fn hold_waits_for_release() {
        let s = std::sync::Arc::new(shared());
        let s2 = s.clone();
        let waiter = tokio::spawn(async move { s2.wait_release("t2").await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        s.release("t2");
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("released")
            .expect("join");
    }

    #[test]
    fn big_bodies_are_not_kept() {
        let s = shared();
        let req = SeenRequest {
            method: "POST".into(),
            path: "/".into(),
            query: None,
            headers: vec![("a".into(), "b".into())],
            body: Bytes::new(),
        };
        let i = s.record(req.clone());
        let j = s.record(req);
        s.set_body(i, Bytes::from_static(b"small"));
        s.set_body(j, Bytes::from(vec![0u8; MAX_RECORDED_BODY + 1]));
        let seen = s.requests();
        assert_eq!(&seen[0].body[..], b"small");
        assert!(seen[1].body.is_empty());
        assert_eq!(seen[1].header("A"), Some("b"));
    }
}
