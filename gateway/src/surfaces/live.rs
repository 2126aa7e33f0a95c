//! The Live API: `GET /ws/google.ai.generativelanguage.{v1beta,v1alpha}.GenerativeService.
//! BidiGenerateContent` (and `…Constrained`, ephemeral tokens), a WebSocket session.
//!
//! The upgrade passes through untouched; once the upstream answers `101`, both directions'
//! bytes are fed (as forwarded, never delayed or altered) to one [`FrameDecoder`] each, and the
//! messages drive a [`LiveSession`]: `setup` names the model; a model turn opens with the
//! client's input (`clientContent`, `realtimeInput`, `toolResponse`) and ends with
//! `turnComplete`, `interrupted` or a `toolCall`; each server `usageMetadata` is its turn's
//! usage (Gemini re-bills the whole context every turn, so the session's bill is the **sum**).
//! Each turn is emitted as an LLM span (with its own cost) as soon as it is complete and
//! metered, so a running session shows up turn by turn; tool calls become `execute_tool`
//! spans ended by the matching `toolResponse`. When the session ends, however it ends, the
//! root span gets the totals and how it ended (`live_spans`).

use super::live_wire::{ClientMessage, ServerMessage};
use super::{PathParts, Surface};
use crate::observe::permessage_deflate::{Agreement, Inflater};
use crate::observe::websocket::{Event, FrameDecoder};
use crate::route::Route;
use gateway_plugin_sdk::semconv as sc;
use gateway_plugin_sdk::{Metering, Usage};
use std::time::Instant;

/// The Live API surface.
pub struct Live;

/// Name of the surface, stored as `gateway.surface`.
pub const NAME: &str = "live";

const PREFIX: &str = "/ws/google.ai.generativelanguage.";
const METHODS: [&str; 2] = [
    "GenerativeService.BidiGenerateContent",
    "GenerativeService.BidiGenerateContentConstrained",
];

impl Surface for Live {
    fn name(&self) -> &'static str {
        NAME
    }

    fn classify(&self, parts: &PathParts<'_>) -> Option<Route> {
        let rest = parts.path.strip_prefix(PREFIX)?;
        let (version, method) = rest.split_once('.')?;
        if !version.starts_with('v') || !METHODS.contains(&method) {
            return None;
        }
        let mut route = super::route(
            &Live,
            Metering::Metered,
            format!("/ws/google.ai.generativelanguage.{{version}}.{method}"),
        );
        route.operation = Some(sc::OP_GENERATE_CONTENT);
        route.stream = true;
        Some(route)
    }
}

/// How a model turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEnd {
    /// `serverContent.turnComplete`.
    TurnComplete,
    /// A `toolCall`: the model waits for the client's `toolResponse`.
    ToolCall,
    /// `serverContent.interrupted`.
    Interrupted,
    /// The session ended first.
    SessionEnd,
}

impl TurnEnd {
    /// As stored in `gateway.live.turn.end`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TurnComplete => "turn_complete",
            Self::ToolCall => "tool_call",
            Self::Interrupted => "interrupted",
            Self::SessionEnd => "session_end",
        }
    }
}

/// One model turn.
#[derive(Debug, Clone)]
pub struct Turn {
    /// 1-based, in the session.
    pub index: u32,
    /// The first client input of the turn (or the first answer, if the model spoke first).
    pub start: Instant,
    /// The latest client input before the first answer.
    pub last_input: Instant,
    /// The first answer (model content or tool call).
    pub first_response: Option<Instant>,
    /// When it ended, and how.
    pub end: Option<(Instant, TurnEnd)>,
    /// Its usage (the last `usageMetadata` of the turn).
    pub usage: Option<Usage>,
    /// `usageMetadata.serviceTier`, lowercase.
    pub tier: Option<String>,
}

/// A tool call waiting for, or ended by, the client's response.
#[derive(Debug, Clone)]
pub struct ToolSpan {
    /// `functionCalls[].id`.
    pub id: Option<String>,
    /// `functionCalls[].name`.
    pub name: String,
    /// When the `toolCall` arrived.
    pub start: Instant,
    /// When it ended; `None` while open.
    pub end: Option<Instant>,
    /// Why it ended without a response, if it did.
    pub error: Option<&'static str>,
}

/// Something complete, to emit as a span now.
#[derive(Debug, Clone)]
pub enum Done {
    /// A model turn.
    Turn(Turn),
    /// A tool call.
    Tool(ToolSpan),
}

/// Which side spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client (downstream).
    Client,
    /// The upstream.
    Server,
}

