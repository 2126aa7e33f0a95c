//! Sessions: every trace of one session, conversation or Interactions chain, oldest first, with
//! running totals of tokens, cost and latency.
//!
//! Three ways to name a session ([`SessionKind`]):
//! - `session`: `traces.session_id` (the `x-gateway-session-id` header), through the
//!   `traces_session` index;
//! - `conversation`: `gen_ai.conversation.id`, which the gateway sets from that same header
//!   (so its session's traces), plus the traces where the application's own spans, received
//!   over OTLP, carry it (the `span_lookup_conversation` index);
//! - `interaction`: the chain of Interactions linked by `previous_interaction_id`
//!   (`gen_ai.request.previous_response.id` on the LLM span, the interaction's own id in
//!   `gen_ai.response.id` of the span carrying `gateway.interaction.status`), followed both ways
//!   from an interaction id or a trace id, through the `span_lookup_interaction_id` and
//!   `span_lookup_previous_interaction_id` indexes. Every id is looked up once,
//!   so a cycle ends the walk; the walk stops at [`MAX_CHAIN_TRACES`] traces or
//!   [`MAX_CHAIN_LOOKUPS`] ids and says so (`truncated`).
//!
//! Only traces with a `traces` row are listed (a trace holding only application spans, with no
//! gateway request in it, has no tokens or cost to show). A session is read up to
//! [`MAX_SESSION_TRACES`] traces in time order; past that the answer is `truncated`.
//!
//! Running sums follow the cost rules of [`super::cost`]: an unpriced trace (`unpriced = 1`, the
//! writer's verdict by [`crate::is_unpriced`]) adds nothing to the cost and is counted in
//! `unpriced`; the running cost is null until a priced trace has been seen, never a made-up `0`.

use super::traces::Cursor;
use super::{QueryResult, Reader};
use rusqlite::params;
use serde::Serialize;
use std::collections::{HashSet, VecDeque};

/// Most traces of a session read (in time order) for one answer.
pub const MAX_SESSION_TRACES: u32 = 10_000;
/// Most traces an Interactions chain collects.
pub const MAX_CHAIN_TRACES: usize = 1_000;
/// Most interaction ids an Interactions chain looks up.
pub const MAX_CHAIN_LOOKUPS: usize = 4_000;

/// What the session id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// `x-gateway-session-id` (`traces.session_id`).
    Session,
    /// `gen_ai.conversation.id` on any span of the trace.
    Conversation,
    /// An Interactions chain, from an interaction id or a trace id.
    Interaction,
}

impl SessionKind {
    /// Every kind, as the API spells them.
    pub const NAMES: [&'static str; 3] = ["session", "conversation", "interaction"];

    /// The API's name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Conversation => "conversation",
            Self::Interaction => "interaction",
        }
    }

    /// Parses [`Self::NAMES`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "session" => Some(Self::Session),
            "conversation" => Some(Self::Conversation),
            "interaction" => Some(Self::Interaction),
            _ => None,
        }
    }
}

/// Which session, and which page of it.
#[derive(Debug, Clone)]
pub struct SessionQuery {
    /// What `id` names.
    pub kind: SessionKind,
    /// The session id, conversation id, or interaction (or trace) id.
    pub id: String,
    /// Continue after this key (oldest first): the `next` of the previous page.
    pub after: Option<Cursor>,
    /// Page size.
    pub limit: u32,
}

/// Totals of a session, or of its traces up to and including one (running sums).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionTotals {
    /// Traces.
    pub traces: u64,
    /// Input tokens (cached included).
    pub input_tokens: i64,
    /// Output tokens (reasoning included).
    pub output_tokens: i64,
    /// Cached input tokens.
    pub cached_tokens: i64,
    /// Reasoning (thinking) tokens.
    pub reasoning_tokens: i64,
    /// Cost of the priced traces in USD; null while no trace is priced.
    #[serde(serialize_with = "super::money::opt_usd")]
    pub cost_usd: Option<f64>,
    /// Unpriced traces (not in `cost_usd`).
    pub unpriced: u64,
    /// Sum of the traces' durations, ms.
    pub duration_ms: f64,
    /// From the session's first trace start to the latest end so far, ms (wall time).
    pub elapsed_ms: f64,
}

