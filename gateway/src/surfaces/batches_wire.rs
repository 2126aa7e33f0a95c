//! The Batch API's wire types as far as metering needs them (camelCase, as the google-genai
//! SDK's `_BatchJob_from_mldev` reads them): the long-running operation `batches/{id}` with
//! `metadata.{model, state, batchStats, output}` and, once done, `response`; the results as
//! `output.inlinedResponses.inlinedResponses[].response` (a `GenerateContentResponse`, or an
//! embedding with `tokenCount`) or a `responsesFile` whose JSONL lines have the same shape. Also
//! the job ids and results files already metered.

use crate::observe::Observed;
use gateway_plugin_sdk::Usage;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// The operation `GET batches/{id}` (and the create) answers.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct Operation {
    pub name: Option<String>,
    pub done: bool,
    pub metadata: Option<BatchMeta>,
    pub response: Option<Output>,
}

/// `metadata` of the operation (a `GenerateContentBatch` / `EmbedContentBatch`).
#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct BatchMeta {
    pub model: Option<String>,
    /// When the job was created (RFC 3339): the day its work is priced at.
    pub create_time: Option<String>,
    pub state: Option<String>,
    pub batch_stats: Option<BatchStats>,
    pub output: Option<Output>,
}

/// `batchStats` (int64 counts, sent as strings).
#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct BatchStats {
    pub request_count: Option<serde_json::Value>,
}

/// Where the results are.
#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Output {
    pub responses_file: Option<String>,
    pub inlined_responses: Option<Inlined>,
}

/// `inlinedResponses: {inlinedResponses: [...]}`.
#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Inlined {
    pub inlined_responses: Vec<InlinedResponse>,
}

/// One result: its response (kept raw, parsed like a generateContent answer) or an error.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct InlinedResponse {
    pub response: Option<Box<RawValue>>,
    pub error: Option<IgnoredAny>,
}

/// An embedding result's usage.
#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct EmbedResult {
    token_count: Option<u64>,
}

/// The create request body: how many inlined requests, or an input file.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct CreateRequest {
    pub batch: Option<CreateBatch>,
}

/// `batch` of a create request.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct CreateBatch {
    #[serde(rename = "inputConfig", alias = "input_config")]
    pub input_config: Option<InputConfig>,
}

/// `inputConfig`: inlined `requests.requests[]` or a `fileName`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct InputConfig {
    pub requests: Option<Requests>,
    #[serde(rename = "fileName", alias = "file_name")]
    pub file_name: Option<String>,
}

/// `requests: {requests: [...]}`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct Requests {
    pub requests: Vec<IgnoredAny>,
}

/// The sum of the results' usage, with the served model of the first that names one.
#[derive(Debug, Default)]
pub struct Totals {
    pub usage: Option<Usage>,
    /// Each result's usage, in order: every one is a call billed on its own.
    pub parts: Vec<Usage>,
    pub model: Option<String>,
    pub responses: u64,
    pub failed: u64,
}

fn add(sum: &mut Usage, u: &Usage) {
    let pairs = [
        (&mut sum.prompt_tokens, u.prompt_tokens),
        (&mut sum.cached_tokens, u.cached_tokens),
        (&mut sum.candidates_tokens, u.candidates_tokens),
        (&mut sum.thoughts_tokens, u.thoughts_tokens),
        (&mut sum.tool_use_prompt_tokens, u.tool_use_prompt_tokens),
        (&mut sum.total_tokens, u.total_tokens),
        (&mut sum.prompt_audio_tokens, u.prompt_audio_tokens),
        (&mut sum.cached_audio_tokens, u.cached_audio_tokens),
        (&mut sum.output_image_tokens, u.output_image_tokens),
        (&mut sum.output_audio_tokens, u.output_audio_tokens),
        (&mut sum.prompt_text_tokens, u.prompt_text_tokens),
        (&mut sum.prompt_image_tokens, u.prompt_image_tokens),
        (&mut sum.cached_text_tokens, u.cached_text_tokens),
        (&mut sum.cached_image_tokens, u.cached_image_tokens),
        (&mut sum.output_text_tokens, u.output_text_tokens),
        (&mut sum.search_queries, u.search_queries),
    ];
    for (s, v) in pairs {
        *s = s.saturating_add(v);
    }
    sum.grounded |= u.grounded;
}

