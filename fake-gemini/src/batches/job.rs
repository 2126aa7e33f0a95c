//! One batch job: its results, computed at create time by the crate's token
//! rules, and the long-running operation that shows it
//! (`{name, metadata: {@type, model, state, batchStats, output?}, done?, response?}`).

use serde_json::{Map, Value, json};

use crate::errors::ApiError;
use crate::native::{GenResponse, embed_values, generate_prompt, response_id};
use crate::routing;
use crate::tier::Tier;
use crate::tokens::{self, embed_tokens};
use crate::util::{as_u64, field};

const TYPE_PREFIX: &str = "type.googleapis.com/google.ai.generativelanguage.v1main.";
/// Values of an embedding unless `outputDimensionality` says otherwise.
const EMBED_DIMS: usize = 8;

/// What a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `:batchGenerateContent`.
    Generate,
    /// `:asyncBatchEmbedContent`.
    Embed,
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JobState {
    /// `seen` of `needed` polls done.
    Pending { seen: u64, needed: u64 },
    /// Done with results.
    Succeeded,
    /// Cancelled before it finished: no results.
    Cancelled,
}

/// Results: inlined, or (input given as a file) a results file.
#[derive(Debug, Clone)]
enum Output {
    Inlined(Vec<Value>),
    File(String),
}

/// A stored job.
#[derive(Debug, Clone)]
pub(super) struct Job {
    name: String,
    model: String,
    kind: Kind,
    display_name: Option<String>,
    count: usize,
    failed: usize,
    output: Output,
    pub(super) state: JobState,
    create_time: String,
    pub(super) update_time: String,
}

fn bad(msg: &str) -> ApiError {
    ApiError::new(400, format!("* {msg}\n"))
}

/// One inlined generate response (or its per-request error), by the generateContent rules.
pub(super) fn generate_one(served: &str, request: &Value, seed: u64) -> Value {
    match generate_prompt(served, request, Tier::Standard) {
        Ok(prompt) => {
            let words = prompt.reply_words();
            let n = words.len() as u64;
            let id = response_id(seed);
            let resp = GenResponse::new(&prompt, words.join(" "), n, true, served, &id);
            let mut v = serde_json::to_value(resp).unwrap_or_default();
            // A batch is neither of the SDK's request tiers: no `serviceTier` here.
            if let Some(u) = v.get_mut("usageMetadata").and_then(Value::as_object_mut) {
                u.remove("serviceTier");
            }
            json!({ "response": v })
        }
        Err(e) => {
            let mut err = serde_json::to_value(e).unwrap_or_default();
            if let Some(o) = err.as_object_mut() {
                o.remove("status");
            }
            json!({ "error": err })
        }
    }
}

