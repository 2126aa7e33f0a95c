//! Streamed interactions (`stream: true`): `data: <json>\n\n` events
//! `interaction.created`, `interaction.status_update`, then per step
//! `step.start`, one or more `step.delta` (with cumulative
//! `metadata.total_usage`) and `step.stop` (`step_usage` of the step, `usage`
//! cumulative), then `interaction.completed` and `data: [DONE]`. Every event
//! has an `event_id` (its position, from 1) to resume the stream from.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use super::create::Created;
use super::usage::Counts;
use super::{Content, Interaction, SearchArgs, SearchResult, Step, Usage};
use crate::extras::{Media, TINY_AUDIO, TINY_PNG};
use crate::tokens;

/// `step.delta` payloads, tagged by `type`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta {
    Text {
        text: String,
    },
    Image {
        data: &'static str,
        mime_type: &'static str,
    },
    Audio {
        data: &'static str,
        mime_type: &'static str,
    },
    ThoughtSignature {
        signature: String,
    },
    GoogleSearchCall {
        arguments: SearchArgs,
    },
    GoogleSearchResult {
        result: Vec<SearchResult>,
    },
    #[serde(rename = "arguments_delta")]
    Arguments {
        arguments: String,
    },
}

#[derive(Debug, Serialize)]
struct Metadata {
    total_usage: Usage,
}

