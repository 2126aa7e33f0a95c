//! Attribute lists of the step spans, built from what the request context and the plugins
//! recorded. All names come from the SDK's `semconv` module.

use crate::ctx::RequestCtx;
use crate::finish::Outcome;
use crate::observe::Observed;
use gateway_plugin_sdk::semconv as sc;
use gateway_plugin_sdk::{AttrValue, PluginOutput, RequestInfo, Step, Usage};
use opentelemetry::{KeyValue, Value};

/// Room for one span's attributes: about what a metered call sets on its busiest span (20 to
/// 25), so that a span's list is allocated once rather than grown push by push.
pub(crate) const SPAN_ATTRS: usize = 32;

/// A span's attribute list, starting with `first`, with room for [`SPAN_ATTRS`].
pub(crate) fn span_attrs(first: KeyValue) -> Vec<KeyValue> {
    let mut a = Vec::with_capacity(SPAN_ATTRS);
    a.push(first);
    a
}

pub(crate) fn request_attrs(info: &RequestInfo, out: &mut Vec<KeyValue>) {
    if let Some(op) = &info.operation {
        out.push(KeyValue::new(sc::GEN_AI_OPERATION_NAME, op.clone()));
    }
    if let Some(m) = &info.model {
        out.push(KeyValue::new(sc::GEN_AI_REQUEST_MODEL, m.clone()));
    }
    out.push(KeyValue::new(sc::GEN_AI_REQUEST_STREAM, info.stream));
}

/// The `gen_ai.request.*` parameters of the request (and `gen_ai.output.type`), on the
/// `prompt_construction` span and on the inference span, where GenAI backends read them.
pub(crate) fn request_params(info: &RequestInfo, a: &mut Vec<KeyValue>) {
    let g = &info.generation;
    let f64s = [
        (sc::GEN_AI_REQUEST_TEMPERATURE, g.temperature),
        (sc::GEN_AI_REQUEST_TOP_P, g.top_p),
        (sc::GEN_AI_REQUEST_PRESENCE_PENALTY, g.presence_penalty),
        (sc::GEN_AI_REQUEST_FREQUENCY_PENALTY, g.frequency_penalty),
    ];
    a.extend(
        f64s.into_iter()
            .filter_map(|(k, v)| Some(KeyValue::new(k, v?))),
    );
    // `top_k` is a double in v1.41 and an int on `main`; "both" keeps the released type.
    if let Some(k) = g.top_k {
        a.push(if crate::telemetry::semconv().v141() {
            KeyValue::new(sc::GEN_AI_REQUEST_TOP_K, k)
        } else {
            KeyValue::new(sc::GEN_AI_REQUEST_TOP_K, k as i64)
        });
    }
    let i64s = [
        (sc::GEN_AI_REQUEST_MAX_TOKENS, g.max_output_tokens),
        (sc::GEN_AI_REQUEST_SEED, g.seed),
        (
            sc::GEN_AI_REQUEST_CHOICE_COUNT,
            g.candidate_count.filter(|&n| n != 1),
        ),
    ];
    a.extend(
        i64s.into_iter()
            .filter_map(|(k, v)| Some(KeyValue::new(k, v?))),
    );
    if !g.stop_sequences.is_empty() {
        let v: Vec<opentelemetry::StringValue> =
            g.stop_sequences.iter().map(|s| s.clone().into()).collect();
        a.push(KeyValue::new(
            sc::GEN_AI_REQUEST_STOP_SEQUENCES,
            Value::Array(v.into()),
        ));
    }
    if let Some(level) = &g.thinking_level {
        a.push(KeyValue::new(
            sc::GEN_AI_REQUEST_REASONING_LEVEL,
            level.clone(),
        ));
    }
    if let Some(t) = output_type(info) {
        a.push(KeyValue::new(sc::GEN_AI_OUTPUT_TYPE, t));
    }
}

