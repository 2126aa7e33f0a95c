//! The live feed's queries: the rolling numbers (cost today and in the last hour, percentiles
//! and request counts of the last hour) and the Live API sessions still running, summed from
//! the turn spans stored so far.

use super::{CostQuery, DAY_NS, HOUR_NS, LatencyQuery, QueryResult, Reader};
use serde::Serialize;

/// Rolling statistics at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveStats {
    /// When they were computed, unix nanos.
    pub at_unix_nano: i64,
    /// Traces that started in the last hour.
    pub requests_last_hour: u64,
    /// Of those, traces whose status is not `ok`.
    pub errors_last_hour: u64,
    /// Traces that started since midnight UTC.
    pub requests_today: u64,
    /// Cost of the priced traces of the last hour, USD.
    #[serde(serialize_with = "super::money::usd")]
    pub cost_last_hour_usd: f64,
    /// Cost of the priced traces since midnight UTC, USD.
    #[serde(serialize_with = "super::money::usd")]
    pub cost_today_usd: f64,
    /// Unpriced traces of the last hour.
    pub unpriced_last_hour: u64,
    /// Unpriced traces since midnight UTC.
    pub unpriced_today: u64,
    /// Median duration of the last hour, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile duration of the last hour, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile duration of the last hour, ms.
    pub p99_ms: Option<f64>,
    /// Median time to first token of the last hour, ms.
    pub ttft_p50_ms: Option<f64>,
    /// 95th percentile time to first token of the last hour, ms.
    pub ttft_p95_ms: Option<f64>,
    /// 99th percentile time to first token of the last hour, ms.
    pub ttft_p99_ms: Option<f64>,
}

impl Reader {
    /// The live statistics as of `now` (unix nanos).
    pub fn live_stats(&self, now: i64) -> QueryResult<LiveStats> {
        let until = now.saturating_add(1);
        let hour_ago = now - HOUR_NS;
        let midnight = now.div_euclid(DAY_NS) * DAY_NS;
        let cost = |since: i64, bucket_ns: i64| {
            self.cost(&CostQuery {
                since,
                until,
                bucket_ns,
                group_by: None,
                model: None,
            })
        };
        let today = cost(midnight, DAY_NS)?;
        let hour = cost(hour_ago, HOUR_NS)?;
        let lat = self.latency(&LatencyQuery {
            since: hour_ago,
            until,
            model: None,
            group_by_model: false,
        })?;
        let errors: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM traces WHERE start_time_unix_nano >= ?1
                 AND start_time_unix_nano < ?2 AND status <> 'ok'",
            )
            .and_then(|mut s| s.query_row([hour_ago, until], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        Ok(LiveStats {
            at_unix_nano: now,
            requests_last_hour: hour.requests,
            errors_last_hour: errors.max(0) as u64,
            requests_today: today.requests,
            cost_last_hour_usd: hour.total_usd,
            cost_today_usd: today.total_usd,
            unpriced_last_hour: hour.unpriced_count,
            unpriced_today: today.unpriced_count,
            p50_ms: lat.p50_ms,
            p95_ms: lat.p95_ms,
            p99_ms: lat.p99_ms,
            ttft_p50_ms: lat.ttft_p50_ms,
            ttft_p95_ms: lat.ttft_p95_ms,
            ttft_p99_ms: lat.ttft_p99_ms,
        })
    }
}

/// A stored Live turn: an LLM span of the Live surface (`gateway.live.turn.index` is only ever
/// set on those), by the cheap text test first.
const LIVE_TURN: &str = "kind = 'client' AND instr(attributes, '\"gateway.live.turn.index\"') > 0";

impl super::TraceSummary {
    /// The `status` of a provisional summary: a Live session still running, its trace row not
    /// written yet (see [`Reader::running_live_sessions`]).
    pub const RUNNING: &'static str = "running";
}

impl Reader {
    /// The highest id of `spans` (0 when empty): where a tail of new spans starts.
    pub fn max_span_rowid(&self) -> QueryResult<i64> {
        self.conn
            .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM spans")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(|e| self.err(e))
    }

