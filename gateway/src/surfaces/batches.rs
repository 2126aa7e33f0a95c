//! The Batch API. `:batchGenerateContent` and `:asyncBatchEmbedContent` create a job whose usage
//! arrives later, so the create is **deferred** (no cost, not unpriced); its span records the
//! model and `gateway.batch.requests` (inlined requests, else `batchStats.requestCount`).
//!
//! `GET …/batches/{id}` (operation `fetch_response`, model = the job's served model) meters a
//! finished job **once per id**, however often it is polled: the SUM of the usage of its
//! `inlinedResponses` (each one a separately billed call, read like a generateContent answer;
//! embeddings by `tokenCount`) at tier `batch`. Later polls are free, without usage, marked
//! `gateway.batch.already_metered`. A pending job is deferred; a cancelled, failed or expired
//! one (no output) is free. A job whose results are a `responsesFile` stays deferred, with
//! `gateway.batch.results = "not_seen"` (never $0) and `gateway.batch.responses_file` naming
//! the file, until that file is downloaded through the gateway (see `batch_files`): the
//! download meters its lines once per file; later polls of the job are then free
//! (`already_metered`). Cancel, delete and list are free.

use super::batches_wire::{CreateRequest, Operation, first_metering, sum_inlined};
use super::generate_content::path_model;
use super::{AnswerCtx, PathParts, Surface, route};
use crate::observe::Observed;
use crate::payload::ResponseSummary;
use crate::route::Route;
use gateway_plugin_sdk::Metering;
use gateway_plugin_sdk::semconv as sc;
use opentelemetry::KeyValue;

/// The tier a batch job is priced at.
const TIER_BATCH: &str = "batch";

/// The batch surface.
pub struct Batches;

/// What kind of batch request a route is, kept in its template.
fn action(route: &Route) -> &'static str {
    if route.operation == Some(sc::OP_FETCH_RESPONSE) {
        "get"
    } else if route.metering == Metering::Deferred {
        "create"
    } else {
        "other"
    }
}

fn strip_models(m: &str) -> String {
    m.strip_prefix("models/").unwrap_or(m).to_owned()
}

