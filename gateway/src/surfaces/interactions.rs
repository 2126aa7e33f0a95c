//! The Interactions API (`/{version}/interactions`), Google's primary surface since June 2026.
//!
//! - `POST …/interactions` creates one, unary or streamed (SSE events with cumulative usage on
//!   `step.delta`, `step.stop`, `interaction.status_update` and `interaction.completed`: the last
//!   one wins, never a sum). `background: true` answers `in_progress` without usage: deferred.
//! - `GET …/interactions/{id}` (`fetch_response`) meters a finished interaction's usage **once
//!   per id**, however often it is polled; later polls are free and marked
//!   `gateway.interaction.already_metered`.
//! - `…/{id}/cancel` and `DELETE …/{id}` are free.
//!
//! Billed output is output plus thought tokens. Each step becomes a child span of the LLM span:
//! tool calls as `execute_tool {tool}`, others by their type (`thought`, `model_output`).

use super::interactions_steps::State;
use super::interactions_wire::{CreateRequest, Event, InteractionUsage};
use super::{AnswerCtx, PathParts, Surface, normalize_tier, route};
use crate::observe::Observed;
use crate::payload::ResponseSummary;
use crate::route::Route;
use gateway_plugin_sdk::semconv as sc;
use gateway_plugin_sdk::{GenerationParams, Metering, RequestInfo};
use opentelemetry::KeyValue;
use std::time::SystemTime;

/// The Interactions surface.
pub struct Interactions;

/// A child span of the LLM span, made from one step of an interaction.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSpan {
    /// Span name.
    pub name: String,
    /// Start (wall clock).
    pub start: SystemTime,
    /// End (wall clock).
    pub end: SystemTime,
    /// Attributes.
    pub attributes: Vec<KeyValue>,
}

/// Records `id` as metered; `false` when it already was (see `once`).
fn first_metering(id: &str) -> bool {
    super::once::INTERACTIONS.first(id)
}

/// What kind of interactions request a route is, kept in its template.
fn action(route: &Route) -> &'static str {
    if route.template.ends_with(":cancel") || route.template.ends_with("/cancel") {
        "cancel"
    } else if route.template.ends_with("{id}") {
        "get"
    } else {
        "create"
    }
}

