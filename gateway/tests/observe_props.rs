//! Property tests: however a body is split into chunks, the observer sees the same events.

#![allow(clippy::unwrap_used)]

use gemini_gateway::observe::Observer;
use gemini_gateway::payload::summarize;
use gemini_gateway::route::Framing;
use proptest::prelude::*;

fn event(i: u32, last: bool, text: &str) -> String {
    let finish = if last {
        r#","finishReason": "STOP""#
    } else {
        ""
    };
    format!(
        r#"{{"candidates": [{{"content": {{"parts": [{{"text": "{text} {i} \"q\" {{}}"}}],"role": "model"}}{finish},"index": 0}}],"usageMetadata": {{"promptTokenCount": 8,"candidatesTokenCount": {},"totalTokenCount": {},"thoughtsTokenCount": 5}},"modelVersion": "gemini-2.5-flash","responseId": "r-{i}"}}"#,
        i * 3 + 1,
        8 + i * 3 + 1 + 5
    )
}

fn sse_body(n: u32, crlf: bool) -> Vec<u8> {
    let sep = if crlf { "\r\n\r\n" } else { "\n\n" };
    (0..n)
        .map(|i| format!("data: {}{sep}", event(i, i + 1 == n, "héllo")))
        .collect::<String>()
        .into_bytes()
}

fn array_body(n: u32) -> Vec<u8> {
    let items: Vec<String> = (0..n).map(|i| event(i, i + 1 == n, "wörld ]}[{")).collect();
    format!("[{}]", items.join(",\r\n")).into_bytes()
}

fn observe(
    framing: Framing,
    body: &[u8],
    cuts: &[usize],
) -> gemini_gateway::payload::ResponseSummary {
    let mut obs = Observer::new(framing, 1 << 20, 0, b"\"usageMetadata\"");
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.sort_unstable();
    let mut prev = 0;
    for p in points {
        obs.feed(&body[prev..p]);
        prev = p;
    }
    obs.feed(&body[prev..]);
    let observed = obs.finish();
    let n = observed.events;
    let s = summarize(&observed);
    assert!(n > 0);
    s
}

proptest! {
    #[test]
    fn sse_usage_is_independent_of_chunking(n in 1u32..12, crlf: bool, cuts in proptest::collection::vec(0usize..10_000, 0..20)) {
        let body = sse_body(n, crlf);
        let whole = observe(Framing::Sse, &body, &[]);
        let split = observe(Framing::Sse, &body, &cuts);
        prop_assert_eq!(&whole, &split);
        let u = split.usage.unwrap();
        prop_assert_eq!(u.candidates_tokens, u64::from((n - 1) * 3 + 1));
        prop_assert_eq!(u.thoughts_tokens, 5);
        prop_assert_eq!(split.finish_reasons, vec!["STOP".to_string()]);
        prop_assert_eq!(split.response_id, Some(format!("r-{}", n - 1)));
    }

    #[test]
    fn json_array_usage_is_independent_of_chunking(n in 1u32..12, cuts in proptest::collection::vec(0usize..10_000, 0..20)) {
        let body = array_body(n);
        let split = observe(Framing::JsonArray, &body, &cuts);
        let u = split.usage.unwrap();
        prop_assert_eq!(u.candidates_tokens, u64::from((n - 1) * 3 + 1));
        prop_assert_eq!(split.response_id, Some(format!("r-{}", n - 1)));
    }
}

#[test]
fn oversized_json_keeps_usage_from_the_tail() {
    let filler = "x".repeat(3 << 20);
    let body = format!(
        r#"{{"candidates":[{{"content":{{"parts":[{{"inlineData":{{"data":"{filler}"}}}}]}},"finishReason":"STOP"}}],"usageMetadata":{{"promptTokenCount":11,"candidatesTokenCount":1290}},"modelVersion":"m"}}"#
    );
    let mut obs = Observer::new(Framing::Json, 1 << 20, 0, b"\"usageMetadata\"");
    for chunk in body.as_bytes().chunks(64 * 1024) {
        obs.feed(chunk);
    }
    let observed = obs.finish();
    assert!(observed.truncated);
    let s = summarize(&observed);
    let u = s.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.candidates_tokens), (11, 1290));
}

#[test]
fn openai_stream_takes_the_last_usage_and_ignores_done() {
    let body = "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n\
                data: {\"id\":\"c1\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":9,\"total_tokens\":13,\"completion_tokens_details\":{\"reasoning_tokens\":2}}}\n\n\
                data: [DONE]\n\n";
    let mut obs = Observer::new(Framing::Sse, 1 << 20, 0, b"\"usage\"");
    obs.feed(body.as_bytes());
    let s = summarize(&obs.finish());
    let u = s.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.candidates_tokens, u.thoughts_tokens),
        (4, 7, 2)
    );
    assert_eq!(s.finish_reasons, vec!["stop".to_string()]);

    // The same answer with the reasoning counted beside the completion (the total says so, as
    // Gemini's own usage counts thoughts): the completion is the answer alone.
    let body = "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":9,\"total_tokens\":15,\"completion_tokens_details\":{\"reasoning_tokens\":2}}}\n\n\
                data: [DONE]\n\n";
    let mut obs = Observer::new(Framing::Sse, 1 << 20, 0, b"\"usage\"");
    obs.feed(body.as_bytes());
    let u = summarize(&obs.finish()).usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.candidates_tokens, u.thoughts_tokens),
        (4, 9, 2)
    );
}

#[test]
fn mid_stream_error_event_is_seen() {
    let body = format!(
        "data: {}\r\n\r\ndata: {{\"error\": {{\"code\": 500, \"message\": \"boom\", \"status\": \"INTERNAL\"}}}}\r\n\r\n",
        event(0, false, "a")
    );
    let mut obs = Observer::new(Framing::Sse, 1 << 20, 0, b"\"usageMetadata\"");
    obs.feed(body.as_bytes());
    let s = summarize(&obs.finish());
    assert_eq!(s.error_status.as_deref(), Some("INTERNAL"));
    assert!(s.usage.is_some(), "usage from before the error is kept");
}
