//! Test helpers: a request and a finished call with sensible defaults, so a plugin's unit test
//! is a few lines. Every field is set; change what the test is about with the builder methods or
//! struct update syntax.
//!
//! ```
//! use gateway_plugin_sdk::{prelude::*, testing};
//!
//! let req = testing::request(r#"{"contents":[{"parts":[{"text":"hello"}]}]}"#).model("gemini-2.5-pro");
//! assert_eq!(req.view().prompt_texts(), ["hello"]);
//! let usage = Usage { prompt_tokens: 1000, ..testing::USAGE };
//! let call = CompletedCall { usage: Some(&usage), ..testing::completed(req.view()) };
//! assert_eq!(call.response_model, Some("gemini-2.5-pro"));
//! ```

use crate::{Attribution, CompletedCall, Metering, RequestInfo, RequestView, Timings, Usage};
use std::sync::OnceLock;
use std::time::SystemTime;

/// An owned request; [`TestRequest::view`] is what a hook receives.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRequest {
    /// Default: a fixed 32-hex-digit id.
    pub trace_id: String,
    /// Default: see [`request`].
    pub info: RequestInfo,
    /// Default: no user, session or properties.
    pub attribution: Attribution,
    /// The body given to [`request`].
    pub body: Vec<u8>,
}

/// A non-streamed `generate_content` call to `gemini-2.5-flash` with `body` (Gemini JSON).
/// `contents`, `parts`, `system_instruction`, `cached_content`, `body_bytes` and `parse_error`
/// are derived from the body; everything else is the default.
pub fn request(body: &str) -> TestRequest {
    let parsed = serde_json::from_str::<serde_json::Value>(body);
    let json = parsed.as_ref().ok();
    let contents = json
        .and_then(|v| v["contents"].as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let has = |a: &str, b: &str| json.is_some_and(|v| v.get(a).or_else(|| v.get(b)).is_some());
    let info = RequestInfo {
        model: Some("gemini-2.5-flash".into()),
        operation: Some(crate::semconv::OP_GENERATE_CONTENT.into()),
        stream: false,
        contents: contents.len() as u32,
        parts: contents
            .iter()
            .filter_map(|c| c["parts"].as_array())
            .map(|p| p.len() as u32)
            .sum(),
        system_instruction: has("systemInstruction", "system_instruction"),
        cached_content: has("cachedContent", "cached_content"),
        generation: Default::default(),
        body_bytes: body.len() as u64,
        parse_error: parsed.as_ref().err().map(|e| e.to_string()),
        service_tier: None,
    };
    TestRequest {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        info,
        attribution: Attribution::default(),
        body: body.as_bytes().to_vec(),
    }
}

impl TestRequest {
    /// The view a hook receives.
    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            trace_id: &self.trace_id,
            info: &self.info,
            attribution: &self.attribution,
            body: &self.body,
        }
    }

    /// Sets the requested model.
    pub fn model(mut self, model: &str) -> Self {
        self.info.model = Some(model.to_owned());
        self
    }

    /// Marks the request as streamed.
    pub fn streamed(mut self) -> Self {
        self.info.stream = true;
        self
    }

    /// Sets `x-gateway-user-id`.
    pub fn user(mut self, id: &str) -> Self {
        self.attribution.user_id = Some(id.to_owned());
        self
    }

    /// Sets `x-gateway-session-id`.
    pub fn session(mut self, id: &str) -> Self {
        self.attribution.session_id = Some(id.to_owned());
        self
    }

    /// Adds an `x-gateway-property-<name>` pair.
    pub fn property(mut self, name: &str, value: &str) -> Self {
        self.attribution
            .properties
            .push((name.to_owned(), value.to_owned()));
        self
    }
}

/// The usage [`completed`] reports: 100 prompt tokens, 40 answer tokens, nothing else.
pub const USAGE: Usage = Usage {
    prompt_tokens: 100,
    cached_tokens: 0,
    candidates_tokens: 40,
    thoughts_tokens: 0,
    tool_use_prompt_tokens: 0,
    total_tokens: 140,
    prompt_audio_tokens: 0,
    cached_audio_tokens: 0,
    output_image_tokens: 0,
    output_audio_tokens: 0,
    prompt_text_tokens: 0,
    prompt_image_tokens: 0,
    cached_text_tokens: 0,
    cached_image_tokens: 0,
    output_text_tokens: 0,
    search_queries: 0,
    grounded: false,
};

/// A successful call of `request`: HTTP 200, status `ok`, [`USAGE`], 250 ms in total (200 ms
/// upstream, a 50 ms first chunk if streamed), finish reason `STOP`, served by the requested
/// model at the requested tier (else `standard`), metered, started now.
pub fn completed(request: RequestView<'_>) -> CompletedCall<'_> {
    static STOP: OnceLock<Vec<String>> = OnceLock::new();
    CompletedCall {
        request,
        http_status: Some(200),
        status: "ok",
        usage: Some(&USAGE),
        usage_parts: &[],
        timings: Timings {
            total_ms: 250.0,
            ttft_ms: request.info.stream.then_some(50.0),
            upstream_ms: Some(200.0),
        },
        finish_reasons: STOP.get_or_init(|| vec!["STOP".to_owned()]),
        response_model: request.info.model.as_deref(),
        service_tier: Some(request.info.service_tier.as_deref().unwrap_or("standard")),
        metering: Metering::Metered,
        started_at: SystemTime::now(),
    }
}
