//! The state of one interaction as its events and steps arrive, and the child spans its steps
//! become (tool calls as `execute_tool {tool}`, others by their type).

use super::AnswerCtx;
use super::StepSpan;
use super::interactions_wire::{Event, Interaction, InteractionUsage, Step};
use gateway_plugin_sdk::semconv as sc;
use opentelemetry::KeyValue;
use std::time::{Instant, SystemTime};

/// One step with the arrival times of its `step.start` and `step.stop`.
struct TimedStep {
    index: u32,
    step: Step,
    start: Option<Instant>,
    end: Option<Instant>,
    usage: Option<InteractionUsage>,
}

/// What the events of one interaction said, in order.
#[derive(Default)]
pub(super) struct State {
    pub(super) id: Option<String>,
    pub(super) created: Option<String>,
    pub(super) model: Option<String>,
    pub(super) agent: Option<String>,
    pub(super) tier: Option<String>,
    pub(super) status: Option<String>,
    pub(super) previous: Option<String>,
    pub(super) usage: Option<InteractionUsage>,
    pub(super) error: Option<String>,
    /// Steps with their times, from `step.start` / `step.stop`.
    timed: Vec<TimedStep>,
    /// Steps of a whole interaction (unary answers, `interaction.completed`).
    pub(super) steps: Vec<Step>,
}

impl State {
    pub(super) fn apply_event(&mut self, (at, payload): (&Instant, &Vec<u8>)) {
        let Ok(e) = serde_json::from_slice::<Event>(payload) else {
            return;
        };
        match e.event_type.as_deref() {
            Some("step.start") => {
                if let (Some(i), Some(step)) = (e.index, e.step.clone()) {
                    self.timed.push(TimedStep {
                        index: i,
                        step,
                        start: Some(*at),
                        end: None,
                        usage: None,
                    });
                }
            }
            Some("step.stop") => {
                if let Some(i) = e.index
                    && let Some(t) = self.timed.iter_mut().rev().find(|t| t.index == i)
                {
                    t.end = Some(*at);
                    t.usage = e.step_usage;
                }
                if let Some(u) = e.usage {
                    self.usage = Some(u);
                }
            }
            _ => self.apply(e),
        }
    }

    fn apply_interaction(&mut self, i: Interaction) {
        self.id = i.id.or(self.id.take());
        self.created = i.created.or(self.created.take());
        self.model = i.model.or(self.model.take());
        self.agent = i.agent.or(self.agent.take());
        self.tier = i.service_tier.or(self.tier.take());
        self.status = i.status.or(self.status.take());
        self.previous = i.previous_interaction_id.or(self.previous.take());
        if let Some(u) = i.usage {
            self.usage = Some(u);
        }
        if !i.steps.is_empty() {
            self.steps = i.steps;
        }
        if let Some(e) = i.error {
            self.error = e.status.or(e.code.as_ref().map(code_text));
        }
    }

    pub(super) fn apply(&mut self, e: Event) {
        if e.event_type.is_none() {
            // A unary Interaction (or an error object).
            self.apply_interaction(Interaction {
                id: e.id,
                created: e.created,
                status: e.status,
                model: e.model,
                agent: e.agent,
                service_tier: e.service_tier,
                usage: e.usage,
                steps: e.steps.unwrap_or_default(),
                previous_interaction_id: None,
                error: e.error,
            });
            return;
        }
        if let Some(i) = e.interaction {
            self.apply_interaction(i);
        }
        if let Some(id) = e.interaction_id {
            self.id.get_or_insert(id);
        }
        if let Some(st) = e.status {
            self.status = Some(st);
        }
        if let Some(u) = e.usage.or(e.metadata.and_then(|m| m.total_usage)) {
            self.usage = Some(u);
        }
        if let Some(err) = e.error {
            self.error = err
                .status
                .or(err.code.as_ref().map(code_text))
                .or(err.message);
        }
    }

    pub(super) fn spans(&self, answer: &AnswerCtx<'_>) -> Vec<StepSpan> {
        let base = answer.llm_start;
        let origin = self.timed.iter().filter_map(|t| t.start).min();
        let wall = |at: Option<Instant>, fallback: SystemTime| match (at, origin) {
            (Some(at), Some(o)) => base
                .checked_add(at.saturating_duration_since(o))
                .unwrap_or(fallback),
            _ => fallback,
        };
        let mut out = Vec::new();
        if !self.timed.is_empty() {
            // Streamed: times relative to the first step start, offset from the LLM start by
            // the time to that first step is unknown here, so they start at the LLM start.
            for t in &self.timed {
                let (i, step, start, end, usage) = (t.index, &t.step, t.start, t.end, &t.usage);
                let s = wall(start, base);
                let e = wall(end, answer.llm_end).max(s);
                if let Some(span) = step_span(i, step, s, e, usage.as_ref()) {
                    out.push(span);
                }
            }
        } else {
            for (i, step) in self.steps.iter().enumerate() {
                if let Some(span) =
                    step_span(i as u32, step, answer.llm_start, answer.llm_end, None)
                {
                    out.push(span);
                }
            }
        }
        out.truncate(256);
        out
    }
}

/// An error's `code` as text: a string as it is (the Interactions `error` event's code is a
/// URI), a number as its digits; never with JSON quotes.
fn code_text(code: &serde_json::Value) -> String {
    match code {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn step_span(
    index: u32,
    step: &Step,
    start: SystemTime,
    end: SystemTime,
    usage: Option<&InteractionUsage>,
) -> Option<StepSpan> {
    let kind = step.kind.as_str();
    if kind == "user_input" || kind.is_empty() {
        return None;
    }
    let mut attributes = vec![
        KeyValue::new(sc::GATEWAY_STEP_TYPE, kind.to_owned()),
        KeyValue::new(sc::GATEWAY_STEP_INDEX, i64::from(index)),
    ];
    let tool = if kind == "function_call" {
        Some(step.name.clone().unwrap_or_else(|| "function".into()))
    } else if kind == "mcp_server_tool_call" {
        Some(
            step.name
                .clone()
                .or(step.server_name.clone())
                .unwrap_or_else(|| "mcp".into()),
        )
    } else {
        kind.strip_suffix("_call").map(str::to_owned)
    };
    let name = match &tool {
        Some(t) => {
            attributes.push(KeyValue::new(
                sc::GEN_AI_OPERATION_NAME,
                sc::OP_EXECUTE_TOOL,
            ));
            attributes.push(KeyValue::new(sc::GEN_AI_TOOL_NAME, t.clone()));
            attributes.push(KeyValue::new(
                sc::GEN_AI_TOOL_TYPE,
                if kind == "function_call" {
                    "function"
                } else {
                    "extension"
                },
            ));
            if let Some(id) = step.id.as_ref().or(step.call_id.as_ref()) {
                attributes.push(KeyValue::new(sc::GEN_AI_TOOL_CALL_ID, id.clone()));
            }
            format!("{} {t}", sc::OP_EXECUTE_TOOL)
        }
        None => kind.to_owned(),
    };
    if let Some(u) = usage {
        attributes.push(KeyValue::new(
            sc::GEN_AI_USAGE_INPUT_TOKENS,
            u.total_input_tokens.min(i64::MAX as u64) as i64,
        ));
        attributes.push(KeyValue::new(
            sc::GEN_AI_USAGE_OUTPUT_TOKENS,
            u.total_output_tokens
                .saturating_add(u.total_thought_tokens)
                .min(i64::MAX as u64) as i64,
        ));
    }
    Some(StepSpan {
        name,
        start,
        end,
        attributes,
    })
}