pub(crate) fn prompt_attrs(info: &RequestInfo, ctx: &RequestCtx) -> Vec<KeyValue> {
    let mut a = span_attrs(KeyValue::new(
        sc::GATEWAY_STEP,
        sc::STEP_PROMPT_CONSTRUCTION,
    ));
    request_attrs(info, &mut a);
    request_params(info, &mut a);
    if let Some(b) = info.generation.thinking_budget {
        a.push(KeyValue::new(sc::GATEWAY_REQUEST_THINKING_BUDGET, b));
    }
    a.push(KeyValue::new(
        sc::GATEWAY_REQUEST_CONTENTS,
        i64::from(info.contents),
    ));
    a.push(KeyValue::new(
        sc::GATEWAY_REQUEST_PARTS,
        i64::from(info.parts),
    ));
    a.push(KeyValue::new(
        sc::GATEWAY_REQUEST_SYSTEM_INSTRUCTION,
        info.system_instruction,
    ));
    a.push(KeyValue::new(
        sc::GATEWAY_REQUEST_CACHED_CONTENT,
        info.cached_content,
    ));
    a.push(KeyValue::new(
        sc::GATEWAY_REQUEST_BYTES,
        info.body_bytes as i64,
    ));
    if let Some(e) = &info.parse_error {
        a.push(KeyValue::new(sc::GATEWAY_REQUEST_PARSE_ERROR, e.clone()));
    }
    if let Some(m) = &ctx.prompt.messages {
        a.push(KeyValue::new(sc::GEN_AI_INPUT_MESSAGES, m.clone()));
    }
    if let Some(s) = &ctx.prompt.system {
        a.push(KeyValue::new(sc::GEN_AI_SYSTEM_INSTRUCTIONS, s.clone()));
    }
    a
}

pub(crate) fn output_type(info: &RequestInfo) -> Option<&'static str> {
    let g = &info.generation;
    if g.response_mime_type
        .as_deref()
        .is_some_and(|m| m.contains("json"))
    {
        return Some("json");
    }
    match g.response_modalities.first().map(String::as_str) {
        Some("IMAGE") => Some("image"),
        Some("AUDIO") => Some("speech"),
        Some("TEXT") => Some("text"),
        _ => None,
    }
}

fn clamp(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// Token counts as span attributes; counts past `i64::MAX` are clamped, never wrapped negative.
///
/// Cache writes: Gemini bills no tokens for writing a cache on a `generateContent` call
/// (implicit caching is free to fill; explicit caches are created by `cachedContents.create`
/// and billed per hour of storage), so the cache-write count is 0, under the name(s) of the
/// configured generation. Per-modality counts are subsets of the totals, set when non-zero.
pub(crate) fn usage_attrs(u: &Usage, out: &mut Vec<KeyValue>) {
    let pairs = [
        (sc::GEN_AI_USAGE_INPUT_TOKENS, u.input_tokens()),
        (sc::GEN_AI_USAGE_OUTPUT_TOKENS, u.output_tokens()),
        (sc::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, u.cached_tokens),
        (sc::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, u.thoughts_tokens),
    ];
    out.extend(pairs.into_iter().map(|(k, v)| KeyValue::new(k, clamp(v))));
    let mode = crate::telemetry::semconv();
    if mode.v141() {
        out.push(KeyValue::new(
            sc::V141_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
            0i64,
        ));
    }
    if mode.latest() {
        out.push(KeyValue::new(
            sc::LATEST_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
            0i64,
        ));
    }
    let m = Modalities::of(u);
    let modal = [
        (sc::GEN_AI_USAGE_TEXT_INPUT_TOKENS, m.input[0]),
        (sc::GEN_AI_USAGE_IMAGE_INPUT_TOKENS, m.input[1]),
        (sc::GEN_AI_USAGE_AUDIO_INPUT_TOKENS, m.input[2]),
        (sc::GEN_AI_USAGE_TEXT_OUTPUT_TOKENS, m.output[0]),
        (sc::GEN_AI_USAGE_IMAGE_OUTPUT_TOKENS, m.output[1]),
        (sc::GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS, m.output[2]),
        (
            sc::GEN_AI_USAGE_TEXT_CACHE_READ_INPUT_TOKENS,
            m.cache_read[0],
        ),
        (
            sc::GEN_AI_USAGE_IMAGE_CACHE_READ_INPUT_TOKENS,
            m.cache_read[1],
        ),
        (
            sc::GEN_AI_USAGE_AUDIO_CACHE_READ_INPUT_TOKENS,
            m.cache_read[2],
        ),
    ];
    out.extend(
        modal
            .into_iter()
            .filter(|(_, v)| *v > 0)
            .map(|(k, v)| KeyValue::new(k, clamp(v))),
    );
}

/// Token counts by modality (`text`, `image`, `audio`), each a subset of its total, as far as
/// the provider broke them down; the rest of a total is of unknown modality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Modalities {
    /// Input tokens: text, image, audio.
    pub input: [u64; 3],
    /// Output tokens (reasoning included): text, image, audio.
    pub output: [u64; 3],
    /// Cached input tokens: text, image, audio.
    pub cache_read: [u64; 3],
}