impl Surface for Batches {
    fn name(&self) -> &'static str {
        "batches"
    }

    fn classify(&self, p: &PathParts<'_>) -> Option<Route> {
        if let Some(r) = super::batch_files::classify(p) {
            return Some(r);
        }
        if let Some((collection, name, method)) = p.model_method() {
            let op = match method {
                "batchGenerateContent" => sc::OP_GENERATE_CONTENT,
                "asyncBatchEmbedContent" => sc::OP_EMBEDDINGS,
                _ => return None,
            };
            let mut r = route(
                &Batches,
                Metering::Deferred,
                format!("/{}/{collection}/{{model}}:{method}", p.version),
            );
            r.model = Some(path_model(collection, name));
            r.operation = Some(op);
            return Some(r);
        }
        let rest = p.rest;
        if rest == "batches" || rest.starts_with("batches/") {
            let id = rest["batches".len()..].trim_start_matches('/');
            if p.method == "GET" && !id.is_empty() && !id.contains([':', '/']) {
                // Free as a route; the answer makes it metered (a finished job, once per id)
                // or deferred (pending, results in a file).
                let mut r = route(
                    &Batches,
                    Metering::Free,
                    format!("/{}/batches/{{id}}", p.version),
                );
                r.operation = Some(sc::OP_FETCH_RESPONSE);
                return Some(r);
            }
            let template = if rest.contains(':') {
                format!(
                    "/{}/batches/{{id}}:{}",
                    p.version,
                    rest.rsplit(':').next().unwrap_or("")
                )
            } else {
                crate::route::generic_template(p.version, rest)
            };
            return Some(route(&Batches, Metering::Free, template));
        }
        None
    }

    fn summarize(&self, observed: &Observed, answer: &AnswerCtx<'_>) -> ResponseSummary {
        let base = crate::payload::summarize(observed);
        let mut s = ResponseSummary {
            error_status: base.error_status,
            ..ResponseSummary::default()
        };
        if super::batch_files::is_download(answer.route) {
            return super::batch_files::summarize(observed, answer, s);
        }
        let act = action(answer.route);
        if act == "other" || s.error_status.is_some() {
            s.metering = Some(Metering::Free);
            return s;
        }
        s.service_tier = Some(TIER_BATCH.to_owned());
        let doc = observed
            .usage_event
            .as_ref()
            .or(observed.last_event.as_ref());
        let op = match doc.map(|d| serde_json::from_slice::<Operation>(d)) {
            Some(Ok(op)) => op,
            Some(Err(_)) if observed.truncated => {
                s.parse_error = Some("response larger than max_parse_bytes".into());
                Operation::default()
            }
            Some(Err(e)) => {
                s.parse_error = Some(format!("invalid JSON in response: {e}"));
                Operation::default()
            }
            None => Operation::default(),
        };
        let meta = op.metadata.unwrap_or_default();
        s.response_model = meta.model.as_deref().map(strip_models);
        if let Some(id) = &op.name {
            s.llm_attrs
                .push(KeyValue::new(sc::GATEWAY_BATCH_ID, id.clone()));
        }
        if let Some(st) = &meta.state {
            s.llm_attrs
                .push(KeyValue::new(sc::GATEWAY_BATCH_STATE, st.clone()));
        }
        if act == "create" {
            let req: CreateRequest = serde_json::from_slice(answer.body).unwrap_or_default();
            let input = req.batch.and_then(|b| b.input_config).unwrap_or_default();
            let stated = meta
                .batch_stats
                .and_then(|b| b.request_count)
                .and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                });
            let inlined = input.requests.map(|r| r.requests.len() as u64);
            if let Some(n) = inlined.filter(|n| *n > 0).or(stated) {
                s.llm_attrs.push(KeyValue::new(
                    sc::GATEWAY_BATCH_REQUESTS,
                    n.min(i64::MAX as u64) as i64,
                ));
            }
            s.metering = Some(Metering::Deferred);
            return s;
        }
        // A GET: meter the finished job's inlined results once per job id, on the day the job
        // was created.
        let created = super::work_created_at(meta.create_time.as_deref());
        let output = meta.output.or(op.response);
        let inlined = output.as_ref().and_then(|o| o.inlined_responses.as_ref());
        let file = output.as_ref().and_then(|o| o.responses_file.clone());
        s.metering = Some(if let Some(inlined) = inlined {
            let totals = sum_inlined(inlined);
            s.response_model = totals.model.or(s.response_model.take());
            s.llm_attrs.push(KeyValue::new(
                sc::GATEWAY_BATCH_RESPONSES,
                totals.responses as i64,
            ));
            if totals.failed > 0 {
                s.llm_attrs.push(KeyValue::new(
                    sc::GATEWAY_BATCH_FAILED,
                    totals.failed as i64,
                ));
            }
            match (&op.name, totals.usage) {
                (_, None) if totals.failed == totals.responses => Metering::Free,
                (Some(id), usage) if first_metering(id) => {
                    s.usage = usage;
                    s.usage_parts = totals.parts;
                    s.work_created_at = created;
                    Metering::Metered
                }
                (Some(_), _) => {
                    s.llm_attrs
                        .push(KeyValue::new(sc::GATEWAY_BATCH_ALREADY_METERED, true));
                    Metering::Free
                }
                (None, usage) => {
                    s.usage = usage;
                    s.usage_parts = totals.parts;
                    s.work_created_at = created;
                    Metering::Metered
                }
            }
        } else if let Some(f) = file {
            super::batch_files::announce(&f);
            let seen = super::batches_wire::file_metered(&f);
            s.llm_attrs
                .push(KeyValue::new(sc::GATEWAY_BATCH_RESPONSES_FILE, f));
            if seen {
                // Its lines were metered when the file was downloaded.
                s.llm_attrs
                    .push(KeyValue::new(sc::GATEWAY_BATCH_ALREADY_METERED, true));
                s.llm_attrs
                    .push(KeyValue::new(sc::GATEWAY_BATCH_RESULTS, "already_metered"));
                Metering::Free
            } else {
                s.llm_attrs
                    .push(KeyValue::new(sc::GATEWAY_BATCH_RESULTS, "not_seen"));
                Metering::Deferred
            }
        } else if s.parse_error.is_some() {
            Metering::Metered // Unreadable: priced as unknown usage (flagged unpriced).
        } else if op.done {
            Metering::Free // Cancelled, failed or expired without results.
        } else {
            Metering::Deferred
        });
        s
    }
}