/// Everything observed of one Live session.
#[derive(Debug)]
pub struct LiveSession {
    client: FrameDecoder,
    server: FrameDecoder,
    /// `setup.model`, without `models/`.
    pub model: Option<String>,
    /// `setupComplete.sessionId`.
    pub session_id: Option<String>,
    open: Option<Turn>,
    pending: Option<Turn>,
    tools: Vec<ToolSpan>,
    next_index: u32,
    /// Sum of the metered turns' usage.
    pub total: Usage,
    /// Turns metered so far.
    pub metered_turns: u32,
    /// Turns that ended without usage.
    pub unmetered_turns: u32,
    /// Sum of the priced turns' cost.
    pub cost_usd: Option<f64>,
    /// A metered turn could not be priced.
    pub unpriced: bool,
    /// Time to first response of the first metered turn.
    pub first_ttfr_ms: Option<f64>,
    /// The served tier of the latest turn that said.
    pub tier: Option<String>,
    /// Messages not read, and why the first one was not.
    pub unreadable: u64,
    /// Why the first unreadable message could not be read.
    pub unreadable_reason: Option<String>,
    /// `goAway.timeLeft` (empty when the upstream gave none).
    pub go_away: Option<String>,
    /// The first Close frame: who sent it and its code.
    pub close: Option<(Side, Option<u16>)>,
    /// The side whose byte stream ended first, and when.
    pub ended: Option<(Side, Instant)>,
    events: Vec<Event>,
}

impl LiveSession {
    /// A session whose messages are read up to `max_message` bytes each (inflated first when
    /// the handshake agreed to permessage-deflate).
    pub fn new(max_message: usize, deflate: Option<Agreement>) -> Self {
        let (mut client, mut server) = (
            FrameDecoder::new(max_message),
            FrameDecoder::new(max_message),
        );
        if let Some(agreed) = deflate {
            client = client.with_inflater(Inflater::new(agreed.client_no_context_takeover));
            server = server.with_inflater(Inflater::new(agreed.server_no_context_takeover));
        }
        Self {
            client,
            server,
            model: None,
            session_id: None,
            open: None,
            pending: None,
            tools: Vec::new(),
            next_index: 1,
            total: Usage::default(),
            metered_turns: 0,
            unmetered_turns: 0,
            cost_usd: None,
            unpriced: false,
            first_ttfr_ms: None,
            tier: None,
            unreadable: 0,
            unreadable_reason: None,
            go_away: None,
            close: None,
            ended: None,
            events: Vec::new(),
        }
    }

    /// Frames seen from the client and from the upstream.
    pub fn frames(&self) -> (u64, u64) {
        (self.client.frames(), self.server.frames())
    }

    /// Feeds bytes one side sent at `now`; appends what is complete to `done`.
    pub fn feed(&mut self, side: Side, bytes: &[u8], now: Instant, done: &mut Vec<Done>) {
        let mut events = std::mem::take(&mut self.events);
        match side {
            Side::Client => self.client.feed(bytes, &mut events),
            Side::Server => self.server.feed(bytes, &mut events),
        }
        for event in events.drain(..) {
            match event {
                Event::Message { payload, .. } => self.message(side, &payload, now, done),
                Event::Close { code } => {
                    self.close.get_or_insert((side, code));
                }
                Event::Ping | Event::Pong => {}
                Event::Compressed => self.unreadable(
                    "compressed (permessage-deflate) without the handshake agreeing to it",
                ),
                Event::NotInflated(why) => self.unreadable(&format!(
                    "compressed (permessage-deflate), not inflated: {why}"
                )),
                Event::TooLarge { len } => {
                    self.unreadable(&format!("a {len}-byte message, over max_parse_bytes"))
                }
                Event::Broken(why) => self.unreadable(&format!("broken framing: {why}")),
            }
        }
        self.events = events;
    }

    /// One side's byte stream ended at `now`.
    pub fn side_ended(&mut self, side: Side, now: Instant) {
        self.ended.get_or_insert((side, now));
    }

    fn unreadable(&mut self, why: &str) {
        self.unreadable += 1;
        self.unreadable_reason.get_or_insert_with(|| why.to_owned());
    }

    fn message(&mut self, side: Side, payload: &[u8], now: Instant, done: &mut Vec<Done>) {
        let parsed = match side {
            Side::Client => serde_json::from_slice::<ClientMessage>(payload)
                .map(|m| self.client_message(m, now, done)),
            Side::Server => serde_json::from_slice::<ServerMessage>(payload)
                .map(|m| self.server_message(m, now, done)),
        };
        if let Err(e) = parsed {
            let who = match side {
                Side::Client => "client",
                Side::Server => "upstream",
            };
            self.unreadable(&format!("a {who} message that is not a JSON object: {e}"));
        }
    }

