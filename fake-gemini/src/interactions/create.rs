//! `POST /{ver}/interactions` as a computation: validate the request and
//! build the finished [`Interaction`] (steps and usage) together with the
//! counts of each step, which a stream replays.

use serde_json::Value;

use super::input::{InputText, fake_arguments};
use super::usage::Counts;
use super::{Content, Interaction, SearchArgs, SearchResult, Step};
use crate::errors::ApiError;
use crate::extras::{self, Media, SEARCH_TOOL_TOKENS};
use crate::routing;
use crate::tier::Tier;
use crate::tokens::{self, THOUGHT_TOKENS};
use crate::util::{ID_CHARS, LOWER_CHARS, base64, field, random_id};

/// Output tokens of a `function_call` step.
pub(crate) const FUNCTION_CALL_TOKENS: u64 = 6;

/// A create request turned into its finished interaction.
#[derive(Debug, Clone)]
pub(crate) struct Created {
    /// The finished interaction (`completed`, `incomplete` or `requires_action`).
    pub interaction: Interaction,
    /// Input counts, known before the first step.
    pub base: Counts,
    /// Counts of each step of `interaction.steps`.
    pub step_counts: Vec<Counts>,
    /// `stream: true`.
    pub stream: bool,
    /// `background: true`.
    pub background: bool,
    /// `store` (default true).
    pub store: bool,
}

/// A non-empty string field, without a `models/` prefix.
fn text_of(req: &Value, name: &str) -> Option<String> {
    req.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| s.strip_prefix("models/").unwrap_or(s).to_string())
}

/// Steps accumulated with their own counts.
#[derive(Default)]
struct Steps(Vec<(Step, Counts)>);

impl Steps {
    fn push(&mut self, step: Step, counts: Counts) {
        self.0.push((step, counts));
    }

    /// The search call / result pair for the `last_user` text.
    fn search(&mut self, last_user: &str, call_id: String) {
        let queries = extras::search_queries(last_user);
        let html = extras::entry_point_html(&queries);
        let call = Step::GoogleSearchCall {
            id: call_id.clone(),
            arguments: SearchArgs {
                queries: queries.to_vec(),
            },
            search_type: Some("web_search"),
        };
        let searches = queries.len() as u64;
        self.push(
            call,
            Counts {
                searches,
                ..Counts::default()
            },
        );
        let result = Step::GoogleSearchResult {
            call_id,
            result: vec![SearchResult {
                search_suggestions: html,
            }],
        };
        let tool_use = SEARCH_TOOL_TOKENS;
        self.push(
            result,
            Counts {
                tool_use,
                ..Counts::default()
            },
        );
    }

    /// The model output: the reply text, then the generated `media`; cut to `limit` words
    /// (`generation_config.max_output_tokens`) when it is shorter, which it says.
    fn output(&mut self, last_user: &str, media: Option<Media>, limit: Option<u64>) -> bool {
        let mut words = tokens::reply_words(last_user);
        let cut = limit.filter(|&n| words.len() as u64 > n);
        if let Some(n) = cut {
            words.truncate(usize::try_from(n).unwrap_or(usize::MAX));
        }
        let mut content = vec![Content::Text {
            text: words.join(" "),
        }];
        content.extend(media.map(Content::media));
        let counts = Counts {
            text_out: words.len() as u64,
            media_out: media.map_or(0, Media::tokens),
            media,
            ..Counts::default()
        };
        self.push(Step::ModelOutput { content }, counts);
        cut.is_some()
    }
}