impl Surface for Interactions {
    fn name(&self) -> &'static str {
        "interactions"
    }

    fn classify(&self, p: &PathParts<'_>) -> Option<Route> {
        let rest = p.rest.strip_prefix("interactions")?;
        let v = p.version;
        match (p.method, rest) {
            ("POST", "" | "/") => {
                let mut r = route(
                    &Interactions,
                    Metering::Metered,
                    format!("/{v}/interactions"),
                );
                r.operation = Some(sc::OP_GENERATE_CONTENT);
                Some(r)
            }
            (_, id) if id.starts_with('/') => {
                let id = &id[1..];
                if id.ends_with("/cancel") || id.ends_with(":cancel") {
                    let sep = if id.ends_with(":cancel") { ":" } else { "/" };
                    return Some(route(
                        &Interactions,
                        Metering::Free,
                        format!("/{v}/interactions/{{id}}{sep}cancel"),
                    ));
                }
                if p.method == "GET" && !id.is_empty() && !id.contains('/') {
                    let mut r = route(
                        &Interactions,
                        Metering::Metered,
                        format!("/{v}/interactions/{{id}}"),
                    );
                    r.operation = Some(sc::OP_FETCH_RESPONSE);
                    r.stream = crate::route::query_param(p.query, "stream") == Some("true");
                    return Some(r);
                }
                Some(route(
                    &Interactions,
                    Metering::Free,
                    format!("/{v}/interactions/{{id}}"),
                ))
            }
            _ => Some(route(
                &Interactions,
                Metering::Free,
                format!("/{v}/interactions"),
            )),
        }
    }

    fn usage_needle(&self) -> &'static [u8] {
        b"usage\""
    }

    fn keep_event(&self, payload: &[u8]) -> bool {
        use crate::observe::framer::finder;
        finder!(b"\"event_type\"").find(payload).is_some()
            && finder!(b"\"step.delta\"").find(payload).is_none()
    }

    fn refine_request(&self, body: &[u8], info: &mut RequestInfo) {
        let Ok(req) = serde_json::from_slice::<CreateRequest>(body) else {
            return;
        };
        if let Some(agent) = &req.agent {
            info.operation = Some(sc::OP_INVOKE_AGENT.to_owned());
            info.model = Some(agent.clone());
        } else if let Some(m) = &req.model {
            info.model = Some(m.strip_prefix("models/").unwrap_or(m).to_owned());
        }
        info.stream = req.stream.unwrap_or(false);
        info.service_tier = req.service_tier.as_deref().map(normalize_tier);
        info.system_instruction = req.system_instruction.is_some();
        info.cached_content = req.cached_content.is_some();
        if let Some(g) = req.generation_config {
            info.generation = GenerationParams {
                temperature: g.temperature,
                top_p: g.top_p,
                max_output_tokens: g.max_output_tokens,
                seed: g.seed,
                stop_sequences: g.stop_sequences.unwrap_or_default(),
                ..GenerationParams::default()
            };
        }
    }

    fn summarize(&self, observed: &Observed, answer: &AnswerCtx<'_>) -> ResponseSummary {
        let mut s = ResponseSummary::default();
        let act = action(answer.route);
        if act == "cancel" {
            s.metering = Some(Metering::Free);
            return s;
        }
        let mut state = State::default();
        for (at, ev) in &observed.kept {
            state.apply_event((at, ev));
        }
        // The final events are usually kept already (and applied above): parse them once.
        let last_kept = observed.kept.last().map(|(_, k)| k);
        for ev in [&observed.usage_event, &observed.last_event]
            .into_iter()
            .flatten()
            .filter(|ev| Some(*ev) != last_kept)
        {
            match serde_json::from_slice::<Event>(ev) {
                Ok(e) => state.apply(e),
                Err(e) if s.parse_error.is_none() && !observed.truncated => {
                    s.parse_error = Some(format!("invalid JSON in response: {e}"))
                }
                Err(_) => {}
            }
        }
        if observed.truncated && state.usage.is_none() {
            s.parse_error = Some("response larger than max_parse_bytes".into());
        }
        s.response_id = state.id.clone();
        s.response_model = state.model.clone();
        s.service_tier = state
            .tier
            .as_deref()
            .map(normalize_tier)
            .or_else(|| answer.header_tier.map(str::to_owned));
        s.error_status = state.error.clone();
        s.usage = state.usage.take().map(InteractionUsage::into_usage);
        let status = state.status.clone().unwrap_or_default();
        if !status.is_empty() {
            s.llm_attrs.push(KeyValue::new(
                sc::GATEWAY_INTERACTION_STATUS,
                status.clone(),
            ));
            let reason = match status.as_str() {
                "completed" => "stop",
                "incomplete" | "budget_exceeded" => "length",
                "requires_action" => "tool_call",
                "failed" => "error",
                "cancelled" => "cancelled",
                _ => "",
            };
            if !reason.is_empty() {
                s.finish_reasons = vec![reason.to_owned()];
            }
        }
        let req: CreateRequest = serde_json::from_slice(answer.body).unwrap_or_default();
        if let Some(prev) = req.previous_interaction_id.or(state.previous.clone()) {
            s.llm_attrs
                .push(KeyValue::new(sc::GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID, prev));
        }
        if let Some(agent) = req.agent.or(state.agent.clone()) {
            s.llm_attrs
                .push(KeyValue::new(sc::GEN_AI_AGENT_NAME, agent));
        }
        // Metering: once per interaction id, when its usage is known.
        s.metering = Some(match (&s.usage, &state.id) {
            (None, _) if matches!(status.as_str(), "in_progress" | "queued" | "idle") => {
                Metering::Deferred
            }
            (None, _) if act == "get" => Metering::Free,
            (None, _) => Metering::Metered,
            (Some(_), Some(id)) => {
                if first_metering(id) {
                    if act == "get" {
                        // Metered on a poll: priced on the day the interaction was created.
                        s.work_created_at = super::work_created_at(state.created.as_deref());
                    }
                    Metering::Metered
                } else {
                    s.llm_attrs
                        .push(KeyValue::new(sc::GATEWAY_INTERACTION_ALREADY_METERED, true));
                    // A repeated poll reports no usage (fetch_response SHOULD NOT), so sums
                    // over traces count each interaction once.
                    s.usage = None;
                    Metering::Free
                }
            }
            (Some(_), None) => Metering::Metered,
        });
        s.steps = state.spans(answer);
        s
    }
}