/// One trace of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionTrace {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// Start, unix nanos.
    pub start_time_unix_nano: i64,
    /// End, unix nanos.
    pub end_time_unix_nano: i64,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// Requested model (`traces.model`).
    pub model: Option<String>,
    /// Models of the trace's LLM calls (served model, else requested); `model` when none.
    pub models: Vec<String>,
    /// `gen_ai.operation.name`.
    pub operation: Option<String>,
    /// `ok`, `error` or `cancelled`.
    pub status: String,
    /// Status sent to the client.
    pub http_status: Option<i64>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// Cached prompt tokens.
    pub cached_tokens: Option<i64>,
    /// Thinking tokens.
    pub reasoning_tokens: Option<i64>,
    /// Cost in USD; null when unpriced or unknown (never shown as 0).
    #[serde(serialize_with = "super::money::opt_usd")]
    pub cost_usd: Option<f64>,
    /// Counted as unpriced in the running totals.
    pub unpriced: bool,
    /// `x-gateway-session-id`.
    pub session_id: Option<String>,
    /// Gateway requests merged into this trace.
    pub request_count: i64,
    /// Stored spans of the trace.
    pub span_count: i64,
    /// Spans received from the application (`POST /v1/traces`, `gateway.span.source = otlp`).
    pub app_span_count: i64,
    /// Earliest span start (application spans included), unix nanos; null without spans.
    pub spans_start_unix_nano: Option<i64>,
    /// Latest span end (application spans included), unix nanos; null without spans.
    pub spans_end_unix_nano: Option<i64>,
    /// Totals of the session's traces up to and including this one, in time order.
    pub cumulative: SessionTotals,
}

/// One page of a session, oldest first.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionPage {
    /// What `id` names.
    pub kind: SessionKind,
    /// The id asked for.
    pub id: String,
    /// Start of the session's first trace, unix nanos (null when it has none).
    pub start_time_unix_nano: Option<i64>,
    /// Latest end of the session's traces, unix nanos (null when it has none).
    pub end_time_unix_nano: Option<i64>,
    /// Totals of the whole session (every page).
    pub totals: SessionTotals,
    /// The traces of this page.
    pub traces: Vec<SessionTrace>,
    /// Cursor of the next page (pass as `after`), null on the last page.
    pub next: Option<String>,
    /// The session had more traces than one answer reads (see `docs/api.md`): totals cover
    /// the first ones only.
    pub truncated: bool,
}

/// `gen_ai.conversation.id`: the gateway sets it to the session id (`traces_session`); the
/// application's spans naming it are found through the partial index `span_lookup_conversation`
/// (`{lookup}`: [`Reader::lookup_table`]).
fn by_conversation(lookup: &str) -> String {
    format!(
        "(t.session_id = ?1 OR t.trace_id IN (SELECT s.trace_id FROM {lookup} s
    WHERE instr(s.attributes, '\"gateway.span.source\"') > 0
      AND instr(s.attributes, '\"gen_ai.conversation.id\"') > 0
      AND json_extract(s.attributes, '$.\"gen_ai.conversation.id\"') = ?1))"
    )
}

/// The member traces, oldest first and bounded; `?1` the id, `?2` the bound. `{cond}` is one
/// of three fixed conditions, never user text; `lookup` is [`Reader::lookup_table`].
fn members_sql(kind: SessionKind, lookup: &str) -> String {
    let cond = match kind {
        SessionKind::Session => "t.session_id = ?1".to_owned(),
        SessionKind::Conversation => by_conversation(lookup),
        SessionKind::Interaction => "t.trace_id IN (SELECT value FROM json_each(?1))".to_owned(),
    };
    format!(
        "m AS (SELECT t.trace_id, t.start_time_unix_nano AS s, t.end_time_unix_nano AS e,
            t.duration_ms, t.model, t.operation, t.status, t.http_status, t.input_tokens,
            t.output_tokens, t.cached_tokens, t.reasoning_tokens, t.cost_usd, t.session_id,
            t.request_count,
            (t.unpriced = 1) AS unp
         FROM traces t WHERE {cond}
         ORDER BY t.start_time_unix_nano, t.trace_id LIMIT ?2)"
    )
}

/// Totals of the whole (bounded) session.
fn totals_sql(kind: SessionKind, lookup: &str) -> String {
    format!(
        "WITH {} SELECT COUNT(*), SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)),
            SUM(COALESCE(cached_tokens, 0)), SUM(COALESCE(reasoning_tokens, 0)), SUM(cost_usd),
            SUM(unp), SUM(duration_ms), MIN(s), MAX(e) FROM m",
        members_sql(kind, lookup)
    )
}

