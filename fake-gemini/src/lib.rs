//! A faithful fake of the Gemini REST API (`generativelanguage.googleapis.com`)
//! for integration tests, demos and benchmarks.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let fake = fake_gemini::FakeGemini::start(fake_gemini::FakeConfig::default()).await?;
//! let url = format!("{}/v1beta/models/gemini-2.5-flash:generateContent", fake.base_url());
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
//! `:embedContent`, `:batchEmbedContents`, `GET models[/X]`; OpenAI compat
//! `/{ver}/openai/chat/completions` (plain and `stream`), `/embeddings`,
//! `GET /models[/id]`; resumable uploads `/upload/{ver}/files` and
//! `GET|DELETE /{ver}/files[/id]`. Anything else is a Gemini-shaped 404.
//!
//! A key is required (`x-goog-api-key`, `?key=` or `Authorization: Bearer`),
//! except on upload-chunk URLs: none → 403 PERMISSION_DENIED, `bad-key` → 400
//! INVALID_ARGUMENT with `ErrorInfo.reason = API_KEY_INVALID`. Malformed JSON →
//! 400 INVALID_ARGUMENT. Errors on the OpenAI-compat and JSON-array stream
//! paths are wrapped in an array: `[{"error":{…}}]`.
//!
//! # Reply and token rules (deterministic)
//! - Reply text: `Echo: <S> (deterministic fake-gemini reply)` where `S` is the
//!   first 40 characters of the last user turn's text (text parts joined with
//!   a space, whitespace collapsed). A stream of `n` events splits the reply's
//!   words into `n` pieces (padded with the word `more` when `n` exceeds the
//!   number of words); the pieces concatenate to the full text.
//! - `promptTokenCount` = whitespace-separated words over every text part of
//!   `contents` plus `systemInstruction` / `system_instruction`, minimum 1.
//! - `thoughtsTokenCount` = 7 when the model name contains `2.5` or `3`, unless
//!   `generationConfig.thinkingConfig.thinkingBudget` is 0 (either spelling).
//! - `cachedContentTokenCount` = `promptTokenCount / 2` when the request has
//!   `cachedContent` / `cached_content`.
//! - `candidatesTokenCount` = words of the reply (cumulative in streams).
//! - `totalTokenCount` = prompt + candidates + thoughts; `promptTokensDetails`
//!   = `[{"modality":"TEXT","tokenCount":prompt}]`.
//! - countTokens: `totalTokens` = the prompt rule above (`contents` or
//!   `generateContentRequest`).
//! - OpenAI compat: `prompt_tokens` = words of every message content (min 1),
//!   `completion_tokens` = reply words, `total_tokens` = prompt + completion +
//!   7 thoughts for thinking models (unless `reasoning_effort: "none"`), also
//!   shown as `completion_tokens_details.reasoning_tokens`.
//! - Embeddings: 8 deterministic values in [-1, 1] per input
//!   (`outputDimensionality` / `dimensions` honoured).
//!
//! # Control knobs (request headers)
//! `x-fake-latency-ms`, `x-fake-chunk-gap-ms`, `x-fake-chunks` override
//! [`FakeConfig`]; `x-fake-status: <4xx|5xx>` answers a canned Gemini error
//! (429 carries QuotaFailure, Help and RetryInfo details);
//! `x-fake-fault: reset-mid-stream` sends two stream events then aborts the
//! connection; `x-fake-fault: hang` never answers; `x-fake-hold: <token>`
//! pauses a stream after its first event until [`FakeGemini::release`] or
//! `POST /__fake/release/<token>` (204). `GET /__fake/requests` lists the
//! recorded requests as JSON, `DELETE /__fake/requests` clears them.

mod config;
mod errors;
mod files;
mod handle;
mod models;
mod native;
mod openai;
mod route;
mod router;
mod state;
mod stream;
mod tokens;
mod upload;
mod util;

pub use config::FakeConfig;
pub use handle::{FakeGemini, spawn_in_thread};
pub use state::SeenRequest;