#[derive(Debug, Serialize)]
#[serde(tag = "event_type")]
enum Event<'a> {
    #[serde(rename = "interaction.created")]
    Created { interaction: &'a Interaction },
    #[serde(rename = "interaction.status_update")]
    StatusUpdate {
        interaction_id: &'a str,
        status: &'static str,
    },
    #[serde(rename = "step.start")]
    StepStart { index: usize, step: Step },
    #[serde(rename = "step.delta")]
    StepDelta {
        index: usize,
        delta: Delta,
        metadata: Metadata,
    },
    #[serde(rename = "step.stop")]
    StepStop {
        index: usize,
        step_usage: Usage,
        usage: Usage,
    },
    #[serde(rename = "interaction.completed")]
    Completed { interaction: &'a Interaction },
}

fn frame(ev: &Event<'_>) -> Bytes {
    let line = serde_json::to_string(ev).unwrap_or_else(|_| "{}".to_string());
    Bytes::from(format!("data: {line}\n\n"))
}

/// The text deltas of `text` in `chunks` pieces, with their word counts.
fn text_deltas(text: &str, chunks: usize) -> Vec<(Delta, Counts)> {
    let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    let mut before = 0;
    tokens::pieces(&words, chunks)
        .into_iter()
        .map(|(piece, cumulative)| {
            let text_out = cumulative - before;
            before = cumulative;
            (
                Delta::Text { text: piece },
                Counts {
                    text_out,
                    ..Counts::default()
                },
            )
        })
        .collect()
}

/// The media delta of a model output, carrying its media counts.
fn media_delta(counts: Counts) -> (Delta, Counts) {
    let delta = match counts.media {
        Some(Media::Audio) => Delta::Audio {
            data: TINY_AUDIO,
            mime_type: "audio/wav",
        },
        _ => Delta::Image {
            data: TINY_PNG,
            mime_type: "image/png",
        },
    };
    let media = Counts {
        media_out: counts.media_out,
        media: counts.media,
        ..Counts::default()
    };
    (delta, media)
}

/// A step as `step.start` shows it, and its deltas with their counts (which
/// add up to `counts`, the step's own).
fn split(step: &Step, counts: Counts, chunks: usize) -> (Step, Vec<(Delta, Counts)>) {
    match step {
        Step::Thought { signature } => {
            let signature = signature.clone().unwrap_or_default();
            let delta = Delta::ThoughtSignature { signature };
            (Step::Thought { signature: None }, vec![(delta, counts)])
        }
        Step::ModelOutput { content } => {
            let mut deltas = Vec::new();
            for c in content {
                match c {
                    Content::Text { text } => deltas.extend(text_deltas(text, chunks)),
                    Content::Image { .. } | Content::Audio { .. } => {
                        deltas.push(media_delta(counts));
                    }
                }
            }
            let shown = Step::ModelOutput {
                content: Vec::new(),
            };
            (shown, deltas)
        }
        Step::GoogleSearchCall {
            id,
            arguments,
            search_type,
        } => {
            let shown = Step::GoogleSearchCall {
                id: id.clone(),
                arguments: SearchArgs {
                    queries: Vec::new(),
                },
                search_type: *search_type,
            };
            let delta = Delta::GoogleSearchCall {
                arguments: arguments.clone(),
            };
            (shown, vec![(delta, counts)])
        }
        Step::GoogleSearchResult { call_id, result } => {
            let shown = Step::GoogleSearchResult {
                call_id: call_id.clone(),
                result: Vec::new(),
            };
            let delta = Delta::GoogleSearchResult {
                result: result.clone(),
            };
            (shown, vec![(delta, counts)])
        }
        Step::FunctionCall {
            id,
            name,
            arguments,
        } => {
            let shown = Step::FunctionCall {
                id: id.clone(),
                name: name.clone(),
                arguments: Value::Object(Map::new()),
            };
            let delta = Delta::Arguments {
                arguments: arguments.to_string(),
            };
            (shown, vec![(delta, counts)])
        }
    }
}

/// Every frame of the stream of `created`, `[DONE]` last; the model output
/// text is split into `chunks` deltas.
pub(crate) fn frames(created: &Created, chunks: usize) -> Vec<Bytes> {
    let done = &created.interaction;
    let start = done.in_progress();
    let mut out = vec![
        frame(&Event::Created {
            interaction: &start,
        }),
        frame(&Event::StatusUpdate {
            interaction_id: &done.id,
            status: "in_progress",
        }),
    ];
    let mut cumulative = created.base;
    for (index, (step, counts)) in done.steps.iter().zip(&created.step_counts).enumerate() {
        let (shown, deltas) = split(step, *counts, chunks);
        out.push(frame(&Event::StepStart { index, step: shown }));
        for (delta, part) in deltas {
            cumulative = cumulative.add(part);
            let metadata = Metadata {
                total_usage: cumulative.usage(),
            };
            out.push(frame(&Event::StepDelta {
                index,
                delta,
                metadata,
            }));
        }
        out.push(frame(&Event::StepStop {
            index,
            step_usage: counts.step_usage(),
            usage: cumulative.usage(),
        }));
    }
    out.push(frame(&Event::Completed { interaction: done }));
    // Each event carries its position as `event_id`, from 1: a client resumes a stream with
    // the last one it read (`GET …?stream=true&last_event_id=N` skips the first N).
    let mut out: Vec<Bytes> = out
        .into_iter()
        .enumerate()
        .map(|(i, f)| with_event_id(&f, i + 1))
        .collect();
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

/// Events kept before the `error` event of `x-fake-fault: error-mid-stream`: the creation,
/// the status update, the first step's start and its first delta (with usage).
const EVENTS_BEFORE_ERROR: usize = 4;

/// `frames` (an interaction stream) cut by `x-fake-fault: error-mid-stream`: its first events,
/// then an `error` event (the SDK's `ErrorEvent`: `error.code` a URI, `error.message`) and
/// `data: [DONE]`.
pub(crate) fn with_error_mid_stream(frames: Vec<Bytes>) -> Vec<Bytes> {
    let mut out: Vec<Bytes> = frames.into_iter().take(EVENTS_BEFORE_ERROR).collect();
    let error = serde_json::json!({
        "event_type": "error",
        "error": {
            "code": "https://ai.google.dev/gemini-api/docs/troubleshooting#internal",
            "message": "An internal error has occurred. Please retry.",
        },
    });
    let line = format!("data: {error}\n\n");
    out.push(with_event_id(line.as_bytes(), out.len() + 1));
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

/// `data: {…}\n\n` with `"event_id":"{n}"` added as the object's last member.
fn with_event_id(frame: &[u8], n: usize) -> Bytes {
    let text = String::from_utf8_lossy(frame);
    match text.trim_end().strip_suffix('}') {
        Some(head) => Bytes::from(format!("{head},\"event_id\":\"{n}\"}}\n\n")),
        None => Bytes::copy_from_slice(frame),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tier::Tier;
    use serde_json::json;

    fn events(req: Value, chunks: usize) -> Vec<Value> {
        let created = super::super::create::create(&req, Tier::Standard, 3, "t").expect("created");
        let frames = frames(&created, chunks);
        assert_eq!(
            frames.last().map(|f| &f[..]),
            Some(&b"data: [DONE]\n\n"[..])
        );
        frames[..frames.len() - 1]
            .iter()
            .map(|f| {
                let text = std::str::from_utf8(f).expect("utf8");
                let data = text
                    .strip_prefix("data: ")
                    .and_then(|t| t.strip_suffix("\n\n"));
                serde_json::from_str(data.expect("framed")).expect("json")
            })
            .collect()
    }

    #[test]
    fn event_order_and_cumulative_usage() {
        let req = json!({"model": "gemini-3.8-flash", "input": "a b c",
            "response_modalities": ["image"]});
        let evs = events(req, 3);
        let kinds: Vec<&str> = evs
            .iter()
            .filter_map(|e| e["event_type"].as_str())
            .collect();
        let mut want = vec!["interaction.created", "interaction.status_update"];
        want.extend(["step.start", "step.delta", "step.stop", "step.start"]);
        want.extend([
            "step.delta",
            "step.delta",
            "step.delta",
            "step.delta",
            "step.stop",
        ]);
        want.push("interaction.completed");
        assert_eq!(kinds, want);
        assert_eq!(evs[0]["interaction"]["status"], "in_progress");
        assert!(evs[0]["interaction"].get("usage").is_none());
        let totals: Vec<u64> = evs
            .iter()
            .filter_map(|e| e["metadata"]["total_usage"]["total_tokens"].as_u64())
            .collect();
        assert!(
            totals.windows(2).all(|w| w[0] < w[1]),
            "cumulative: {totals:?}"
        );
        let last = evs.last().expect("completed");
        assert_eq!(
            last["interaction"]["usage"]["total_tokens"],
            totals[totals.len() - 1]
        );
        assert_eq!(
            evs[4]["step_usage"],
            json!({"total_thought_tokens": 7, "total_tokens": 7})
        );
        assert_eq!(evs[9]["delta"]["type"], "image");
        assert_eq!(evs[10]["usage"], last["interaction"]["usage"]);
    }

    #[test]
    fn function_call_streams_its_arguments() {
        let req = json!({"model": "gemini-2.5-flash-lite", "input": "x",
            "tools": [{"type": "function", "name": "f",
                "parameters": {"properties": {"n": {"type": "integer"}}}}]});
        let evs = events(req, 2);
        assert_eq!(
            evs[2]["step"],
            json!({"type": "function_call", "id": evs[2]["step"]["id"],
            "name": "f", "arguments": {}})
        );
        assert_eq!(
            evs[3]["delta"],
            json!({"type": "arguments_delta", "arguments": "{\"n\":1}"})
        );
        assert_eq!(
            evs.last().map(|e| e["interaction"]["status"].clone()),
            Some(json!("requires_action"))
        );
    }
}