    /// Provisional summaries of the Live sessions still running that stored a turn span with
    /// an id in `(after, upto]`, oldest first.
    ///
    /// A Live session's trace row is written when the session ends, but each turn's span as
    /// soon as the turn completes. A session counts as running while its trace has no row;
    /// its summary then adds up every turn stored so far, as the final row will (Gemini
    /// re-bills the whole context each turn, so the session's cost is the sum of its turns):
    /// tokens and cost summed (cost unknown once a turn is unpriced), the first metered turn's
    /// time to first response, from the first turn's start to the last turn's end, status
    /// [`TraceSummary::RUNNING`](super::TraceSummary::RUNNING). User and session id come with
    /// the final row (turn spans carry the session id only as `gen_ai.conversation.id`).
    pub fn running_live_sessions(
        &self,
        after: i64,
        upto: i64,
    ) -> QueryResult<Vec<super::TraceSummary>> {
        // The writer copies turn spans into `span_lookup` (`write.rs`): the few rows there, not
        // every span written since the last poll.
        let touched = format!(
            "SELECT DISTINCT trace_id FROM {} WHERE id > ?1 AND id <= ?2 AND {LIVE_TURN}",
            self.lookup_table()?
        );
        let mut stmt = self
            .conn
            .prepare_cached(&running_sql(&touched))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([after, upto], running_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// The provisional summary of the Live session `trace_id` while it runs (its trace row not
    /// written yet, at least one turn stored), as [`running_live_sessions`] sends it; `None`
    /// when the trace has a row or no stored turn.
    ///
    /// [`running_live_sessions`]: Self::running_live_sessions
    pub fn running_live_session(&self, trace_id: &str) -> QueryResult<Option<super::TraceSummary>> {
        let mut stmt = self
            .conn
            .prepare_cached(&running_sql("SELECT ?1 AS trace_id"))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query_map([trace_id], running_row)
            .map_err(|e| self.err(e))?;
        rows.next().transpose().map_err(|e| self.err(e))
    }
}

/// The running sessions among the traces `touched` selects (a `SELECT` of `trace_id`s), one
/// row each: a turn is unpriced as [`crate::is_unpriced`] says of a metered call (flagged, or
/// usage without a cost), and so is the session once one of its turns is.
fn running_sql(touched: &str) -> String {
    format!(
        "WITH touched AS ({touched}), turns AS (
            SELECT s.trace_id, s.start_time_unix_nano AS t0, s.end_time_unix_nano AS t1,
                json_extract(s.attributes, '$.\"gen_ai.request.model\"') AS model,
                json_extract(s.attributes, '$.\"gen_ai.usage.input_tokens\"') AS input,
                json_extract(s.attributes, '$.\"gen_ai.usage.output_tokens\"') AS output,
                json_extract(s.attributes, '$.\"gen_ai.usage.cache_read.input_tokens\"')
                    AS cached,
                json_extract(s.attributes, '$.\"gen_ai.usage.reasoning.output_tokens\"')
                    AS reasoning,
                json_extract(s.attributes, '$.\"gen_ai.response.time_to_first_chunk\"')
                    AS ttfr,
                json_extract(s.attributes, '$.\"gateway.cost.usd\"') AS usd,
                COALESCE(json_extract(s.attributes, '$.\"gateway.cost.unpriced\"'), 0) <> 0
                    OR (json_extract(s.attributes, '$.\"gateway.cost.usd\"') IS NULL
                        AND COALESCE(json_extract(s.attributes,
                            '$.\"gen_ai.usage.input_tokens\"'), json_extract(s.attributes,
                            '$.\"gen_ai.usage.output_tokens\"')) IS NOT NULL)
                    AS unpriced,
                json_extract(s.attributes, '$.\"gateway.live.turn.index\"') AS idx,
                json_extract(s.attributes, '$.\"gen_ai.conversation.id\"') AS conversation
            FROM spans s JOIN touched USING (trace_id)
            WHERE s.{LIVE_TURN}
                AND NOT EXISTS (SELECT 1 FROM traces r WHERE r.trace_id = s.trace_id)
        )
        SELECT trace_id, MIN(t0), MAX(t1), MAX(model), SUM(input), SUM(output), SUM(cached),
            SUM(reasoning),
            (SELECT u.ttfr * 1000.0 FROM turns u WHERE u.trace_id = turns.trace_id
                AND u.input IS NOT NULL AND u.ttfr IS NOT NULL ORDER BY u.idx LIMIT 1),
            CASE WHEN MAX(unpriced) <> 0 THEN NULL ELSE SUM(usd) END,
            MAX(unpriced) <> 0, MAX(conversation),
            EXISTS (SELECT 1 FROM metric_snapshots m WHERE m.trace_id = turns.trace_id
                AND +m.breached = 1)
        FROM turns GROUP BY trace_id ORDER BY MIN(t0), trace_id"
    )
}

/// One row of [`running_sql`] as a provisional summary.
fn running_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<super::TraceSummary> {
    let start: i64 = r.get(1)?;
    let end: i64 = r.get(2)?;
    Ok(super::TraceSummary {
        trace_id: r.get(0)?,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        duration_ms: end.saturating_sub(start).max(0) as f64 / 1e6,
        model: r.get(3)?,
        operation: Some("generate_content".to_owned()),
        stream: true,
        status: super::TraceSummary::RUNNING.to_owned(),
        http_status: Some(101),
        error_type: None,
        input_tokens: r.get(4)?,
        output_tokens: r.get(5)?,
        cached_tokens: r.get(6)?,
        reasoning_tokens: r.get(7)?,
        ttft_ms: r.get(8)?,
        cost_usd: r.get(9)?,
        unpriced: r.get(10)?,
        user_id: None,
        session_id: r.get(11)?,
        request_count: 1,
        breached: r.get(12)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::TraceSummary;
    use crate::{SpanRow, Store, StoreOptions, TraceRow};
    use serde_json::json;
    use std::time::Duration;

    const T0: i64 = 1_750_000_000_000_000_000;
    const TRACE: &str = "0123456789abcdef0123456789abcdef";

    fn turn(n: i64, attrs: serde_json::Value) -> SpanRow {
        let mut a = json!({
            "gateway.step": "llm_call",
            "gateway.surface": "live",
            "gateway.live.turn.index": n,
            "gen_ai.request.model": "gemini-live-test",
            "gen_ai.conversation.id": "s-1",
        });
        for (k, v) in attrs.as_object().into_iter().flatten() {
            a[k] = v.clone();
        }
        SpanRow {
            span_id: format!("{n:016x}"),
            trace_id: TRACE.to_owned(),
            parent_span_id: Some("f".repeat(16)),
            name: "generate_content gemini-live-test".to_owned(),
            kind: "client",
            start_time_unix_nano: T0 + n * 1_000_000_000,
            end_time_unix_nano: T0 + n * 1_000_000_000 + 500_000_000,
            status_code: "unset",
            status_message: None,
            attributes_json: a.to_string(),
            events_json: "[]".to_owned(),
        }
    }

    fn open() -> (tempfile::TempDir, Store, Reader) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("live.db");
        let store = Store::open(&path, &StoreOptions::default()).expect("open");
        let reader = Reader::open(&path, Duration::from_secs(1)).expect("reader");
        (dir, store, reader)
    }

    fn running(r: &Reader, after: i64) -> (i64, Vec<TraceSummary>) {
        let upto = r.max_span_rowid().expect("max");
        (upto, r.running_live_sessions(after, upto).expect("query"))
    }

    #[test]
    fn a_running_session_sums_its_turns_until_its_row_is_written() {
        let (_dir, mut store, r) = open();
        assert_eq!(running(&r, 0), (0, vec![]));
        let t1 = json!({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 4,
            "gen_ai.response.time_to_first_chunk": 0.25, "gateway.cost.usd": 0.5});
        store.write_batch(&[turn(1, t1)], &[]).expect("write");
        let (c1, s) = running(&r, 0);
        assert_eq!(s.len(), 1);
        let one = &s[0];
        assert_eq!(one.trace_id, TRACE);
        assert_eq!(one.status, TraceSummary::RUNNING);
        assert_eq!((one.input_tokens, one.output_tokens), (Some(10), Some(4)));
        assert_eq!(one.cost_usd, Some(0.5));
        assert_eq!(one.ttft_ms, Some(250.0));
        assert_eq!(one.model.as_deref(), Some("gemini-live-test"));
        assert_eq!(one.session_id.as_deref(), Some("s-1"));
        assert_eq!(one.duration_ms, 500.0);

        // Nothing new after the cursor: nothing to send.
        assert_eq!(running(&r, c1).1, vec![]);

        // A second turn: the summary covers both (from before the cursor too).
        let t2 = json!({"gen_ai.usage.input_tokens": 20, "gen_ai.usage.output_tokens": 6,
            "gen_ai.response.time_to_first_chunk": 0.5, "gateway.cost.usd": 0.25});
        store.write_batch(&[turn(2, t2)], &[]).expect("write");
        let (c2, s) = running(&r, c1);
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].input_tokens, s[0].output_tokens),
            (Some(30), Some(10))
        );
        assert_eq!(s[0].cost_usd, Some(0.75));
        assert_eq!(s[0].ttft_ms, Some(250.0), "the first turn's");
        assert_eq!(s[0].duration_ms, 1500.0);

