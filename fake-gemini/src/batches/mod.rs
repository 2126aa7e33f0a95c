//! The Batch API: `POST /{ver}/models/{m}:batchGenerateContent` and
//! `:asyncBatchEmbedContent` create a job (a long-running operation named
//! `batches/{id}`), `GET /{ver}/batches/{id}` polls it,
//! `POST /{ver}/batches/{id}:cancel` cancels it and `DELETE` removes it.
//! [`job`] computes the results (one inlined response per request, by the
//! crate's token rules) and renders the operation.
//!
//! Jobs live in a process-wide bounded store keyed by the fake's address, so
//! several fakes in one process never see each other's jobs.

mod file_results;
mod job;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use crate::errors::ApiError;
use crate::native::json_response;
use crate::state::{Shared, lock};
use crate::util::{LOWER_CHARS, iso_seconds, now_micros, random_id};
pub(crate) use job::Kind;
use job::{Job, JobState};

/// Jobs kept for `GET`; the oldest is dropped beyond this.
const MAX_STORED: usize = 1024;
/// Request knob on a create: the GET that finds the job done (default 1).
const POLLS_KNOB: &str = "x-fake-polls";

#[derive(Default)]
struct Store {
    jobs: HashMap<String, Job>,
    order: VecDeque<String>,
}

static STORE: LazyLock<Mutex<Store>> = LazyLock::new(Mutex::default);

fn key(addr: SocketAddr, id: &str) -> String {
    format!("{addr}/{id}")
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(404, format!("Batch batches/{id} not found."))
}

/// `POST /{ver}/models/{model}:batchGenerateContent` (or `:asyncBatchEmbedContent`).
pub(crate) fn create(
    shared: &Shared,
    headers: &HeaderMap,
    model: &str,
    kind: Kind,
    req: &Value,
) -> Result<Response, ApiError> {
    let needed = headers
        .get(POLLS_KNOB)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    let seq = shared.next_seq();
    let id = random_id(seq, 24, LOWER_CHARS);
    let job = Job::new(&id, model, kind, req, needed, &iso_seconds(now_micros()))?;
    let view = job.operation();
    let mut store = lock(&STORE);
    let k = key(shared.addr, &id);
    store.jobs.insert(k.clone(), job);
    store.order.push_back(k);
    while store.order.len() > MAX_STORED {
        if let Some(old) = store.order.pop_front() {
            store.jobs.remove(&old);
        }
    }
    Ok(json_response(&view))
}

/// `GET /{ver}/batches/{id}`: counts a poll of a pending job and answers the operation.
pub(crate) fn get(shared: &Shared, id: &str) -> Result<Response, ApiError> {
    let mut store = lock(&STORE);
    let job = store
        .jobs
        .get_mut(&key(shared.addr, id))
        .ok_or_else(|| not_found(id))?;
    if let JobState::Pending { seen, needed } = &mut job.state {
        *seen += 1;
        if *seen >= *needed {
            job.state = JobState::Succeeded;
            job.update_time = iso_seconds(now_micros());
        }
    }
    Ok(json_response(&job.operation()))
}

/// `POST /{ver}/batches/{id}:cancel` → `{}`; a pending job becomes cancelled
/// (without results), a finished one stays as it is.
pub(crate) fn cancel(shared: &Shared, id: &str) -> Result<Response, ApiError> {
    let mut store = lock(&STORE);
    let job = store
        .jobs
        .get_mut(&key(shared.addr, id))
        .ok_or_else(|| not_found(id))?;
    if matches!(job.state, JobState::Pending { .. }) {
        job.state = JobState::Cancelled;
        job.update_time = iso_seconds(now_micros());
    }
    Ok(json_response(&serde_json::Map::new()))
}

/// `DELETE /{ver}/batches/{id}` → `{}`.
pub(crate) fn delete(shared: &Shared, id: &str) -> Result<Response, ApiError> {
    let mut store = lock(&STORE);
    let k = key(shared.addr, id);
    if store.jobs.remove(&k).is_none() {
        return Err(not_found(id));
    }
    store.order.retain(|x| *x != k);
    Ok(json_response(&serde_json::Map::new()))
}