/// The modality values of [`Modalities`]' arrays, in order.
pub(crate) const MODALITIES: [&str; 3] = ["text", "image", "audio"];

impl Modalities {
    pub(crate) fn of(u: &Usage) -> Self {
        let input = u.input_tokens();
        let output = u.output_tokens();
        let clip = |v: [u64; 3], total: u64| {
            let mut left = total;
            v.map(|x| {
                let x = x.min(left);
                left -= x;
                x
            })
        };
        Self {
            input: clip(
                [
                    u.prompt_text_tokens,
                    u.prompt_image_tokens,
                    u.prompt_audio_tokens,
                ],
                input,
            ),
            // Thinking is text.
            output: clip(
                [
                    u.output_text_tokens.saturating_add(u.thoughts_tokens),
                    u.output_image_tokens,
                    u.output_audio_tokens,
                ],
                output,
            ),
            cache_read: clip(
                [
                    u.cached_text_tokens,
                    u.cached_image_tokens,
                    u.cached_audio_tokens,
                ],
                u.cached_tokens,
            ),
        }
    }
}

pub(crate) fn attr_kv(key: String, value: AttrValue) -> KeyValue {
    match value {
        AttrValue::Bool(b) => KeyValue::new(key, b),
        AttrValue::I64(i) => KeyValue::new(key, i),
        AttrValue::F64(f) => KeyValue::new(key, f),
        AttrValue::Str(s) => KeyValue::new(key, s),
        AttrValue::StrArray(v) => {
            let v: Vec<opentelemetry::StringValue> = v.into_iter().map(Into::into).collect();
            KeyValue::new(key, Value::Array(v.into()))
        }
    }
}

/// Plugin attributes of one step, in the order plugins wrote them, moved onto a span's list
/// (each step's are read once, after the hooks have run: no copy of their strings).
pub(crate) fn plugin_attrs(out: &mut PluginOutput, step: Step, into: &mut Vec<KeyValue>) {
    into.extend(
        out.attributes
            .extract_if(.., |(s, _, _)| *s == step)
            .map(|(_, k, v)| attr_kv(k, v)),
    );
}

pub(crate) fn plugin_errors(ctx: &RequestCtx, hook: &str) -> Option<KeyValue> {
    let msgs: Vec<String> = ctx
        .plugin_errors
        .iter()
        .filter(|e| e.hook == hook)
        .map(ToString::to_string)
        .collect();
    (!msgs.is_empty()).then(|| KeyValue::new(sc::GATEWAY_PLUGIN_ERROR, msgs.join("; ")))
}

pub(crate) fn post_attrs(
    ctx: &mut RequestCtx,
    out: &Outcome,
    observed: &Observed,
) -> Vec<KeyValue> {
    let s = &out.summary;
    let mut post = span_attrs(KeyValue::new(sc::GATEWAY_STEP, sc::STEP_POST_PROCESSING));
    // The call's usage and `gen_ai.response.*` are on the LLM span (and the root), not repeated
    // here: only what post-processing adds.
    if let Some(u) = &s.usage {
        post.push(KeyValue::new(
            sc::GATEWAY_USAGE_TOTAL_TOKENS,
            u.total_tokens.min(i64::MAX as u64) as i64,
        ));
        if u.tool_use_prompt_tokens > 0 {
            post.push(KeyValue::new(
                sc::GATEWAY_USAGE_TOOL_USE_PROMPT_TOKENS,
                u.tool_use_prompt_tokens as i64,
            ));
        }
        if u.prompt_audio_tokens > 0 {
            post.push(KeyValue::new(
                sc::GATEWAY_USAGE_AUDIO_INPUT_TOKENS,
                u.prompt_audio_tokens as i64,
            ));
        }
    }
    if let Some(e) = &s.parse_error {
        post.push(KeyValue::new(sc::GATEWAY_RESPONSE_PARSE_ERROR, e.clone()));
    }
    if let Some(t) = &s.output_text {
        post.push(KeyValue::new(sc::GEN_AI_OUTPUT_MESSAGES, t.clone()));
    }
    post.push(KeyValue::new(
        sc::GATEWAY_RESPONSE_BYTES,
        observed.bytes as i64,
    ));
    if let Some(e) = observed.encoding {
        post.push(KeyValue::new(sc::GATEWAY_RESPONSE_CONTENT_ENCODING, e));
    }
    if let Some(e) = &observed.decode_error {
        post.push(KeyValue::new(sc::GATEWAY_RESPONSE_DECODE_ERROR, e.clone()));
    }
    post.push(KeyValue::new(
        sc::GATEWAY_RESPONSE_CHUNKS,
        i64::from(observed.events),
    ));
    plugin_attrs(&mut ctx.plugin_out, Step::PostProcessing, &mut post);
    post.extend(plugin_errors(ctx, "on_complete"));
    if ctx.hooks_skipped > 0 {
        post.push(KeyValue::new(
            sc::GATEWAY_PLUGIN_SKIPPED,
            ctx.hooks_skipped as i64,
        ));
    }
    post
}