/// One inlined embed response: the embedding and its `tokenCount`.
pub(super) fn embed_one(request: &Value) -> Value {
    let content = request.get("content").cloned().unwrap_or(Value::Null);
    let dims = field(request, "outputDimensionality", "output_dimensionality")
        .and_then(as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .unwrap_or(EMBED_DIMS);
    let text = tokens::content_text(&content);
    json!({ "response": {
        "embedding": { "values": embed_values(&text, dims) },
        "tokenCount": embed_tokens([&content]),
    }})
}

impl Job {
    /// A pending job from a create body
    /// `{"batch": {"displayName", "inputConfig": {"requests": {"requests": [{request, metadata}]}
    /// | "fileName"}}}` (snake_case accepted too).
    pub(super) fn new(
        id: &str,
        model: &str,
        kind: Kind,
        body: &Value,
        needed: u64,
        now: &str,
    ) -> Result<Job, ApiError> {
        let batch = body
            .get("batch")
            .ok_or_else(|| bad("BatchGenerateContentRequest.batch: batch is not specified"))?;
        let input = field(batch, "inputConfig", "input_config")
            .ok_or_else(|| bad("Batch.input_config: input_config is not specified"))?;
        let served = routing::served_model(model).to_string();
        let file = field(input, "fileName", "file_name").and_then(Value::as_str);
        let requests = input
            .get("requests")
            .and_then(|r| r.get("requests"))
            .and_then(Value::as_array);
        let (output, count, failed) = match (file, requests) {
            (Some(input), _) => {
                let (lines, n, failed) = super::file_results::run(&served, kind, input);
                let name = format!("files/batch-{id}");
                crate::file_contents::put(&name, lines);
                (Output::File(name), n, failed)
            }
            (None, Some(reqs)) if !reqs.is_empty() => {
                let mut out = Vec::with_capacity(reqs.len());
                for (i, item) in reqs.iter().enumerate() {
                    let request = item.get("request").unwrap_or(item);
                    let mut one = match kind {
                        Kind::Generate => generate_one(&served, request, i as u64),
                        Kind::Embed => embed_one(request),
                    };
                    if let Some(m) = item.get("metadata") {
                        one["metadata"] = m.clone();
                    }
                    out.push(one);
                }
                let failed = out.iter().filter(|r| r.get("error").is_some()).count();
                let n = out.len();
                (Output::Inlined(out), n, failed)
            }
            _ => return Err(bad("InputConfig.requests: requests is not specified")),
        };
        Ok(Job {
            name: format!("batches/{id}"),
            model: format!("models/{served}"),
            kind,
            display_name: field(batch, "displayName", "display_name")
                .and_then(Value::as_str)
                .map(str::to_owned),
            count,
            failed,
            output,
            state: JobState::Pending { seen: 0, needed },
            create_time: now.to_owned(),
            update_time: now.to_owned(),
        })
    }

    /// The operation as `GET` (and the create) answer it.
    pub(super) fn operation(&self) -> Value {
        let batch_type = match self.kind {
            Kind::Generate => "GenerateContentBatch",
            Kind::Embed => "EmbedContentBatch",
        };
        let (state, done) = match &self.state {
            JobState::Pending { seen: 0, .. } => ("BATCH_STATE_PENDING", false),
            JobState::Pending { .. } => ("BATCH_STATE_RUNNING", false),
            JobState::Succeeded => ("BATCH_STATE_SUCCEEDED", true),
            JobState::Cancelled => ("BATCH_STATE_CANCELLED", true),
        };
        let finished = if self.state == JobState::Succeeded {
            self.count
        } else {
            0
        };
        let mut meta = Map::new();
        meta.insert("@type".into(), format!("{TYPE_PREFIX}{batch_type}").into());
        meta.insert("model".into(), self.model.clone().into());
        if let Some(d) = &self.display_name {
            meta.insert("displayName".into(), d.clone().into());
        }
        meta.insert("createTime".into(), self.create_time.clone().into());
        meta.insert("updateTime".into(), self.update_time.clone().into());
        meta.insert("state".into(), state.into());
        meta.insert("name".into(), self.name.clone().into());
        meta.insert(
            "batchStats".into(),
            json!({
                "requestCount": self.count.to_string(),
                "successfulRequestCount": (finished - finished.min(self.failed)).to_string(),
                "failedRequestCount": finished.min(self.failed).to_string(),
                "pendingRequestCount": (self.count - finished).to_string(),
            }),
        );
        let mut op = json!({ "name": self.name });
        if done {
            meta.insert("endTime".into(), self.update_time.clone().into());
            op["done"] = true.into();
        }
        if self.state == JobState::Succeeded {
            let output = match &self.output {
                Output::Inlined(v) => json!({ "inlinedResponses": { "inlinedResponses": v } }),
                Output::File(f) => json!({ "responsesFile": f }),
            };
            meta.insert("output".into(), output.clone());
            let mut response = json!({ "@type": format!("{TYPE_PREFIX}{batch_type}Output") });
            if let (Some(r), Some(o)) = (response.as_object_mut(), output.as_object()) {
                r.extend(o.clone());
            }
            op["response"] = response;
        }
        op["metadata"] = Value::Object(meta);
        op
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: usize) -> Value {
        let reqs: Vec<Value> = (0..n)
            .map(|i| {
                json!({"request": {"contents": [{"parts": [{"text": format!("q {i} two three")}]}]},
                            "metadata": {"key": format!("k{i}")}})
            })
            .collect();
        json!({"batch": {"displayName": "d", "inputConfig": {"requests": {"requests": reqs}}}})
    }

    #[test]
    fn pending_then_done_with_one_response_per_request() {
        let mut job =
            Job::new("a", "gemini-3.8-flash", Kind::Generate, &body(2), 1, "t").expect("job");
        let op = job.operation();
        assert_eq!(op["metadata"]["state"], "BATCH_STATE_PENDING");
        assert!(op.get("done").is_none() && op["metadata"].get("output").is_none());
        job.state = JobState::Succeeded;
        let op = job.operation();
        let rs = &op["metadata"]["output"]["inlinedResponses"]["inlinedResponses"];
        assert_eq!(rs.as_array().map(Vec::len), Some(2));
        assert_eq!(rs[1]["metadata"]["key"], "k1");
        assert_eq!(rs[0]["response"]["usageMetadata"]["promptTokenCount"], 4);
        assert_eq!(
            op["response"]["inlinedResponses"],
            op["metadata"]["output"]["inlinedResponses"]
        );
        assert!(Job::new("b", "m", Kind::Generate, &json!({}), 1, "t").is_err());
    }
}
