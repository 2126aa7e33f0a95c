//! Every attribute and span name the gateway emits, in one place.
//!
//! The `gen_ai.*` names follow the OpenTelemetry GenAI semantic conventions (status: Development).
//! Core names (`server.*`, `http.*`, `error.type`, `user.id`, `session.id`) come from the stable
//! registry. Names under `gateway.*` are this project's own. No other module spells these strings.
//!
//! **Two generations.** Backends are split between the last release, v1.41, and the `main` branch
//! of the GenAI conventions repository (schema `gen-ai/1.42.0`, unreleased). Names that are the
//! same in both have one constant. Names that differ come in pairs, `V141_*` (as released) and
//! `LATEST_*` (as on `main`); a name with only a `LATEST_*` constant has no v1.41 counterpart
//! (a new metric), and a name new on `main` that only adds information (per-modality usage,
//! `gen_ai.request.reasoning.level`) has a plain constant and is emitted in every mode.
//! `[telemetry] semconv = "v1.41" | "latest" | "both"` picks which of a pair the gateway emits
//! (`gateway/src/span_attrs.rs`, `gateway/src/genai_metrics.rs`); docs/schema.md lists the pairs.
//! This file holds string constants only, so it stays outside the plugin ABI fingerprint.

/// `gen_ai.operation.name`: `generate_content`, `embeddings`, `chat`, ...
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// `gen_ai.provider.name`: always [`PROVIDER_GCP_GEMINI`] for this gateway.
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
/// The provider value for generativelanguage.googleapis.com.
pub const PROVIDER_GCP_GEMINI: &str = "gcp.gemini";
/// Model named by the request (URL path, or body for OpenAI compat).
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
/// `true` when the response is streamed.
pub const GEN_AI_REQUEST_STREAM: &str = "gen_ai.request.stream";
/// `generationConfig.temperature`.
pub const GEN_AI_REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
/// `generationConfig.topP`.
pub const GEN_AI_REQUEST_TOP_P: &str = "gen_ai.request.top_p";
/// `generationConfig.topK`.
pub const GEN_AI_REQUEST_TOP_K: &str = "gen_ai.request.top_k";
/// `generationConfig.maxOutputTokens`.
pub const GEN_AI_REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
/// `generationConfig.stopSequences`.
pub const GEN_AI_REQUEST_STOP_SEQUENCES: &str = "gen_ai.request.stop_sequences";
/// `generationConfig.frequencyPenalty`.
pub const GEN_AI_REQUEST_FREQUENCY_PENALTY: &str = "gen_ai.request.frequency_penalty";
/// `generationConfig.presencePenalty`.
pub const GEN_AI_REQUEST_PRESENCE_PENALTY: &str = "gen_ai.request.presence_penalty";
/// `generationConfig.seed`.
pub const GEN_AI_REQUEST_SEED: &str = "gen_ai.request.seed";
/// `generationConfig.candidateCount` (set when not 1).
pub const GEN_AI_REQUEST_CHOICE_COUNT: &str = "gen_ai.request.choice.count";
/// `text`, `json`, `image` or `speech`, from `responseMimeType` / `responseModalities`.
pub const GEN_AI_OUTPUT_TYPE: &str = "gen_ai.output.type";
/// Session id from the client (the `x-gateway-session-id` header); never minted or derived.
pub const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
/// Gemini `modelVersion`.
pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
/// Gemini `responseId`.
pub const GEN_AI_RESPONSE_ID: &str = "gen_ai.response.id";
/// One finish reason per candidate.
pub const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// Seconds from the upstream request to the first response chunk (streams).
pub const GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
/// Mean seconds between content-carrying chunks after the first, streamed calls only.
pub const GEN_AI_RESPONSE_TIME_PER_OUTPUT_CHUNK: &str = "gen_ai.response.time_per_output_chunk";
/// Prompt tokens including cached and tool-use prompt tokens.
pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// Output tokens including reasoning (thinking) tokens.
pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// Cached prompt tokens (a subset of input tokens).
pub const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
/// Thinking tokens (a subset of output tokens).
pub const GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
/// `input` or `output` on `gen_ai.client.token.usage`.
pub const GEN_AI_TOKEN_TYPE: &str = "gen_ai.token.type";
/// `text`, `image`, `audio` or `unknown` on the `gen_ai.client.inference.usage.*` counters.
pub const GEN_AI_TOKEN_MODALITY: &str = "gen_ai.token.modality";
/// `thinkingConfig.thinkingLevel` exactly as sent (OpenAI compat: `reasoning_effort`).
pub const GEN_AI_REQUEST_REASONING_LEVEL: &str = "gen_ai.request.reasoning.level";
/// Text part of the input tokens (a subset of `gen_ai.usage.input_tokens`).
pub const GEN_AI_USAGE_TEXT_INPUT_TOKENS: &str = "gen_ai.usage.text.input_tokens";
/// Image part of the input tokens (a subset of `gen_ai.usage.input_tokens`).
pub const GEN_AI_USAGE_IMAGE_INPUT_TOKENS: &str = "gen_ai.usage.image.input_tokens";
/// Audio part of the input tokens (a subset of `gen_ai.usage.input_tokens`).
pub const GEN_AI_USAGE_AUDIO_INPUT_TOKENS: &str = "gen_ai.usage.audio.input_tokens";
/// Text part of the output tokens (a subset of `gen_ai.usage.output_tokens`).
pub const GEN_AI_USAGE_TEXT_OUTPUT_TOKENS: &str = "gen_ai.usage.text.output_tokens";
/// Image part of the output tokens (a subset of `gen_ai.usage.output_tokens`).
pub const GEN_AI_USAGE_IMAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.image.output_tokens";
/// Audio part of the output tokens (a subset of `gen_ai.usage.output_tokens`).
pub const GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS: &str = "gen_ai.usage.audio.output_tokens";
/// Text part of the cached input tokens (a subset of `gen_ai.usage.cache_read.input_tokens`).
pub const GEN_AI_USAGE_TEXT_CACHE_READ_INPUT_TOKENS: &str =
    "gen_ai.usage.text.cache_read.input_tokens";
