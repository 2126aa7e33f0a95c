//! Interactions endpoints: `POST /{ver}/interactions` (unary, streamed or
//! background), `GET | DELETE /{ver}/interactions/{id}` (a `GET` with
//! `?stream=true` streams the events, after `last_event_id` when given),
//! `POST /{ver}/interactions/{id}/cancel`, and the bounded store behind them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::Interaction;
use super::create::{Created, create as compute};
use super::stream::{frames, with_error_mid_stream};
use super::usage::Counts;
use crate::config::{Fault, Knobs};
use crate::errors::ApiError;
use crate::native::json_response;
use crate::state::{Shared, lock};
use crate::stream::frames_response;
use crate::tier::{self, Tier};
use crate::util::{iso_seconds, now_micros};

/// Interactions kept for `GET`; the oldest is dropped beyond this.
const MAX_STORED: usize = 1024;
/// Request knob on a background create: the GET that completes it (default 1).
const POLLS_KNOB: &str = "x-fake-polls";

/// Where a stored interaction stands.
#[derive(Debug, Clone)]
enum State {
    /// A background interaction still running: `seen` of `needed` polls done.
    Running { seen: u64, needed: u64 },
    /// Finished: `GET` shows the full interaction.
    Done,
    /// Cancelled: `GET` shows this.
    Cancelled(Box<Interaction>),
}

#[derive(Debug, Clone)]
struct Record {
    full: Interaction,
    state: State,
    /// The input counts and each step's, to replay the events of a streamed `GET`.
    base: Counts,
    step_counts: Vec<Counts>,
}

/// Stored interactions by id, bounded to [`MAX_STORED`].
#[derive(Default)]
pub(crate) struct InteractionStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    records: HashMap<String, Record>,
    order: VecDeque<String>,
}

impl InteractionStore {
    fn insert(&self, created: &Created, state: State) {
        let mut inner = lock(&self.inner);
        let full = created.interaction.clone();
        let id = full.id.clone();
        let record = Record {
            full,
            state,
            base: created.base,
            step_counts: created.step_counts.clone(),
        };
        if inner.records.insert(id.clone(), record).is_none() {
            inner.order.push_back(id);
        }
        while inner.order.len() > MAX_STORED {
            if let Some(old) = inner.order.pop_front() {
                inner.records.remove(&old);
            }
        }
    }

    /// `GET`: counts a poll of a running interaction and answers its view.
    fn poll(&self, id: &str) -> Option<Interaction> {
        let mut inner = lock(&self.inner);
        let rec = inner.records.get_mut(id)?;
        Some(match &mut rec.state {
            State::Running { seen, needed } => {
                *seen += 1;
                if *seen < *needed {
                    rec.full.in_progress()
                } else {
                    rec.full.updated = iso_seconds(now_micros());
                    rec.state = State::Done;
                    rec.full.clone()
                }
            }
            State::Done => rec.full.clone(),
            State::Cancelled(view) => view.as_ref().clone(),
        })
    }

    /// A streamed `GET`: the interaction to replay, run to its end (a stream follows a
    /// running interaction until it finishes); `None` for a cancelled one.
    fn resume(&self, id: &str) -> Option<Option<Created>> {
        let mut inner = lock(&self.inner);
        let rec = inner.records.get_mut(id)?;
        if let State::Cancelled(_) = rec.state {
            return Some(None);
        }
        if let State::Running { .. } = rec.state {
            rec.full.updated = iso_seconds(now_micros());
            rec.state = State::Done;
        }
        Some(Some(Created {
            interaction: rec.full.clone(),
            base: rec.base,
            step_counts: rec.step_counts.clone(),
            stream: true,
            background: false,
            store: true,
        }))
    }

    /// Cancel: a running interaction loses its (future) steps and usage; a
    /// finished one keeps them. Either way its status becomes `cancelled`.
    fn cancel(&self, id: &str) -> Option<Interaction> {
        let mut inner = lock(&self.inner);
        let rec = inner.records.get_mut(id)?;
        let view = match &rec.state {
            State::Running { .. } => Interaction {
                status: "cancelled",
                updated: iso_seconds(now_micros()),
                ..rec.full.in_progress()
            },
            State::Done => Interaction {
                status: "cancelled",
                updated: iso_seconds(now_micros()),
                ..rec.full.clone()
            },
            State::Cancelled(view) => view.as_ref().clone(),
        };
        rec.state = State::Cancelled(Box::new(view.clone()));
        Some(view)
    }