    fn client_message(&mut self, m: ClientMessage, now: Instant, done: &mut Vec<Done>) {
        if let Some(setup) = m.setup {
            self.model = setup
                .model
                .map(|m| m.strip_prefix("models/").unwrap_or(&m).to_owned());
        }
        if let Some(resp) = &m.tool_response {
            for r in &resp.function_responses {
                let found = self.tools.iter().position(|t| match &r.id {
                    Some(id) => t.id.as_ref() == Some(id),
                    None => r.name.as_ref() == Some(&t.name),
                });
                if let Some(i) = found {
                    let mut tool = self.tools.remove(i);
                    tool.end = Some(now);
                    done.push(Done::Tool(tool));
                }
            }
        }
        if m.client_content.is_some() || m.realtime_input.is_some() || m.tool_response.is_some() {
            self.input(now);
        }
    }

    fn input(&mut self, now: Instant) {
        match &mut self.open {
            Some(t) if t.first_response.is_none() => t.last_input = now,
            Some(_) => {}
            None => self.open = Some(self.turn(now)),
        }
    }

    fn turn(&mut self, now: Instant) -> Turn {
        let index = self.next_index;
        self.next_index += 1;
        Turn {
            index,
            start: now,
            last_input: now,
            first_response: None,
            end: None,
            usage: None,
            tier: None,
        }
    }

    fn server_message(&mut self, m: ServerMessage, now: Instant, done: &mut Vec<Done>) {
        if let Some(s) = m.setup_complete {
            self.session_id = s.session_id.or(self.session_id.take());
        }
        if let Some(g) = m.go_away {
            self.go_away = Some(g.time_left.unwrap_or_default());
        }
        let content = m.server_content.unwrap_or_default();
        let answered = content
            .model_turn
            .as_ref()
            .is_some_and(|t| !t.parts.is_empty());
        let calls = m.tool_call.map(|c| c.function_calls).unwrap_or_default();
        if answered || !calls.is_empty() {
            if self.open.is_none() {
                self.open = Some(self.turn(now));
            }
            if let Some(t) = &mut self.open {
                t.first_response.get_or_insert(now);
            }
        }
        for c in &calls {
            self.tools.push(ToolSpan {
                id: c.id.clone(),
                name: c.name.clone().unwrap_or_default(),
                start: now,
                end: None,
                error: None,
            });
        }
        if let Some(cancel) = m.tool_call_cancellation {
            for id in cancel.ids {
                if let Some(i) = self.tools.iter().position(|t| t.id.as_deref() == Some(&id)) {
                    let mut tool = self.tools.remove(i);
                    tool.end = Some(now);
                    tool.error = Some("cancelled");
                    done.push(Done::Tool(tool));
                }
            }
        }
        if let Some(u) = m.usage_metadata {
            let tier = u.service_tier.as_deref().map(super::normalize_tier);
            self.usage(u.to_usage(), tier, now, done);
        }
        let end = if content.interrupted == Some(true) {
            Some(TurnEnd::Interrupted)
        } else if content.turn_complete == Some(true) {
            Some(TurnEnd::TurnComplete)
        } else if !calls.is_empty() {
            Some(TurnEnd::ToolCall)
        } else {
            None
        };
        if let Some(how) = end {
            self.end_turn(now, how, done);
        }
    }

    /// A turn's usage: for the turn that ended without one, else the open turn, else a turn of
    /// its own (usage reported with no turn seen, e.g. after an unreadable message).
    fn usage(&mut self, usage: Usage, tier: Option<String>, now: Instant, done: &mut Vec<Done>) {
        if let Some(mut t) = self.pending.take() {
            t.usage = Some(usage);
            t.tier = tier;
            done.push(Done::Turn(t));
        } else if let Some(t) = &mut self.open {
            t.usage = Some(usage);
            t.tier = tier;
        } else {
            let mut t = self.turn(now);
            t.end = Some((now, TurnEnd::TurnComplete));
            t.usage = Some(usage);
            t.tier = tier;
            done.push(Done::Turn(t));
        }
    }

    fn end_turn(&mut self, now: Instant, how: TurnEnd, done: &mut Vec<Done>) {
        let Some(mut t) = self.open.take() else {
            return;
        };
        t.end = Some((now, how));
        if t.usage.is_some() {
            done.push(Done::Turn(t));
        } else if let Some(older) = self.pending.replace(t) {
            done.push(Done::Turn(older));
        }
    }

    /// The session is over: everything still open, turns (unmetered unless their usage came)
    /// and tool calls (never answered).
    pub fn close_all(&mut self, now: Instant) -> Vec<Done> {
        let mut done = Vec::new();
        if let Some(t) = self.pending.take() {
            done.push(Done::Turn(t));
        }
        if let Some(mut t) = self.open.take() {
            t.end = Some((now, TurnEnd::SessionEnd));
            done.push(Done::Turn(t));
        }
        for mut tool in self.tools.drain(..) {
            tool.end = Some(now);
            tool.error = Some("no_response");
            done.push(Done::Tool(tool));
        }
        done
    }
}

#[cfg(test)]
mod tests;