/// The surface's verdict: which surface, how it is billed, the tiers and the routed model.
pub(crate) fn surface_attrs(
    surface: &dyn crate::surfaces::Surface,
    metering: gateway_plugin_sdk::Metering,
    s: &crate::payload::ResponseSummary,
    info: &RequestInfo,
    out: &mut Vec<KeyValue>,
) {
    out.push(KeyValue::new(sc::GATEWAY_SURFACE, surface.name()));
    out.push(KeyValue::new(sc::GATEWAY_METERING, metering.as_str()));
    if let Some(t) = &info.service_tier {
        out.push(KeyValue::new(sc::GATEWAY_REQUEST_SERVICE_TIER, t.clone()));
    }
    if let Some(t) = &s.service_tier {
        out.push(KeyValue::new(sc::GATEWAY_SERVICE_TIER, t.clone()));
    }
    if let (Some(asked), Some(served)) = (&info.model, &s.response_model)
        && crate::surfaces::is_routed(asked, served)
    {
        out.push(KeyValue::new(sc::GATEWAY_MODEL_ROUTED, true));
    }
}

/// Whether `operation` is an inference (a model generating an answer), whose span reports a
/// finish reason.
pub(crate) fn is_inference(operation: Option<&str>) -> bool {
    matches!(operation, Some(sc::OP_GENERATE_CONTENT | sc::OP_CHAT))
}

/// What the answer said, on the inference (LLM) span where GenAI backends read it: usage,
/// finish reasons (an inference that gave none, a cut stream or an error, reports `error`; a
/// blocked prompt, its block reason), the block reason, response id and model.
pub(crate) fn response_attrs(
    s: &crate::payload::ResponseSummary,
    info: &RequestInfo,
    metering: gateway_plugin_sdk::Metering,
    out: &mut Vec<KeyValue>,
) {
    if let Some(u) = &s.usage {
        usage_attrs(u, out);
    }
    let missing = s.finish_reasons.is_empty()
        && is_inference(info.operation.as_deref())
        && metering != gateway_plugin_sdk::Metering::Deferred;
    if let Some(r) = &s.block_reason {
        out.push(KeyValue::new(sc::GATEWAY_RESPONSE_BLOCK_REASON, r.clone()));
    }
    if !s.finish_reasons.is_empty() || missing {
        let v: Vec<opentelemetry::StringValue> = if missing {
            vec![sc::FINISH_REASON_ERROR.into()]
        } else {
            s.finish_reasons.iter().map(|r| r.clone().into()).collect()
        };
        out.push(KeyValue::new(
            sc::GEN_AI_RESPONSE_FINISH_REASONS,
            Value::Array(v.into()),
        ));
    }
    if let Some(id) = &s.response_id {
        out.push(KeyValue::new(sc::GEN_AI_RESPONSE_ID, id.clone()));
    }
    if let Some(m) = &s.response_model {
        out.push(KeyValue::new(sc::GEN_AI_RESPONSE_MODEL, m.clone()));
    }
}

/// `gen_ai.conversation.id`, only from the client (`x-gateway-session-id`): never minted,
/// never a trace id or a hash of content.
pub(crate) fn conversation_attrs(ctx: &RequestCtx, out: &mut Vec<KeyValue>) {
    if let Some(s) = &ctx.attribution.session_id {
        out.push(KeyValue::new(sc::GEN_AI_CONVERSATION_ID, s.clone()));
    }
}
