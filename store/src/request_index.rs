//! The `request_index` of metric rows: the position of a request's root span among its trace's
//! gateway root spans (`kind = 'server'`) in the order they were written, which is the order in
//! which their summaries were folded into the `traces` row. A root not written yet (it ends after
//! the span carrying the metrics, and may reach the next batch) comes next. An application's
//! server spans (received over OTLP, marked `gateway.span.source`) are not gateway requests and
//! do not count.
//!
//! [`REQUEST_INDEX`] answers it from the file alone, with two scans of the trace's spans and a
//! table lookup for each of them. The writer usually has the root in the batch it is writing, so
//! [`Roots`] answers from the rowids it just wrote instead, plus one count of the trace's server
//! spans written before the batch, which the `spans_trace` index answers by itself for a new
//! trace (its entries carry the rowid). Both give the same number.

use crate::SpanRow;
use crate::static_bind::StaticStatement;
use crate::write::prepared;
use foldhash::HashMap;
use rusqlite::Transaction;

/// The `request_index` of the root span `?2` of trace `?1`, from the file alone.
const REQUEST_INDEX: &str = "SELECT CASE WHEN root.id IS NULL THEN (SELECT COUNT(*) + 1 FROM spans
            WHERE trace_id = ?1 AND kind = 'server'
                AND instr(attributes, '\"gateway.span.source\"') = 0)
        ELSE (SELECT COUNT(*) FROM spans WHERE trace_id = ?1 AND kind = 'server'
            AND instr(attributes, '\"gateway.span.source\"') = 0 AND id <= root.id) END
    FROM (SELECT MAX(id) AS id FROM spans WHERE trace_id = ?1 AND span_id = ?2) AS root";

/// Server spans of trace `?1` written before the batch, whose first rowid is `?2`.
const SERVERS_BEFORE: &str = "SELECT COUNT(*) FROM spans WHERE trace_id = ?1 AND id < ?2
    AND kind = 'server' AND instr(attributes, '\"gateway.span.source\"') = 0";

/// The server spans of one batch, by trace, with their rowids; and the indexes computed so far
/// (once per request: its metric rows all get the same).
#[derive(Default)]
pub(crate) struct Roots<'a> {
    first_rowid: Option<i64>,
    servers: HashMap<&'a str, Vec<(&'a str, i64)>>,
    known: HashMap<(&'a str, &'a str), i64>,
}

impl<'a> Roots<'a> {
    /// Records a span of the batch just inserted with `rowid`; `received`: an application's span
    /// (its attribute text names `gateway.span.source`). A new row's rowid is above every rowid
    /// in the file, so the batch's rows are those from its first rowid on.
    pub(crate) fn span_written(&mut self, s: &'a SpanRow, rowid: i64, received: bool) {
        self.first_rowid.get_or_insert(rowid);
        if s.kind == "server" && !received {
            self.servers
                .entry(s.trace_id.as_str())
                .or_default()
                .push((s.span_id.as_str(), rowid));
        }
    }

    /// The `request_index` of root span `root` of trace `trace_id`.
    pub(crate) fn index(
        &mut self,
        tx: &Transaction<'_>,
        servers_before: &mut Option<StaticStatement>,
        trace_id: &'a str,
        root: &'a str,
    ) -> rusqlite::Result<i64> {
        if let Some(&i) = self.known.get(&(trace_id, root)) {
            return Ok(i);
        }
        let servers = self.servers.get(trace_id);
        // The last row of the root, as `MAX(id)` picks.
        let in_batch = servers.and_then(|v| v.iter().rev().find(|(id, _)| *id == root));
        let i = match (in_batch, servers, self.first_rowid) {
            (Some(&(_, root_rowid)), Some(servers), Some(first)) => {
                let before = prepared(servers_before, tx, SERVERS_BEFORE)?.query_int(|q| {
                    q.text(1, trace_id)?;
                    q.int(2, first)
                })?;
                let up_to_root = servers.iter().filter(|&&(_, r)| r <= root_rowid).count();
                before + up_to_root as i64
            }
            _ => tx
                .prepare_cached(REQUEST_INDEX)?
                .query_row([trace_id, root], |r| r.get(0))?,
        };
        self.known.insert((trace_id, root), i);
        Ok(i)
    }
}