/// Image part of the cached input tokens.
pub const GEN_AI_USAGE_IMAGE_CACHE_READ_INPUT_TOKENS: &str =
    "gen_ai.usage.image.cache_read.input_tokens";
/// Audio part of the cached input tokens.
pub const GEN_AI_USAGE_AUDIO_CACHE_READ_INPUT_TOKENS: &str =
    "gen_ai.usage.audio.cache_read.input_tokens";

// The table of names that differ between the two generations (`V141_*` as released, `LATEST_*`
// as on the GenAI repository's `main`). Keep docs/schema.md#two-generations-of-names in step.

/// Value of `[telemetry] semconv` that emits the v1.41 names.
pub const SEMCONV_V141: &str = "v1.41";
/// Value of `[telemetry] semconv` that emits the names of the GenAI repository's `main`.
pub const SEMCONV_LATEST: &str = "latest";
/// Value of `[telemetry] semconv` that emits both (where a name differs, both are set).
pub const SEMCONV_BOTH: &str = "both";
/// Schema URL of the instrumentation scope, v1.41.
pub const V141_SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.41.0";
/// Schema URL of the instrumentation scope, GenAI repository `main`.
pub const LATEST_SCHEMA_URL: &str = "https://opentelemetry.io/schemas/gen-ai/1.42.0";
/// Span type of the inference (LLM) span, v1.41 (a model id; not sent on the wire).
pub const V141_SPAN_TYPE_INFERENCE: &str = "gen_ai.inference.client";
/// Span type of the inference (LLM) span on `main` (a model id; not sent on the wire).
pub const LATEST_SPAN_TYPE_INFERENCE: &str = "gen_ai.client.inference";
/// Tokens written to a cache (included in input tokens), v1.41 name.
pub const V141_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: &str =
    "gen_ai.usage.cache_creation.input_tokens";