/// Validate a create request and compute its interaction, served by the
/// routed model at `tier`; `now` is the creation time (ISO 8601).
pub(crate) fn create(req: &Value, tier: Tier, seed: u64, now: &str) -> Result<Created, ApiError> {
    let (model, agent) = (text_of(req, "model"), text_of(req, "agent"));
    let served = match (&model, &agent) {
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                400,
                "Cannot supply both 'model' and 'agent'.",
            ));
        }
        (None, None) => {
            return Err(ApiError::new(400, "One of 'model' or 'agent' is required."));
        }
        (Some(m), None) => Some(routing::served_model(m).to_string()),
        (None, Some(_)) => None,
    };
    let flag = |name: &str| req.get(name).and_then(Value::as_bool);
    let (stream, background) = (
        flag("stream") == Some(true),
        flag("background") == Some(true),
    );
    let store = flag("store") != Some(false);
    if background && !store {
        return Err(ApiError::new(
            400,
            "A background interaction requires store=true.",
        ));
    }
    let Some(input) = req.get("input").filter(|v| !v.is_null()) else {
        return Err(ApiError::new(
            400,
            "* CreateInteractionRequest.input: input is required\n",
        ));
    };
    let mut text = InputText::default();
    text.walk(input, true);
    if let Some(si) = field(req, "systemInstruction", "system_instruction") {
        text.words += tokens::words(&tokens::content_text(si));
    }
    let input_tokens = text.words.max(1);
    let cached = field(req, "cachedContent", "cached_content").is_some();
    let base = Counts {
        input: input_tokens,
        cached: if cached { input_tokens / 2 } else { 0 },
        ..Counts::default()
    };
    let id = random_id(seed, 24, ID_CHARS);
    let sub_id = |n: u64| random_id(seed ^ n.wrapping_mul(0x9E37_79B9), 12, LOWER_CHARS);
    // Agents always think.
    let thoughts = served
        .as_deref()
        .map_or(THOUGHT_TOKENS, |m| tokens::thoughts_for(m, req));
    let mut steps = Steps::default();
    if thoughts > 0 {
        let signature = Some(base64(format!("fake-thought:{id}").as_bytes()));
        let thought = thoughts;
        steps.push(
            Step::Thought { signature },
            Counts {
                thought,
                ..Counts::default()
            },
        );
    }
    if extras::wants_search(req) {
        steps.search(&text.last_user, format!("search_{}", sub_id(1)));
    }
    let function = extras::tools(req)
        .iter()
        .find(|t| t.get("type").and_then(Value::as_str) == Some("function"))
        .filter(|_| !text.function_result);
    let status = if let Some(tool) = function {
        let snippet = extras::search_queries(&text.last_user)[0].clone();
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("function");
        let call = Step::FunctionCall {
            id: format!("call_{}", sub_id(2)),
            name: name.to_string(),
            arguments: fake_arguments(tool, &snippet),
        };
        let text_out = FUNCTION_CALL_TOKENS;
        steps.push(
            call,
            Counts {
                text_out,
                ..Counts::default()
            },
        );
        "requires_action"
    } else {
        let limit = req
            .get("generation_config")
            .and_then(|g| g.get("max_output_tokens"))
            .and_then(Value::as_u64);
        // Output cut at the token budget: Gemini ends the interaction `incomplete`.
        if steps.output(&text.last_user, extras::media_output(req), limit) {
            "incomplete"
        } else {
            "completed"
        }
    };
    let total = steps.0.iter().fold(base, |acc, (_, c)| acc.add(*c));
    let (steps, step_counts): (Vec<Step>, Vec<Counts>) = steps.0.into_iter().unzip();
    let interaction = Interaction {
        id,
        status,
        model: served,
        agent,
        steps,
        usage: Some(total.usage()),
        service_tier: tier,
        previous_interaction_id: text_of(req, "previous_interaction_id"),
        created: now.to_string(),
        updated: now.to_string(),
    };
    Ok(Created {
        interaction,
        base,
        step_counts,
        stream,
        background,
        store,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn make(req: Value) -> Created {
        create(&req, Tier::Flex, 7, "2026-12-01T00:00:00Z").expect("created")
    }

    fn types(v: &Value) -> Vec<&str> {
        v["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["type"].as_str())
            .collect()
    }

    #[test]
    fn model_interaction_steps_and_usage() {
        let c = make(
            json!({"model": "gemini-3.7-flash", "input": "one two three",
            "system_instruction": "be brief", "previous_interaction_id": "prev-1"}),
        );
        let v = serde_json::to_value(&c.interaction).expect("json");
        assert_eq!(v["model"], "gemini-3.8-flash");
        assert_eq!(v["status"], "completed");
        assert_eq!(v["service_tier"], "flex");
        assert_eq!(v["previous_interaction_id"], "prev-1");
        assert_eq!(types(&v), ["thought", "model_output"]);
        let u = &v["usage"];
        assert_eq!(u["total_input_tokens"], 5);
        assert_eq!(u["total_thought_tokens"], 7);
        assert_eq!(
            u["total_output_tokens"], 7,
            "Echo: one two three + 3 tail words"
        );
        assert_eq!(u["total_tokens"], 5 + 7 + 7);
        assert_eq!(
            u["input_tokens_by_modality"],
            json!([{"modality": "text", "tokens": 5}])
        );
        let summed = c.step_counts.iter().fold(c.base, |a, s| a.add(*s));
        assert_eq!(summed.total(), 19, "the steps add up to the usage");
    }

    #[test]
    fn tools_add_search_and_function_steps() {
        let c = make(json!({"agent": "deep-research-preview-04-2026",
            "input": [{"type": "user_input", "content": [{"type": "text", "text": "weather in Paris"}]}],
            "tools": [{"type": "google_search"},
                      {"type": "function", "name": "get_weather",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]}));
        let v = serde_json::to_value(&c.interaction).expect("json");
        assert!(v.get("model").is_none());
        assert_eq!(v["agent"], "deep-research-preview-04-2026");
        assert_eq!(v["status"], "requires_action");
        assert_eq!(
            types(&v),
            [
                "thought",
                "google_search_call",
                "google_search_result",
                "function_call"
            ]
        );
        assert_eq!(v["steps"][3]["arguments"]["city"], "weather in Paris");
        assert_eq!(
            v["usage"]["grounding_tool_count"],
            json!([{"type": "google_search", "count": 2}])
        );
        assert_eq!(v["usage"]["total_tool_use_tokens"], SEARCH_TOOL_TOKENS);
        // A function result answers the call: no new call, a model output.
        let c = make(
            json!({"model": "gemini-2.5-flash-lite", "tools": [{"type": "function", "name": "f"}],
            "input": [{"type": "function_result", "call_id": "call_x", "name": "f", "result": "sunny"}]}),
        );
        assert_eq!(c.interaction.status, "completed");
        assert_eq!(
            c.step_counts.len(),
            1,
            "no thought for a non-thinking model"
        );
    }

    #[test]
    fn rejects_bad_requests() {
        let bad = |req: Value| create(&req, Tier::Standard, 1, "t").err().map(|e| e.code());
        assert_eq!(bad(json!({"input": "x"})), Some(400));
        assert_eq!(
            bad(json!({"model": "m", "agent": "a", "input": "x"})),
            Some(400)
        );
        assert_eq!(bad(json!({"model": "m"})), Some(400));
        let bg = json!({"model": "m", "input": "x", "background": true, "store": false});
        assert_eq!(bad(bg), Some(400));
    }
}