    fn delete(&self, id: &str) -> bool {
        let mut inner = lock(&self.inner);
        inner.order.retain(|x| x != id);
        inner.records.remove(id).is_some()
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(404, format!("Interaction {id} not found."))
}

/// A JSON interaction with its `x-gemini-service-tier` header.
fn interaction_response(i: &Interaction) -> Response {
    let mut resp = json_response(i);
    tier::set_header(&mut resp, i.service_tier);
    resp
}

/// `POST /{ver}/interactions`, served at `tier`.
pub(crate) fn create(
    shared: &Arc<Shared>,
    knobs: Knobs,
    headers: &HeaderMap,
    req: &Value,
    tier: Tier,
) -> Result<Response, ApiError> {
    let now = iso_seconds(now_micros());
    let created = compute(req, tier, shared.next_seq(), &now)?;
    let needed = headers
        .get(POLLS_KNOB)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    let running = created.background && !created.stream;
    if created.store {
        let state = if running {
            State::Running { seen: 0, needed }
        } else {
            State::Done
        };
        shared.interactions.insert(&created, state);
    }
    if created.stream {
        let frames = stream_frames(&created, &knobs);
        return Ok(frames_response(
            shared.clone(),
            knobs,
            frames,
            "text/event-stream",
        ));
    }
    if running {
        return Ok(interaction_response(&created.interaction.in_progress()));
    }
    Ok(interaction_response(&created.interaction))
}

/// The events of a streamed interaction, cut by `x-fake-fault: error-mid-stream`.
fn stream_frames(created: &Created, knobs: &Knobs) -> Vec<bytes::Bytes> {
    let all = frames(created, knobs.chunks);
    if knobs.fault == Some(Fault::ErrorMidStream) {
        with_error_mid_stream(all)
    } else {
        all
    }
}

/// `GET /{ver}/interactions/{id}`; with `stream`, the interaction's events from its start, or
/// those after event `after` (`last_event_id`).
pub(crate) fn get(
    shared: &Arc<Shared>,
    knobs: Knobs,
    id: &str,
    stream: bool,
    after: Option<u64>,
) -> Result<Response, ApiError> {
    if stream
        && let Some(created) = shared
            .interactions
            .resume(id)
            .ok_or_else(|| not_found(id))?
    {
        let skip = after.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let events: Vec<_> = stream_frames(&created, &knobs)
            .into_iter()
            .skip(skip)
            .collect();
        let mut resp = frames_response(shared.clone(), knobs, events, "text/event-stream");
        tier::set_header(&mut resp, created.interaction.service_tier);
        return Ok(resp);
    }
    let i = shared.interactions.poll(id).ok_or_else(|| not_found(id))?;
    Ok(interaction_response(&i))
}

/// `POST /{ver}/interactions/{id}/cancel`.
pub(crate) fn cancel(shared: &Shared, id: &str) -> Result<Response, ApiError> {
    let i = shared
        .interactions
        .cancel(id)
        .ok_or_else(|| not_found(id))?;
    Ok(interaction_response(&i))
}

/// `DELETE /{ver}/interactions/{id}` → `{}`.
pub(crate) fn delete(shared: &Shared, id: &str) -> Result<Response, ApiError> {
    if !shared.interactions.delete(id) {
        return Err(not_found(id));
    }
    Ok(json_response(&serde_json::Map::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(store: &InteractionStore, id: &str, state: State) {
        let req = json!({"model": "gemini-3.8-flash", "input": "x"});
        let mut c = compute(&req, Tier::Standard, 1, "t").expect("created");
        c.interaction.id = id.to_string();
        store.insert(&c, state);
    }

    #[test]
    fn polls_then_completes_and_is_bounded() {
        let store = InteractionStore::default();
        stored(&store, "a", State::Running { seen: 0, needed: 3 });
        let status = |s: &InteractionStore| s.poll("a").map(|i| (i.status, i.usage.is_some()));
        assert_eq!(status(&store), Some(("in_progress", false)));
        assert_eq!(status(&store), Some(("in_progress", false)));
        assert_eq!(status(&store), Some(("completed", true)));
        assert_eq!(status(&store), Some(("completed", true)));
        assert_eq!(store.cancel("a").map(|i| i.status), Some("cancelled"));
        assert_eq!(status(&store), Some(("cancelled", true)));
        for n in 0..MAX_STORED {
            stored(&store, &format!("x{n}"), State::Done);
        }
        assert!(store.poll("a").is_none(), "the oldest is evicted");
        assert!(store.delete("x5"));
        assert!(!store.delete("x5"));
    }
}