/// One page with running sums; `?3`/`?4` the cursor (start, trace id), `?5` the page size.
fn page_sql(kind: SessionKind, lookup: &str) -> String {
    format!(
        "WITH {}, c AS (
            SELECT m.*, COUNT(*) OVER w AS n, SUM(COALESCE(input_tokens, 0)) OVER w AS ci,
                SUM(COALESCE(output_tokens, 0)) OVER w AS co,
                SUM(COALESCE(cached_tokens, 0)) OVER w AS cc,
                SUM(COALESCE(reasoning_tokens, 0)) OVER w AS cr,
                SUM(cost_usd) OVER w AS cusd, SUM(unp) OVER w AS cu,
                SUM(duration_ms) OVER w AS cd, MAX(e) OVER w AS ce, MIN(s) OVER () AS s0
            FROM m WINDOW w AS (ORDER BY s, trace_id ROWS UNBOUNDED PRECEDING))
         SELECT trace_id, s, e, duration_ms, model, operation, status, http_status, input_tokens,
            output_tokens, cached_tokens, reasoning_tokens, cost_usd, unp, session_id,
            request_count, n, ci, co, cc, cr, cusd, cu, cd, ce, s0
         FROM c WHERE ?3 IS NULL OR s > ?3 OR (s = ?3 AND trace_id > ?4)
         ORDER BY s, trace_id LIMIT ?5",
        members_sql(kind, lookup)
    )
}

/// Span counts, extent and LLM models of one trace.
const TRACE_SPANS: &str = "SELECT COUNT(*),
        COALESCE(SUM(json_extract(attributes, '$.\"gateway.span.source\"') = 'otlp'), 0),
        MIN(start_time_unix_nano), MAX(end_time_unix_nano),
        (SELECT json_group_array(DISTINCT x.model) FROM (
            SELECT COALESCE(json_extract(attributes, '$.\"gen_ai.response.model\"'),
                json_extract(attributes, '$.\"gen_ai.request.model\"')) AS model
            FROM spans WHERE trace_id = ?1
              AND json_extract(attributes, '$.\"gateway.step\"') = 'llm_call') AS x
         WHERE x.model IS NOT NULL)
    FROM spans WHERE trace_id = ?1";

/// Traces whose Interactions spans carry `gen_ai.response.id = ?1`, or whose spans carry
/// `previous_response.id = ?1` (the partial indexes `span_lookup_interaction_id` and
/// `span_lookup_previous_interaction_id`; `lookup` is [`Reader::lookup_table`]).
fn chain_neighbours(lookup: &str) -> String {
    format!(
        "SELECT trace_id FROM {lookup}
    WHERE instr(attributes, '\"gateway.interaction.status\"') > 0
      AND json_extract(attributes, '$.\"gen_ai.response.id\"') = ?1
    UNION
    SELECT trace_id FROM {lookup}
    WHERE instr(attributes, '\"gen_ai.request.previous_response.id\"') > 0
      AND json_extract(attributes, '$.\"gen_ai.request.previous_response.id\"') = ?1"
    )
}

/// The interaction ids (own and previous) named by the spans of one trace.
const CHAIN_IDS_OF_TRACE: &str = "SELECT
        json_extract(attributes, '$.\"gen_ai.response.id\"'),
        json_extract(attributes, '$.\"gen_ai.request.previous_response.id\"')
    FROM spans WHERE trace_id = ?1
      AND (instr(attributes, '\"gateway.interaction.status\"') > 0
        OR instr(attributes, '\"gen_ai.request.previous_response.id\"') > 0)";

