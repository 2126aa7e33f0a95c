//! The Live session state machine on hand-made frames: turns, usage, tools, endings.

#![allow(clippy::unwrap_used)]

use super::*;
use std::time::Duration;

fn frame(masked: bool, binary: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | if binary { 2 } else { 1 }];
    let m = if masked { 0x80 } else { 0 };
    if payload.len() < 126 {
        f.push(m | payload.len() as u8);
    } else {
        f.push(m | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    if masked {
        let key = [9, 8, 7, 6];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

struct Script {
    s: LiveSession,
    t0: Instant,
    ms: u64,
    done: Vec<Done>,
}

impl Script {
    fn new() -> Self {
        Self {
            s: LiveSession::new(1 << 20, None),
            t0: Instant::now(),
            ms: 0,
            done: Vec::new(),
        }
    }
    fn at(&mut self, ms: u64) -> Instant {
        self.ms = ms;
        self.t0 + Duration::from_millis(ms)
    }
    fn client(&mut self, ms: u64, json: &str) {
        let now = self.at(ms);
        self.s.feed(
            Side::Client,
            &frame(true, false, json.as_bytes()),
            now,
            &mut self.done,
        );
    }
    fn server(&mut self, ms: u64, json: &str) {
        let now = self.at(ms);
        self.s.feed(
            Side::Server,
            &frame(false, true, json.as_bytes()),
            now,
            &mut self.done,
        );
    }
    fn turns(&self) -> Vec<&Turn> {
        self.done
            .iter()
            .filter_map(|d| match d {
                Done::Turn(t) => Some(t),
                Done::Tool(_) => None,
            })
            .collect()
    }
}

const USAGE_1: &str = r#"{"serverContent":{"turnComplete":true},"usageMetadata":{"promptTokenCount":10,"responseTokenCount":4,"totalTokenCount":14,"promptTokensDetails":[{"modality":"TEXT","tokenCount":10}]}}"#;

#[test]
fn each_turn_is_complete_with_its_own_usage_and_time_to_first_response() {
    let mut sc = Script::new();
    sc.client(0, r#"{"setup":{"model":"models/gemini-live-2.5-flash"}}"#);
    sc.server(5, r#"{"setupComplete":{"sessionId":"s-1"}}"#);
    sc.client(10, r#"{"clientContent":{"turns":[{"role":"user","parts":[{"text":"hi"}]}],"turnComplete":true}}"#);
    sc.server(
        40,
        r#"{"serverContent":{"modelTurn":{"parts":[{"text":"he"}]}}}"#,
    );
    sc.server(
        50,
        r#"{"serverContent":{"modelTurn":{"parts":[{"text":"llo"}]}}}"#,
    );
    assert!(
        sc.done.is_empty(),
        "nothing is complete before turnComplete"
    );
    sc.server(60, USAGE_1);
    sc.client(100, r#"{"realtimeInput":{"text":"again"}}"#);
    sc.server(
        130,
        r#"{"serverContent":{"modelTurn":{"parts":[{"text":"x"}]}}}"#,
    );
    sc.server(140, r#"{"serverContent":{"turnComplete":true}}"#);
    assert_eq!(sc.turns().len(), 1, "the second turn waits for its usage");
    sc.server(141, r#"{"usageMetadata":{"promptTokenCount":20,"responseTokenCount":2,"thoughtsTokenCount":3,"serviceTier":"SERVICE_TIER_STANDARD"}}"#);
    let turns = sc.turns();
    assert_eq!(turns.len(), 2);
    assert_eq!(sc.s.model.as_deref(), Some("gemini-live-2.5-flash"));
    assert_eq!(sc.s.session_id.as_deref(), Some("s-1"));
    let (a, b) = (turns[0], turns[1]);
    assert_eq!((a.index, b.index), (1, 2));
    assert_eq!(a.usage.unwrap().prompt_tokens, 10);
    assert_eq!(a.usage.unwrap().candidates_tokens, 4);
    assert_eq!(a.usage.unwrap().prompt_text_tokens, 10);
    assert_eq!(b.usage.unwrap().thoughts_tokens, 3);
    assert_eq!(b.tier.as_deref(), Some("standard"));
    assert_eq!(
        a.first_response.unwrap() - a.last_input,
        Duration::from_millis(30)
    );
    assert_eq!(b.end.unwrap().1, TurnEnd::TurnComplete);
}

#[test]
fn a_tool_call_ends_the_turn_and_its_response_ends_the_tool_span() {
    let mut sc = Script::new();
    sc.client(0, r#"{"setup":{"model":"models/m","tools":[{"functionDeclarations":[{"name":"get_weather"}]}]}}"#);
    sc.client(10, r#"{"clientContent":{"turnComplete":true}}"#);
    sc.server(20, r#"{"toolCall":{"functionCalls":[{"id":"c1","name":"get_weather","args":{}}]},"usageMetadata":{"promptTokenCount":5,"responseTokenCount":1}}"#);
    assert!(matches!(&sc.done[..], [Done::Turn(t)] if t.end.unwrap().1 == TurnEnd::ToolCall));
    sc.client(70, r#"{"toolResponse":{"functionResponses":[{"id":"c1","name":"get_weather","response":{}}]}}"#);
    let tool = sc
        .done
        .iter()
        .find_map(|d| match d {
            Done::Tool(t) => Some(t.clone()),
            Done::Turn(_) => None,
        })
        .unwrap();
    assert_eq!(tool.name, "get_weather");
    assert_eq!(tool.end.unwrap() - tool.start, Duration::from_millis(50));
    sc.server(90, USAGE_1);
    assert_eq!(
        sc.turns().len(),
        2,
        "the tool response opened the next turn"
    );
}

#[test]
fn a_cut_session_closes_what_is_open_and_counts_what_it_could_not_read() {
    let mut sc = Script::new();
    sc.client(0, r#"{"clientContent":{"turnComplete":true}}"#);
    sc.server(
        5,
        r#"{"toolCall":{"functionCalls":[{"id":"c9","name":"f"}]}}"#,
    );
    sc.client(6, r#"{"toolResponse":{"functionResponses":[{"id":"c9"}]}}"#);
    sc.server(
        7,
        r#"{"serverContent":{"modelTurn":{"parts":[{"text":"a"}]}}}"#,
    );
    sc.server(8, "not json {");
    sc.server(9, r#"{"goAway":{"timeLeft":"1s"}}"#);
    let now = sc.at(10);
    let rest = sc.s.close_all(now);
    let turns: Vec<&Turn> = sc
        .done
        .iter()
        .chain(rest.iter())
        .filter_map(|d| match d {
            Done::Turn(t) => Some(t),
            Done::Tool(_) => None,
        })
        .collect();
    assert_eq!(
        turns.len(),
        2,
        "the tool-call turn and the cut one: {turns:?}"
    );
    assert!(turns.iter().all(|t| t.usage.is_none()));
    assert_eq!(turns[1].end.unwrap().1, TurnEnd::SessionEnd);
    assert_eq!(sc.s.unreadable, 1);
    assert!(
        sc.s.unreadable_reason
            .as_deref()
            .unwrap()
            .contains("not a JSON object")
    );
    assert_eq!(sc.s.go_away.as_deref(), Some("1s"));
}

/// The same deflated session read twice: where the handshake agreed to permessage-deflate the
/// turn is metered; where it did not, every message is counted unreadable, with the reason.
#[test]
fn deflated_messages_are_read_when_the_handshake_agreed() {
    use crate::observe::permessage_deflate::{Agreement, testing::Sender};
    let script = [
        (
            Side::Client,
            r#"{"setup":{"model":"models/gemini-live-2.5-flash"}}"#,
        ),
        (Side::Server, r#"{"setupComplete":{"sessionId":"s-z"}}"#),
        (
            Side::Client,
            r#"{"clientContent":{"turns":[{"role":"user","parts":[{"text":"hi"}]}],"turnComplete":true}}"#,
        ),
        (
            Side::Server,
            r#"{"serverContent":{"modelTurn":{"parts":[{"text":"hello"}]}}}"#,
        ),
        (Side::Server, USAGE_1),
    ];
    let agreed = Agreement::from_header("permessage-deflate; client_no_context_takeover");
    for deflate in [agreed, None] {
        let (mut client, mut server) = (Sender::new(true), Sender::new(false));
        let mut s = LiveSession::new(1 << 20, deflate);
        let mut done = Vec::new();
        for (side, json) in script {
            let sender = if side == Side::Client {
                &mut client
            } else {
                &mut server
            };
            let mut f = frame(side == Side::Client, true, &sender.send(json.as_bytes()));
            f[0] |= 0x40;
            s.feed(side, &f, Instant::now(), &mut done);
        }
        let usage: Vec<_> = done
            .iter()
            .filter_map(|d| match d {
                Done::Turn(t) => t.usage.map(|u| (u.prompt_tokens, u.candidates_tokens)),
                Done::Tool(_) => None,
            })
            .collect();
        if deflate.is_some() {
            assert_eq!((s.unreadable, usage), (0, vec![(10, 4)]));
            assert_eq!(s.session_id.as_deref(), Some("s-z"));
        } else {
            assert_eq!((s.unreadable, usage), (5, vec![]));
            assert!(
                s.unreadable_reason
                    .as_deref()
                    .unwrap()
                    .contains("without the handshake")
            );
        }
    }
}