/// Tokens written to a cache (included in input tokens), `main` name.
pub const LATEST_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: &str =
    "gen_ai.usage.cache_write.input_tokens";
/// Duration histogram (s) of an inference call, v1.41 (every operation).
pub const V141_METRIC_INFERENCE_DURATION: &str = "gen_ai.client.operation.duration";
/// Duration histogram (s) of an inference call on `main`.
pub const LATEST_METRIC_INFERENCE_DURATION: &str = "gen_ai.client.inference.duration";
/// Duration histogram (s) of a non-inference operation (embeddings, ...): same name in both.
pub const METRIC_OPERATION_DURATION: &str = "gen_ai.client.operation.duration";
/// Time to first chunk histogram (s), v1.41.
pub const V141_METRIC_TIME_TO_FIRST_CHUNK: &str = "gen_ai.client.operation.time_to_first_chunk";
/// Time to first chunk histogram (s), `main`.
pub const LATEST_METRIC_TIME_TO_FIRST_CHUNK: &str = "gen_ai.client.inference.time_to_first_chunk";
/// Time per output chunk histogram (s), v1.41.
pub const V141_METRIC_TIME_PER_OUTPUT_CHUNK: &str = "gen_ai.client.operation.time_per_output_chunk";
/// Time per output chunk histogram (s), `main`.
pub const LATEST_METRIC_TIME_PER_OUTPUT_CHUNK: &str =
    "gen_ai.client.inference.time_per_output_chunk";
/// Token histogram with `gen_ai.token.type`, v1.41 only (replaced by the counters on `main`).
pub const V141_METRIC_TOKEN_USAGE: &str = "gen_ai.client.token.usage";
/// Input token counter with `gen_ai.token.modality`, `main` only.
pub const LATEST_METRIC_USAGE_INPUT_TOKENS: &str = "gen_ai.client.inference.usage.input_tokens";
/// Output token counter, `main` only.
pub const LATEST_METRIC_USAGE_OUTPUT_TOKENS: &str = "gen_ai.client.inference.usage.output_tokens";
/// Cache-read input token counter, `main` only.
pub const LATEST_METRIC_USAGE_CACHE_READ_INPUT_TOKENS: &str =
    "gen_ai.client.inference.usage.cache_read.input_tokens";
/// Cache-write input token counter, `main` only.
pub const LATEST_METRIC_USAGE_CACHE_WRITE_INPUT_TOKENS: &str =
    "gen_ai.client.inference.usage.cache_write.input_tokens";
/// Reasoning output token counter, `main` only.
pub const LATEST_METRIC_USAGE_REASONING_OUTPUT_TOKENS: &str =
    "gen_ai.client.inference.usage.reasoning.output_tokens";
/// Captured prompt contents (opt-in).
pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// Captured answer (opt-in).
pub const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// Captured system instruction (opt-in).
pub const GEN_AI_SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";

/// Operation value for `generateContent` and `streamGenerateContent`.
pub const OP_GENERATE_CONTENT: &str = "generate_content";
/// Operation value for OpenAI-compatible chat completions.
pub const OP_CHAT: &str = "chat";
/// Operation value for embeddings.
pub const OP_EMBEDDINGS: &str = "embeddings";
/// Operation value for `countTokens` (not a semconv well-known value).
pub const OP_COUNT_TOKENS: &str = "count_tokens";
/// `gen_ai.operation.name` of an `agent=` interaction.
pub const OP_INVOKE_AGENT: &str = "invoke_agent";
/// `gen_ai.operation.name` of a tool call step.
pub const OP_EXECUTE_TOOL: &str = "execute_tool";
/// `gen_ai.operation.name` of `GET /interactions/{id}`.
pub const OP_FETCH_RESPONSE: &str = "fetch_response";
/// `gen_ai.operation.name` of `POST cachedContents` (not a semconv well-known value).
pub const OP_CREATE_CACHE: &str = "create_cache";
/// `gen_ai.operation.name` of `PATCH cachedContents/{id}` (a new TTL).
pub const OP_UPDATE_CACHE: &str = "update_cache";
/// `gen_ai.operation.name` of `DELETE cachedContents/{id}`.
pub const OP_DELETE_CACHE: &str = "delete_cache";