fn is_trace_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn text_of(v: rusqlite::types::Value) -> Option<String> {
    match v {
        rusqlite::types::Value::Text(s) if !s.is_empty() => Some(s),
        rusqlite::types::Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

impl Reader {
    /// One page of a session's traces, oldest first, with running and whole-session totals.
    pub fn session(&self, q: &SessionQuery) -> QueryResult<SessionPage> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let lookup = self.lookup_table()?;
        let (key, mut truncated) = match q.kind {
            SessionKind::Interaction => {
                let (ids, cut) = self.chain_traces(&q.id, lookup)?;
                (serde_json::Value::from(ids).to_string(), cut)
            }
            _ => (q.id.clone(), false),
        };
        let bound = i64::from(MAX_SESSION_TRACES);
        // One more than the bound tells a session past it; the totals then cover the bound.
        let (mut totals, mut first, mut last) =
            self.session_totals(q.kind, lookup, &key, bound + 1)?;
        if totals.traces > bound as u64 {
            truncated = true;
            (totals, first, last) = self.session_totals(q.kind, lookup, &key, bound)?;
        }
        let mut stmt = self
            .conn
            .prepare_cached(&page_sql(q.kind, lookup))
            .map_err(|e| self.err(e))?;
        let (after_s, after_id) = q
            .after
            .as_ref()
            .map(|c| (c.start_time_unix_nano, c.trace_id.clone()))
            .unzip();
        let limit = i64::from(q.limit) + 1;
        let mut traces = stmt
            .query_map(params![key, bound, after_s, after_id, limit], |r| {
                let s0: i64 = r.get(25)?;
                let ce: i64 = r.get(24)?;
                Ok(SessionTrace {
                    trace_id: r.get(0)?,
                    start_time_unix_nano: r.get(1)?,
                    end_time_unix_nano: r.get(2)?,
                    duration_ms: r.get(3)?,
                    model: r.get(4)?,
                    models: Vec::new(),
                    operation: r.get(5)?,
                    status: r.get(6)?,
                    http_status: r.get(7)?,
                    input_tokens: r.get(8)?,
                    output_tokens: r.get(9)?,
                    cached_tokens: r.get(10)?,
                    reasoning_tokens: r.get(11)?,
                    cost_usd: r.get(12)?,
                    unpriced: r.get::<_, i64>(13)? != 0,
                    session_id: r.get(14)?,
                    request_count: r.get(15)?,
                    span_count: 0,
                    app_span_count: 0,
                    spans_start_unix_nano: None,
                    spans_end_unix_nano: None,
                    cumulative: SessionTotals {
                        traces: r.get::<_, i64>(16)?.max(0) as u64,
                        input_tokens: r.get(17)?,
                        output_tokens: r.get(18)?,
                        cached_tokens: r.get(19)?,
                        reasoning_tokens: r.get(20)?,
                        cost_usd: r.get(21)?,
                        unpriced: r.get::<_, i64>(22)?.max(0) as u64,
                        duration_ms: r.get(23)?,
                        elapsed_ms: (ce - s0).max(0) as f64 / 1e6,
                    },
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        let next = if traces.len() > q.limit as usize {
            traces.truncate(q.limit as usize);
            traces.last().map(|t| {
                Cursor {
                    start_time_unix_nano: t.start_time_unix_nano,
                    trace_id: t.trace_id.clone(),
                }
                .encode()
            })
        } else {
            None
        };
        for t in &mut traces {
            self.fill_spans(t)?;
        }
        drop(tx);
        Ok(SessionPage {
            kind: q.kind,
            id: q.id.clone(),
            start_time_unix_nano: first,
            end_time_unix_nano: last,
            totals,
            traces,
            next,
            truncated,
        })
    }

    /// `EXPLAIN QUERY PLAN` of the statements answering a session of `kind` (the page, the
    /// totals, and for chains the neighbour lookup), one line per plan step: what a check
    /// reads to see that an index is searched rather than a table scanned.
    pub fn session_query_plan(&self, kind: SessionKind) -> QueryResult<Vec<String>> {
        let lookup = self.lookup_table()?;
        let mut sqls = vec![page_sql(kind, lookup), totals_sql(kind, lookup)];
        if kind == SessionKind::Interaction {
            sqls.push(chain_neighbours(lookup));
            sqls.push(CHAIN_IDS_OF_TRACE.to_owned());
        }
        sqls.push(TRACE_SPANS.to_owned());
        let mut out = Vec::new();
        for sql in sqls {
            let mut stmt = self
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .map_err(|e| self.err(e))?;
            let n = stmt.parameter_count();
            let args = vec![rusqlite::types::Value::Null; n];
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
                .map_err(|e| self.err(e))?;
            for r in rows {
                out.push(r.map_err(|e| self.err(e))?);
            }
        }
        Ok(out)
    }

    fn session_totals(
        &self,
        kind: SessionKind,
        lookup: &str,
        key: &str,
        bound: i64,
    ) -> QueryResult<(SessionTotals, Option<i64>, Option<i64>)> {
        let mut stmt = self
            .conn
            .prepare_cached(&totals_sql(kind, lookup))
            .map_err(|e| self.err(e))?;
        stmt.query_row(params![key, bound], |r| {
            let first: Option<i64> = r.get(8)?;
            let last: Option<i64> = r.get(9)?;
            let n: i64 = r.get(0)?;
            let int = |i| r.get::<_, Option<i64>>(i).map(Option::unwrap_or_default);
            let totals = SessionTotals {
                traces: n.max(0) as u64,
                input_tokens: int(1)?,
                output_tokens: int(2)?,
                cached_tokens: int(3)?,
                reasoning_tokens: int(4)?,
                cost_usd: r.get(5)?,
                unpriced: int(6)?.max(0) as u64,
                duration_ms: r.get::<_, Option<f64>>(7)?.unwrap_or(0.0),
                elapsed_ms: match (first, last) {
                    (Some(f), Some(l)) => (l - f).max(0) as f64 / 1e6,
                    _ => 0.0,
                },
            };
            Ok((totals, first, last))
        })
        .map_err(|e| self.err(e))
    }

    fn fill_spans(&self, t: &mut SessionTrace) -> QueryResult<()> {
        let mut stmt = self
            .conn
            .prepare_cached(TRACE_SPANS)
            .map_err(|e| self.err(e))?;
        let (count, app, start, end, models) = stmt
            .query_row([&t.trace_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        t.span_count = count;
        t.app_span_count = app;
        t.spans_start_unix_nano = start;
        t.spans_end_unix_nano = end;
        t.models = models
            .and_then(|m| serde_json::from_str::<Vec<String>>(&m).ok())
            .unwrap_or_default();
        if t.models.is_empty() {
            t.models.extend(t.model.clone());
        }
        Ok(())
    }

    /// The traces of the Interactions chain through `start` (an interaction id or a trace id),
    /// and whether the walk stopped at a bound; `lookup` is [`Reader::lookup_table`].
    fn chain_traces(&self, start: &str, lookup: &str) -> QueryResult<(Vec<String>, bool)> {
        let mut traces: Vec<String> = Vec::new();
        let mut have: HashSet<String> = HashSet::new();
        let mut looked_up: HashSet<String> = HashSet::new();
        let mut queue: VecDeque<String> = VecDeque::new();
        let mut truncated = false;
        if is_trace_id(start) && self.trace_exists(start)? {
            self.add_chain_trace(start, &mut traces, &mut have, &mut queue)?;
        } else {
            queue.push_back(start.to_owned());
        }
        let neighbours = chain_neighbours(lookup);
        while let Some(id) = queue.pop_front() {
            if !looked_up.insert(id.clone()) {
                continue; // a cycle, or an id named twice
            }
            if looked_up.len() > MAX_CHAIN_LOOKUPS {
                truncated = true;
                break;
            }
            let mut stmt = self
                .conn
                .prepare_cached(&neighbours)
                .map_err(|e| self.err(e))?;
            let found = stmt
                .query_map([&id], |r| r.get::<_, String>(0))
                .map_err(|e| self.err(e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.err(e))?;
            for t in found {
                if have.contains(&t) {
                    continue;
                }
                if traces.len() >= MAX_CHAIN_TRACES {
                    truncated = true;
                    break;
                }
                self.add_chain_trace(&t, &mut traces, &mut have, &mut queue)?;
            }
            if truncated {
                break;
            }
        }
        Ok((traces, truncated))
    }

    fn add_chain_trace(
        &self,
        trace_id: &str,
        traces: &mut Vec<String>,
        have: &mut HashSet<String>,
        queue: &mut VecDeque<String>,
    ) -> QueryResult<()> {
        if !have.insert(trace_id.to_owned()) {
            return Ok(());
        }
        traces.push(trace_id.to_owned());
        let mut stmt = self
            .conn
            .prepare_cached(CHAIN_IDS_OF_TRACE)
            .map_err(|e| self.err(e))?;
        let ids = stmt
            .query_map([trace_id], |r| {
                Ok([r.get::<_, rusqlite::types::Value>(0)?, r.get(1)?])
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        queue.extend(ids.into_iter().flatten().filter_map(text_of));
        Ok(())
    }

    fn trace_exists(&self, trace_id: &str) -> QueryResult<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM traces WHERE trace_id = ?1")
            .map_err(|e| self.err(e))?;
        stmt.exists([trace_id]).map_err(|e| self.err(e))
    }
}