        // An unpriced turn makes the session's cost unknown, never a partial sum.
        let t3 = json!({"gen_ai.usage.input_tokens": 1, "gateway.cost.unpriced": true});
        store.write_batch(&[turn(3, t3)], &[]).expect("write");
        let (c3, s) = running(&r, c2);
        assert_eq!((s[0].cost_usd, s[0].unpriced), (None, true));

        // Once the session's row is written it is no longer running, whatever the range.
        let row = TraceRow {
            trace_id: TRACE.to_owned(),
            start_time_unix_nano: T0,
            end_time_unix_nano: T0 + 4_000_000_000,
            status: "ok".into(),
            ..Default::default()
        };
        store
            .write_batch(&[turn(4, json!({}))], &[row])
            .expect("write");
        assert_eq!(running(&r, 0).1, vec![]);
        assert_eq!(running(&r, c3).1, vec![]);
        assert_eq!(r.running_live_session(TRACE).expect("one"), None);
    }

    #[test]
    fn one_running_session_by_id_is_the_feed_s_summary() {
        let (_dir, mut store, r) = open();
        assert_eq!(r.running_live_session(TRACE).expect("none yet"), None);
        let t1 = json!({"gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 3,
            "gateway.cost.usd": 0.125});
        // The cost plugin off: usage without a cost is unpriced, as the final row will be.
        let t2 = json!({"gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 2});
        store
            .write_batch(&[turn(1, t1), turn(2, t2)], &[])
            .expect("write");
        let feed = running(&r, 0).1;
        let one = r
            .running_live_session(TRACE)
            .expect("one")
            .expect("running");
        assert_eq!(feed, vec![one.clone()]);
        assert_eq!((one.input_tokens, one.output_tokens), (Some(12), Some(5)));
        assert_eq!((one.cost_usd, one.unpriced), (None, true));
        assert_eq!(
            r.running_live_session(&"0".repeat(32)).expect("other"),
            None
        );
    }

    #[test]
    fn other_spans_are_not_sessions() {
        let (_dir, mut store, r) = open();
        let mut plain = turn(1, json!({}));
        plain.attributes_json = json!({"gateway.step": "llm_call"}).to_string();
        let mut server = turn(2, json!({}));
        server.kind = "server";
        store.write_batch(&[plain, server], &[]).expect("write");
        assert_eq!(running(&r, 0).1, vec![]);
    }
}