/// Upstream host.
pub const SERVER_ADDRESS: &str = "server.address";
/// Upstream port.
pub const SERVER_PORT: &str = "server.port";
/// HTTP method of the inbound request.
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// HTTP status returned to the client.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// Request path (never the query).
pub const URL_PATH: &str = "url.path";
/// Request query with secrets redacted.
pub const URL_QUERY: &str = "url.query";
/// Low-cardinality error class: an HTTP status, `timeout`, `connect`, `stream_reset`, `cancelled`, `_OTHER`.
pub const ERROR_TYPE: &str = "error.type";
/// End user from `x-gateway-user-id`.
pub const USER_ID: &str = "user.id";
/// Session from `x-gateway-session-id`.
pub const SESSION_ID: &str = "session.id";

/// Which step of a request a span represents (see the `STEP_*` values).
pub const GATEWAY_STEP: &str = "gateway.step";
/// Step value of the span that parses the request.
pub const STEP_PROMPT_CONSTRUCTION: &str = "prompt_construction";
/// Step value of the upstream call span.
pub const STEP_LLM_CALL: &str = "llm_call";
/// Step value of the span that reads usage and finishes the trace.
pub const STEP_POST_PROCESSING: &str = "post_processing";
/// Step value of spans created by plugins.
pub const STEP_PLUGIN: &str = "plugin";
/// Prefix of custom attribution properties (`x-gateway-property-<name>`).
pub const GATEWAY_PROPERTY_PREFIX: &str = "gateway.property.";
/// Outcome of the request: `ok`, `error` or `cancelled`.
pub const GATEWAY_STATUS: &str = "gateway.status";
/// Milliseconds to the first response chunk, as stored in `traces.ttft_ms`.
pub const GATEWAY_TTFT_MS: &str = "gateway.ttft_ms";
/// Number of `contents` entries in the request.
pub const GATEWAY_REQUEST_CONTENTS: &str = "gateway.request.contents";
/// Number of parts across all `contents`.
pub const GATEWAY_REQUEST_PARTS: &str = "gateway.request.parts";
/// Whether a system instruction is present.
pub const GATEWAY_REQUEST_SYSTEM_INSTRUCTION: &str = "gateway.request.system_instruction";
/// Whether the request names a `cachedContent`.
pub const GATEWAY_REQUEST_CACHED_CONTENT: &str = "gateway.request.cached_content";
/// Whether `thinkingConfig` is present, and its budget.
pub const GATEWAY_REQUEST_THINKING_BUDGET: &str = "gateway.request.thinking_budget";
/// Request body size in bytes.
pub const GATEWAY_REQUEST_BYTES: &str = "gateway.request.bytes";
/// Response body size in bytes.
pub const GATEWAY_RESPONSE_BYTES: &str = "gateway.response.bytes";
/// Number of stream events (SSE events or JSON-array elements) seen.
pub const GATEWAY_RESPONSE_CHUNKS: &str = "gateway.response.chunks";
/// Why the request body could not be parsed (it was forwarded unchanged anyway).
pub const GATEWAY_REQUEST_PARSE_ERROR: &str = "gateway.request.parse_error";
/// Why usage could not be read from the response.
pub const GATEWAY_RESPONSE_PARSE_ERROR: &str = "gateway.response.parse_error";
/// `promptFeedback.blockReason` of an answer whose prompt was blocked (`SAFETY`,
/// `PROHIBITED_CONTENT`, …): nothing was generated. Also its finish reason.
pub const GATEWAY_RESPONSE_BLOCK_REASON: &str = "gateway.response.block_reason";
/// `totalTokenCount` as reported by Gemini.
pub const GATEWAY_USAGE_TOTAL_TOKENS: &str = "gateway.usage.total_tokens";
/// `toolUsePromptTokenCount` (included in input tokens).
pub const GATEWAY_USAGE_TOOL_USE_PROMPT_TOKENS: &str = "gateway.usage.tool_use_prompt_tokens";
/// Audio prompt tokens from `promptTokensDetails`.
pub const GATEWAY_USAGE_AUDIO_INPUT_TOKENS: &str = "gateway.usage.audio_input_tokens";
/// Cached audio tokens from `cacheTokensDetails`.
pub const GATEWAY_USAGE_AUDIO_CACHED_TOKENS: &str = "gateway.usage.audio_cache_read_tokens";
/// Total cost in USD (absent when unpriced).
pub const GATEWAY_COST_USD: &str = "gateway.cost.usd";
/// Input part of the cost in USD.
pub const GATEWAY_COST_INPUT_USD: &str = "gateway.cost.input_usd";
/// Output part of the cost in USD.
pub const GATEWAY_COST_OUTPUT_USD: &str = "gateway.cost.output_usd";
/// `true` when the model has no price: cost is unknown, never zero.
pub const GATEWAY_COST_UNPRICED: &str = "gateway.cost.unpriced";
/// Why a call is unpriced.
pub const GATEWAY_COST_UNPRICED_REASON: &str = "gateway.cost.unpriced_reason";
/// The price-table entry a model resolved to.
pub const GATEWAY_COST_MODEL: &str = "gateway.cost.model";
/// `standard` or `long_context` (for a batch job's responses, priced one by one:
/// `long_context` when any of them took the long-context rates).
pub const GATEWAY_COST_TIER: &str = "gateway.cost.tier";
/// Date (`YYYY-MM-DD`) from which the applied price row is in force.
pub const GATEWAY_COST_EFFECTIVE_FROM: &str = "gateway.cost.effective_from";
/// Where the applied price row comes from (a URL, or `gateway.toml`).
pub const GATEWAY_COST_SOURCE: &str = "gateway.cost.source";
/// Grounding (Google Search) fees in USD, included in `gateway.cost.usd`.
pub const GATEWAY_COST_GROUNDING_USD: &str = "gateway.cost.grounding_usd";
/// The service tier that served the call (`standard`, `flex`, `priority`, `batch`).
pub const GATEWAY_SERVICE_TIER: &str = "gateway.service_tier";
/// The service tier the request asked for.
pub const GATEWAY_REQUEST_SERVICE_TIER: &str = "gateway.request.service_tier";
/// `true` when a priority request was served (and priced) at standard.
pub const GATEWAY_SERVICE_TIER_DOWNGRADED: &str = "gateway.service_tier.downgraded";
/// `true` when the model that served differs from the one requested (auto-routing).
pub const GATEWAY_MODEL_ROUTED: &str = "gateway.model.routed";
/// How the call is billed: `metered`, `free`, `deferred` or `unknown`.
pub const GATEWAY_METERING: &str = "gateway.metering";
/// The Gemini surface that recognised the request (`generate_content`, `interactions`, ...).
pub const GATEWAY_SURFACE: &str = "gateway.surface";
/// `Content-Encoding` of the upstream answer, when it was compressed.
pub const GATEWAY_RESPONSE_CONTENT_ENCODING: &str = "gateway.response.content_encoding";
/// Why the observer's copy of the answer could not be fully decoded or read.
pub const GATEWAY_RESPONSE_DECODE_ERROR: &str = "gateway.response.decode_error";
/// `gen_ai.request.previous_response.id`: the Interaction's `previous_interaction_id`.
pub const GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID: &str = "gen_ai.request.previous_response.id";
/// `gen_ai.agent.name`: the agent of an `agent=` interaction.
pub const GEN_AI_AGENT_NAME: &str = "gen_ai.agent.name";
/// `gen_ai.tool.name`.
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
/// `gen_ai.tool.call.id`.
pub const GEN_AI_TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
/// `gen_ai.tool.type`.
pub const GEN_AI_TOOL_TYPE: &str = "gen_ai.tool.type";
/// Interactions step type (`model_output`, `thought`, `function_call`, ...).
pub const GATEWAY_STEP_TYPE: &str = "gateway.interaction.step.type";
/// Index of an Interactions step.
pub const GATEWAY_STEP_INDEX: &str = "gateway.interaction.step.index";
/// Interaction status (`completed`, `in_progress`, `requires_action`, ...).
pub const GATEWAY_INTERACTION_STATUS: &str = "gateway.interaction.status";
/// `true` on a poll of an interaction whose usage was already metered.
pub const GATEWAY_INTERACTION_ALREADY_METERED: &str = "gateway.interaction.already_metered";