/// Sums the usage of every inlined response: each is a separately billed call. A response is
/// read exactly as a generateContent answer (usage, modalities, grounding, `modelVersion`).
pub fn sum_inlined(inlined: &Inlined) -> Totals {
    let mut t = Totals::default();
    for r in &inlined.inlined_responses {
        t.responses += 1;
        let Some(raw) = &r.response else {
            t.failed += u64::from(r.error.is_some());
            continue;
        };
        let observed = Observed {
            usage_event: Some(raw.get().as_bytes().to_vec()),
            ..Observed::default()
        };
        let mut s = crate::payload::summarize(&observed);
        crate::payload::apply_grounding(&observed, &mut s);
        let usage = s.usage.or_else(|| {
            let e: EmbedResult = serde_json::from_str(raw.get()).ok()?;
            e.token_count.map(|n| Usage {
                prompt_tokens: n,
                total_tokens: n,
                ..Usage::default()
            })
        });
        if let Some(u) = usage {
            add(t.usage.get_or_insert_with(Usage::default), &u);
            t.parts.push(u);
        }
        if t.model.is_none() {
            t.model = s.response_model;
        }
    }
    t
}

/// Records the job `id` as metered; `false` when it already was (see `once`).
pub fn first_metering(id: &str) -> bool {
    super::once::BATCH_JOBS.first(id)
}

/// Records the results file `name` (`files/{id}`) as metered; `false` when it already was.
pub fn first_file_metering(name: &str) -> bool {
    super::once::BATCH_FILES.first(name)
}

/// Whether the results file `name` was metered on a download.
pub fn file_metered(name: &str) -> bool {
    super::once::BATCH_FILES.contains(name)
}

/// The lines of a results file (JSONL, one `{key?, response | error}` per line): their usage
/// summed as inlined responses are, and the lines that were not JSON (their usage is unknown).
pub fn sum_lines(body: &[u8]) -> (Totals, u64) {
    let mut results = Vec::new();
    let mut bad = 0u64;
    for line in body.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<InlinedResponse>(line) {
            Ok(r) => results.push(r),
            Err(_) => bad += 1,
        }
    }
    let totals = sum_inlined(&Inlined {
        inlined_responses: results,
    });
    (totals, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_file_lines_are_summed_and_bad_lines_counted() {
        let body = br#"{"key":"a","response":{"modelVersion":"gemini-3.8-flash","usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}}}
{"key":"b","error":{"code":400,"message":"no contents"}}
{not json

{"key":"c","response":{"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":1,"thoughtsTokenCount":7}}}
"#;
        let (t, bad) = sum_lines(body);
        assert_eq!((t.responses, t.failed, bad), (3, 1, 1));
        let u = t.usage.expect("usage");
        assert_eq!(
            (u.prompt_tokens, u.candidates_tokens, u.thoughts_tokens),
            (7, 3, 7)
        );
        assert_eq!(t.model.as_deref(), Some("gemini-3.8-flash"));
        // Each answered line is also kept on its own, in order, to be priced as its own call.
        let parts: Vec<_> = t
            .parts
            .iter()
            .map(|p| (p.prompt_tokens, p.candidates_tokens, p.thoughts_tokens))
            .collect();
        assert_eq!(parts, [(3, 2, 0), (4, 1, 7)]);
        let (t, bad) = sum_lines(b"garbage\n");
        assert_eq!((t.responses, t.usage.is_none(), bad), (0, true, 1));
        assert!(t.parts.is_empty());
    }
}
