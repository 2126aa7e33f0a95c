//! A faithful fake of the Gemini REST API (`generativelanguage.googleapis.com`)
//! for integration tests, demos and benchmarks, as of December 2026.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let fake = fake_gemini::FakeGemini::start(fake_gemini::FakeConfig::default()).await?;
//! let url = format!("{}/v1beta/models/gemini-3.8-flash:generateContent", fake.base_url());
//! # let _ = url;
//! fake.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Endpoints
//! Any version prefix (`v1`, `v1beta`, `v1alpha`); `models/X` or `tunedModels/X`:
//! `:generateContent`, `:streamGenerateContent?alt=sse` (events `data: <json>\r\n\r\n`,
//! no `[DONE]`), `:streamGenerateContent` without `alt=sse` (JSON array
//! `[{…}\r\n,{…}\r\n]`, one element per body chunk), `:countTokens`,
//! `:embedContent`, `:batchEmbedContents`, `GET models[/X]`; the Interactions
//! API `POST /{ver}/interactions` (unary, `stream: true`, `background: true`),
//! `GET|DELETE /{ver}/interactions/{id}`, `POST /{ver}/interactions/{id}/cancel`
//! (or `{id}:cancel`); OpenAI compat `/{ver}/openai/chat/completions` (plain
//! and `stream`), `/embeddings`, `GET /models[/id]`; resumable uploads
//! `/upload/{ver}/files` and `GET|DELETE /{ver}/files[/id]`; the Batch API and context caching
//! (below). Anything else is
//! a Gemini-shaped 404.
//!
//! A key is required (`x-goog-api-key`, `?key=` or `Authorization: Bearer`),
//! except on upload-chunk URLs: none → 403 PERMISSION_DENIED, `bad-key` → 400
//! INVALID_ARGUMENT with `ErrorInfo.reason = API_KEY_INVALID`. Malformed JSON →
//! 400 INVALID_ARGUMENT. Errors on the OpenAI-compat and JSON-array stream
//! paths are wrapped in an array: `[{"error":{…}}]`.
//!
//! # Served model, tier and encoding
//! - Auto-routing (one table, `routing.rs`): `gemini-3.7-flash` →
//!   `gemini-3.8-flash`, `gemini-3.5-flash` → `gemini-3.6-flash`,
//!   `gemini-2.5-pro` → `gemini-3.8-flash`, `gemini-2.5-flash` →
//!   `gemini-3.5-flash-lite`, `gemini-flash-lite-latest` →
//!   `gemini-3.5-flash-lite`, `gemini-3-pro-preview` → `gemini-3.1-pro-preview`
//!   (and, the fake's choice, `gemini-flash-latest` → `gemini-3.8-flash`,
//!   `gemini-pro-latest` → `gemini-3.1-pro-preview`). `modelVersion`, the
//!   OpenAI-compat `model` and an Interaction's `model` name the served model,
//!   whose token rules apply. `GET models` lists today's models; any other
//!   name still resolves (it stands for a model newer than a price table),
//!   except the ids shut down (`gemini-2.0-flash`, `gemini-2.0-flash-lite` and
//!   their `-001`, on 2026-06-01; `%XX` escapes decoded): those answer 404
//!   `NOT_FOUND` (`models/{id} is not found for API version {v}, or is not
//!   supported for {method}. …`) on every surface that names a model (the
//!   native methods, Batch creates, `GET models/{id}`, the OpenAI-compatible
//!   chat, embeddings and model, Interactions and cached-content creates), and
//!   a Live setup naming one is closed with 1008 and that message, cut to the
//!   123 bytes a Close frame holds.
//! - Service tier: `serviceTier` / `service_tier` = `flex | standard |
//!   priority` (default standard; an unknown value is a 400). The tier that
//!   served is in the `x-gemini-service-tier` header of every answer of a
//!   generation call (generateContent, streams, OpenAI chat, Interactions; 429
//!   included), in `usageMetadata.serviceTier` and in an Interaction's
//!   `service_tier`, spelled lowercase as the SDK's enums spell it.
//! - Compression: when `Accept-Encoding` lists gzip the answer is
//!   `Content-Encoding: gzip` with `Vary: Accept-Encoding`; every body chunk
//!   (every stream event) is compressed and sync-flushed on its own, so
//!   events still arrive one by one. No `Accept-Encoding`, no compression.
//!
//! # Reply and token rules (deterministic)
//! - Reply text: `Echo: <S> (deterministic fake-gemini reply)` where `S` is the
//!   first 40 characters of the last user turn's text (text parts joined with
//!   a space, whitespace collapsed). A stream of `n` events splits the reply's
//!   words into `n` pieces (padded with the word `more` when `n` exceeds the
//!   number of words); the pieces concatenate to the full text.
//! - `promptTokenCount` = whitespace-separated words over every text part of
//!   `contents` plus `systemInstruction` / `system_instruction`, minimum 1.
//! - `thoughtsTokenCount` = 7 when the served model's name contains `2.5` or
//!   `3`, unless `generationConfig.thinkingConfig.thinkingBudget` is 0 or
//!   `thinkingLevel` is `minimal` (either spelling). `gemini-2.5-flash-lite`
//!   thinks only when asked (its default budget is 0): for a `thinkingBudget`
//!   other than 0 (levels are Gemini 3's control and do not turn it on; an
//!   Interaction, which carries no budget, gets no thoughts from it).
//! - `cachedContentTokenCount`: a request naming a live cache of this fake
//!   (`cachedContent` / `cached_content` = `cachedContents/{id}`) adds the cache's
//!   `totalTokenCount` to `promptTokenCount` and reports it as cached; naming any
//!   other cache reports `promptTokenCount / 2`.
//! - A thinking model asked for `maxOutputTokens` no more than its thoughts
//!   spends the budget thinking: the answer (a stream: one event) has a
//!   candidate without parts, `finishReason: MAX_TOKENS`, no
//!   `candidatesTokenCount`, and `thoughtsTokenCount` = the budget.
//! - `candidatesTokenCount` = words of the reply (cumulative in streams), plus
//!   1290 for an image or 250 for audio when `generationConfig.responseModalities`
//!   lists IMAGE or AUDIO: the last event then also carries an `inlineData`
//!   part and `candidatesTokensDetails` = `[{TEXT, words}, {IMAGE|AUDIO, n}]`
//!   (earlier events: TEXT only).
//! - Grounding: a `googleSearch` / `google_search` tool adds, on the last
//!   event, `groundingMetadata` with `webSearchQueries` = `[S, "S explained",
//!   ""]` (two billable queries and an empty one), two web `groundingChunks`
//!   and a `searchEntryPoint`; every event then has `toolUsePromptTokenCount`
//!   = 12 (with `toolUsePromptTokensDetails`).
//! - `totalTokenCount` = prompt + candidates + thoughts + tool use;
//!   `promptTokensDetails` = `[{"modality":"TEXT","tokenCount":prompt}]`;
//!   `serviceTier` = the served tier. `finishReason: STOP` is on the last event.
//! - countTokens: `totalTokens` = the prompt rule above (`contents` or
//!   `generateContentRequest`).
//! - OpenAI compat: `prompt_tokens` = words of every message content (min 1),
//!   `completion_tokens` = reply words, `total_tokens` = prompt + completion +
//!   7 thoughts for thinking models (unless `reasoning_effort: "none"`; for
//!   `gemini-2.5-flash-lite` only with a `reasoning_effort` other than it), also
//!   shown as `completion_tokens_details.reasoning_tokens`.
//! - Embeddings: 8 deterministic values in [-1, 1] per input
//!   (`outputDimensionality` / `dimensions` honoured); `:embedContent` and
//!   `:batchEmbedContents` carry top-level `usageMetadata` =
//!   `{promptTokenCount, promptTokenDetails: [{TEXT, n}]}` ("Token" singular,
//!   no total) with n = words of every text, minimum 1.
//!
//! # Interactions rules
//! - Input: a string, a content, a list of contents, steps (`user_input`,
//!   `model_output`, `function_result`…) or `{role, content}` turns.
//!   `total_input_tokens` = words of every text in `input` plus
//!   `system_instruction`, minimum 1; `total_cached_tokens` = half of it with
//!   `cached_content`.
//! - Steps: `thought` (7 `total_thought_tokens`, thinking rule above, agents
//!   always think); with a `google_search` tool a `google_search_call` (2
//!   queries, `grounding_tool_count: [{type: google_search, count: 2}]`) and a
//!   `google_search_result` (12 `total_tool_use_tokens`); then a
//!   `model_output` (the reply; `total_output_tokens` = its words, + 1290 /
//!   250 with `response_modalities` image / audio) or, with a `function` tool
//!   and no `function_result` in the input, a `function_call` (6 output
//!   tokens, arguments from its `parameters`) and status `requires_action`. A
//!   reply longer than `generation_config.max_output_tokens` words is cut to
//!   it and the status is `incomplete` (its usage is billed all the same).
//! - `usage`: every `total_*` (0 included), `total_tokens` = input + output +
//!   thought + tool use, `*_tokens_by_modality` lists (`{modality, tokens}`,
//!   lowercase modality). `model` (served) or `agent`, `service_tier`,
//!   `previous_interaction_id`, `created` / `updated` (ISO 8601).
//! - Streams: `interaction.created` (in progress, no usage),
//!   `interaction.status_update`, per step `step.start` (the step without its
//!   payload), `step.delta` (`x-fake-chunks` text deltas; others one delta)
//!   with cumulative `metadata.total_usage`, `step.stop` (`step_usage` of the
//!   step, cumulative `usage`), `interaction.completed`, `data: [DONE]`.
//! - Background: the create answers `in_progress` without usage; `GET`
//!   answers `in_progress` for the first N-1 polls, then the completed
//!   interaction (N = `x-fake-polls` on the create, default 1); cancel makes it
//!   `cancelled` (without usage if it had not completed); `DELETE` → `{}`;
//!   unknown ids → 404. The last 1024 stored interactions are kept
//!   (`store: false` keeps none).
//!
//! # Batch API rules
//! - `POST /{ver}/models/{m}:batchGenerateContent` with `{"batch": {"displayName",
//!   "inputConfig": {"requests": {"requests": [{"request": {…}, "metadata":
//!   {"key": …}}]}}}}` (snake_case too) answers the operation `{"name":
//!   "batches/{id}", "metadata": {"@type": "….GenerateContentBatch", "model":
//!   "models/{served}", "displayName", "state": "BATCH_STATE_PENDING",
//!   "batchStats": {"requestCount": "n", …}, "createTime", "updateTime"}}`.
//!   `:asyncBatchEmbedContent` (`request: {content}`) is the same with
//!   `EmbedContentBatch`.
//! - `GET /{ver}/batches/{id}` answers pending (`BATCH_STATE_RUNNING`) for the
//!   first N-1 polls (N = `x-fake-polls` on the create, default 1), then
//!   `done: true`, `BATCH_STATE_SUCCEEDED` and, in both `metadata.output` and
//!   `response` (`@type` `…Output`), `inlinedResponses.inlinedResponses[]`:
//!   one per request, in order, with its `metadata`, and a `response` by the
//!   generateContent rules (its own `usageMetadata` without `serviceTier`,
//!   `modelVersion` = served model) or an `error` `{code, message}` (e.g. no
//!   `contents`); embeddings give `{embedding: {values}, tokenCount}`. An
//!   input given as `inputConfig.fileName` (a JSONL file uploaded here, one
//!   `{"key", "request"}` per line) gives `output.responsesFile =
//!   "files/batch-{id}"` instead: one `{"key", "response" | "error"}` line per
//!   input line, served by `GET [/download]/{ver}/files/{id}:download?alt=media`
//!   as `application/jsonl` (uploads up to 16 MiB are kept for this).
//!
//! # Context caching
//! `POST /{ver}/cachedContents` (`model` required; `ttl` as `"3600s"` or
//! `expireTime`, default one hour) answers a `CachedContent` `{name:
//! "cachedContents/{id}", model, createTime, updateTime, expireTime,
//! usageMetadata: {totalTokenCount}}` (tokens: the prompt rule over `contents`
//! and `systemInstruction`); `GET` one or the list, `PATCH` a new `ttl` /
//! `expireTime`, `DELETE` → `{}`. A negative or unparsable `ttl`, both fields, or
//! an expiry in the past or after year 9999 is 400; an unknown or expired cache is
//! 403 PERMISSION_DENIED, as upstream.
//! - `POST /{ver}/batches/{id}:cancel` → `{}` (a pending job becomes
//!   `BATCH_STATE_CANCELLED`, done, no output); `DELETE` → `{}`; unknown ids →
//!   404. The last 1024 jobs are kept.
//!
//! # Live API (WebSocket)
//! `GET /ws/google.ai.generativelanguage.{ver}.GenerativeService.BidiGenerateContent` (a key in
//! `x-goog-api-key` or `?key=`) and `…BidiGenerateContentConstrained` (`Authorization: Token
//! auth_tokens/…` or `?access_token=`) upgrade to a WebSocket speaking the SDK's
//! `LiveClientMessage` / `LiveServerMessage` JSON, sent as binary frames like the service (text
//! with `x-fake-live-frames: text`); a missing key closes with 1008 after the upgrade. `setup`
//! → `setupComplete {sessionId}`; a `clientContent` with `turnComplete`, a `realtimeInput` text
//! (or audio ended by `audioStreamEnd` / `activityEnd`) or a `toolResponse` is answered by a
//! model turn: one `serverContent.modelTurn` frame per part (a thought first on thinking
//! models, 24 kHz PCM `inlineData` when `responseModalities` is `AUDIO`), `generationComplete`,
//! then `turnComplete` with the turn's `usageMetadata`, whose `promptTokenCount` is the whole
//! context so far (it grows every turn: Gemini re-bills it). With `tools` declared a user turn
//! gets a `toolCall` of the first function instead (with its usage); the `toolResponse` naming
//! its id continues the turn, another id closes with 1007, as does a frame that is not JSON. The
//! google-genai SDK's `aio.live.connect`, `send_client_content`, `send_realtime_input`,
//! `send_tool_response` and `receive()` work against it unchanged. Fault knobs
//! (`x-fake-live-go-away-after`, `-garbage-after`, `-stall`, `-usage-apart`) are in the `live`
//! module; [`sent_frames`] returns every data frame a session sent, for byte-for-byte checks.
//!
//! # Control knobs (request headers)
//! `x-fake-latency-ms`, `x-fake-chunk-gap-ms`, `x-fake-chunks` override
//! [`FakeConfig`]; `x-fake-status: <4xx|5xx>` answers a canned Gemini error
//! (429 carries QuotaFailure, Help and RetryInfo details);
//! `x-fake-fault: reset-mid-stream` sends two stream events then aborts the
//! connection; `x-fake-fault: error-mid-stream` sends two stream events then
//! Gemini's in-band error event (`{"error": {code 500, status INTERNAL}}`) as
//! the stream's last element, under HTTP 200 (on an Interactions stream: its first
//! four events, then an `error` event and `data: [DONE]`); `x-fake-fault: hang`
//! never answers; `x-fake-hold: <token>`
//! pauses a stream after its first event until [`FakeGemini::release`] or
//! `POST /__fake/release/<token>` (204). `x-fake-block-reason: SAFETY` (or `OTHER`,
//! `BLOCKLIST`, `PROHIBITED_CONTENT`, `IMAGE_SAFETY`) answers `generateContent` and
//! `streamGenerateContent` as to a blocked prompt: HTTP 200, no candidates, the reason in
//! `promptFeedback`, the prompt's usage only (one event when streamed).
//! `x-fake-tier-downgrade: 1` serves a priority request at standard; `x-fake-polls: N` (background interactions
//! and batch jobs, above); `x-fake-encoding: identity|gzip|deflate|br|zstd` forces a content
//! coding. `GET /__fake/requests` lists the recorded requests as JSON,
//! `DELETE /__fake/requests` clears them.
//!
//! # TLS
//! [`FakeGemini::start_tls`] (and `fake-gemini --tls-cert --tls-key`) serves the same API over
//! TLS, HTTP/2 and HTTP/1.1 by ALPN ([`Alpn`]); each connection's SNI name and ALPN protocol
//! are recorded ([`FakeGemini::tls_connections`], `GET /__fake/tls`) and echoed in the
//! `x-fake-tls-sni` / `x-fake-tls-alpn` response headers.

mod batches;
mod caches;
mod compress;
mod config;
mod errors;
mod extras;
mod file_contents;
mod files;
mod handle;
mod interactions;
mod live;
mod models;
mod native;
mod openai;
mod route;
mod router;
mod routing;
mod state;
mod stream;
mod tier;
mod tls;
mod tokens;
mod upload;
mod util;

pub use config::FakeConfig;
pub use handle::{FakeGemini, spawn_in_thread, spawn_tls_in_thread};
pub use live::{SentFrame, sent_frames};
pub use state::SeenRequest;
pub use tls::{Alpn, FakeTls, TlsConnection};