/// Error message from a plugin that failed or panicked.
pub const GATEWAY_PLUGIN_ERROR: &str = "gateway.plugin.error";
/// Gateway time (total minus upstream wait) in milliseconds.
pub const GATEWAY_OVERHEAD_MS: &str = "gateway.overhead_ms";
/// Time a finished request waited for the completion thread, in ms (post-processing step).
pub const GATEWAY_COMPLETION_WAIT_MS: &str = "gateway.completion.wait_ms";

/// Plugin-library completion hooks skipped because their queue was full.
pub const GATEWAY_PLUGIN_SKIPPED: &str = "gateway.plugin.skipped";
/// `x-gateway-property-*` headers past the per-request cap, counted and not kept.
pub const GATEWAY_PROPERTY_DROPPED: &str = "gateway.property.dropped";
/// Job id (`batches/{id}`).
pub const GATEWAY_BATCH_ID: &str = "gateway.batch.id";
/// Requests in the job (on the create).
pub const GATEWAY_BATCH_REQUESTS: &str = "gateway.batch.requests";
/// `BATCH_STATE_*` as the operation says.
pub const GATEWAY_BATCH_STATE: &str = "gateway.batch.state";
/// Inlined responses in the finished job.
pub const GATEWAY_BATCH_RESPONSES: &str = "gateway.batch.responses";
/// Inlined responses that were errors.
pub const GATEWAY_BATCH_FAILED: &str = "gateway.batch.failed";
/// A later poll of a job already metered.
pub const GATEWAY_BATCH_ALREADY_METERED: &str = "gateway.batch.already_metered";
/// The results file (to fetch through the files API; not metered here).
pub const GATEWAY_BATCH_RESPONSES_FILE: &str = "gateway.batch.responses_file";
/// Where a job's results stand: `not_seen` (a results file not downloaded through the
/// gateway yet), `metered` (usage counted on this span), `already_metered`.
pub const GATEWAY_BATCH_RESULTS: &str = "gateway.batch.results";
/// Lines of a downloaded results file that were not JSON (their usage is not counted).
pub const GATEWAY_BATCH_FILE_BAD_LINES: &str = "gateway.batch.file_bad_lines";
/// Context cache event on the LLM span: `create`, `update` (a new TTL) or `delete`. The store
/// keeps the cache's storage intervals from these spans.
pub const GATEWAY_CACHE_EVENT: &str = "gateway.cache.event";
/// The cache, `cachedContents/{id}`.
pub const GATEWAY_CACHE_NAME: &str = "gateway.cache.name";
/// Tokens the cache holds (`usageMetadata.totalTokenCount` of the CachedContent).
pub const GATEWAY_CACHE_TOKENS: &str = "gateway.cache.tokens";
/// When the event takes effect, unix nanos: `createTime`, `updateTime`, or the gateway's clock
/// for a delete.
pub const GATEWAY_CACHE_AT: &str = "gateway.cache.at_unix_nano";
/// The cache's `createTime`, unix nanos.
pub const GATEWAY_CACHE_CREATED: &str = "gateway.cache.create_unix_nano";
/// The cache's `expireTime`, unix nanos (capped at the largest i64).
pub const GATEWAY_CACHE_EXPIRE: &str = "gateway.cache.expire_unix_nano";
/// Storage rate of the cache's model in force at the event, USD per 1M token-hours.
pub const GATEWAY_CACHE_STORAGE_RATE: &str = "gateway.cache.storage_usd_per_mtok_hour";
/// Why the cache's storage is not priced (no rate for the model, no token count, no expiry).
pub const GATEWAY_CACHE_UNPRICED_REASON: &str = "gateway.cache.unpriced_reason";
/// Live API: how the session ended (`client_close`, `server_close`, `client_gone`,
/// `upstream_gone`, `go_away`, `error`).
pub const GATEWAY_LIVE_END: &str = "gateway.live.end";
/// Live API: the close code of the Close frame that ended the session, when one was seen.
pub const GATEWAY_LIVE_CLOSE_CODE: &str = "gateway.live.close_code";
/// Live API: the `timeLeft` of the upstream's `goAway`, when one was sent.
pub const GATEWAY_LIVE_GO_AWAY_TIME_LEFT: &str = "gateway.live.go_away.time_left";
/// Live API: model turns metered in the session (each an LLM span).
pub const GATEWAY_LIVE_TURNS: &str = "gateway.live.turns";
/// Live API: turns that ended (or were cut) without a `usageMetadata`: not metered.
pub const GATEWAY_LIVE_TURNS_UNMETERED: &str = "gateway.live.turns.unmetered";
/// Live API: the 1-based index of a turn in its session.
pub const GATEWAY_LIVE_TURN_INDEX: &str = "gateway.live.turn.index";
/// Live API: how a turn ended (`turn_complete`, `tool_call`, `interrupted`, `session_end`).
pub const GATEWAY_LIVE_TURN_END: &str = "gateway.live.turn.end";
/// Live API: WebSocket frames the client sent.
pub const GATEWAY_LIVE_FRAMES_CLIENT: &str = "gateway.live.frames.client";
/// Live API: WebSocket frames the upstream sent.
pub const GATEWAY_LIVE_FRAMES_SERVER: &str = "gateway.live.frames.server";
/// Live API: messages the gateway could not read (not JSON, compressed, too large, broken
/// framing); they were forwarded untouched.
pub const GATEWAY_LIVE_FRAMES_UNREADABLE: &str = "gateway.live.frames.unreadable";
/// Live API: why the first unreadable message could not be read.
pub const GATEWAY_LIVE_FRAMES_UNREADABLE_REASON: &str = "gateway.live.frames.unreadable_reason";
/// Live API: the upstream's session id (`setupComplete.sessionId`), when it sent one.
pub const GATEWAY_LIVE_SESSION_ID: &str = "gateway.live.session_id";
/// Response header in which Gemini names the service tier that served the call.
pub const HEADER_GEMINI_SERVICE_TIER: &str = "x-gemini-service-tier";
/// Response header that carries the trace id to the client.
pub const HEADER_TRACE_ID: &str = "x-gateway-trace-id";
/// Attribution header for the end user.
pub const HEADER_USER_ID: &str = "x-gateway-user-id";
/// Attribution header for the session.
pub const HEADER_SESSION_ID: &str = "x-gateway-session-id";
/// Prefix of attribution headers for custom properties.
pub const HEADER_PROPERTY_PREFIX: &str = "x-gateway-property-";

/// `service.name` of the application that sent spans to `POST /v1/traces` (from its resource).
pub const SERVICE_NAME: &str = "service.name";
/// `otlp` on spans received from an application on `POST /v1/traces`.
pub const GATEWAY_SPAN_SOURCE: &str = "gateway.span.source";
/// Value of [`GATEWAY_SPAN_SOURCE`] on received spans.
pub const SPAN_SOURCE_OTLP: &str = "otlp";
/// Attributes of a received span cut or left out (too long, too many, or reserved `gateway.*`).
pub const GATEWAY_SPAN_CLIPPED: &str = "gateway.span.clipped";
/// The token modality used when the provider did not say (and for a failed call's 0 record).
pub const MODALITY_UNKNOWN: &str = "unknown";
/// Finish reason reported when the answer gave none (cut stream, error).
pub const FINISH_REASON_ERROR: &str = "error";
