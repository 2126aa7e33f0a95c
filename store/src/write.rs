//! The write path: one transaction per batch, cached prepared statements, and the presence
//! check the span exporter uses before writing a batch again into another file.

use crate::static_bind::{Binder, StaticStatement};
use crate::{MetricRow, Result, SpanRow, Store, TraceRow};
use rusqlite::params;

/// The columns of a span row, in the order [`bind_span`] binds them.
const SPAN_COLUMNS: &str = "spans (span_id, trace_id, parent_span_id, name, kind,
    start_time_unix_nano, end_time_unix_nano, status_code, status_message, attributes, events)";
/// Parameters per span row.
const SPAN_PARAMS: usize = 11;
/// Span rows per multi-row insert, at most (a power of two, see [`insert_rows`]).
const SPAN_CHUNK: usize = 16;

/// The columns of a metric row, in the order [`bind_metric`] binds them; `request_index` is
/// [`crate::request_index`]'s.
const METRIC_COLUMNS: &str = "metric_snapshots (trace_id, metric, value, threshold, breached,
    model, created_at_unix_nano, span_id, llm_span_id, request_index)";
/// Parameters per metric row.
const METRIC_PARAMS: usize = 10;
/// Metric rows per multi-row insert, at most (a power of two, see [`insert_rows`]).
const METRIC_CHUNK: usize = 32;

/// The id the batch's first span row gets: one above the largest (`MAX(id)` is one seek to the
/// end of the table). SQLite numbers the rows that follow on from it, one by one (a rowid
/// table whose largest id is below 2^63 - 1 gets the largest plus one), and the batch holds the
/// write lock: the writer checks this after each insert and fails the batch if not.
const NEXT_SPAN_ID: &str = "SELECT COALESCE(MAX(id), 0) + 1 FROM spans";

/// `INSERT OR FAIL INTO <columns> VALUES (?, ...), ...` for `rows` rows of `params` values.
///
/// Rows go in several to a statement: each statement executed costs the writer a fixed share
/// (bindings reset, cursors opened and closed, for `metric_snapshots` its `AUTOINCREMENT`
/// counter read and written back), which one- and three-row requests paid per row. `OR FAIL`
/// rather than the default `ABORT`: on a failed constraint SQLite stops there without undoing
/// the statement's earlier rows, so it keeps no statement journal for a multi-row insert
/// (a copy of every page the statement touches); the writer rolls the whole batch back on any
/// error anyway. For the same reason the rows get no explicit `id`: SQLite keeps a statement
/// journal for any insert that names an `INTEGER PRIMARY KEY` value.
fn insert_sql(columns: &str, params: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; params].join(", "));
    format!(
        "INSERT OR FAIL INTO {columns} VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// The columns and values of a trace summary's insert, shared by [`INSERT_TRACE`] and
/// [`UPSERT_TRACE`].
macro_rules! insert_trace {
    ($verb:literal) => {
        concat!($verb, " INTO traces (trace_id, start_time_unix_nano, end_time_unix_nano,
    duration_ms, model, operation, stream, http_status, status, error_type, input_tokens,
    output_tokens, cached_tokens, reasoning_tokens, ttft_ms, cost_usd, unpriced, user_id,
    session_id, request_count)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, 1)")
    };
}

/// Inserts the summary of a trace with no row yet, the common case (one request per trace), and
/// does nothing if the trace has a row: the writer then merges with [`UPSERT_TRACE`]
/// (`changes()` tells which).
///
/// Not an upsert, because an upsert costs far more here: `traces` has an update trigger (the
/// aggregates of merged rows), so SQLite runs every upsert inside a statement journal and copies
/// each page it touches (the table's and six indexes') before changing it. Measured with perf
/// under load, the journal was about a tenth of the writer's time. `OR IGNORE` applies to the
/// primary key only in effect: the other constraints of `traces` are `NOT NULL` columns, and a
/// row the insert skipped for a NULL fails in the upsert that follows, as it would have here.
/// Its uniqueness check is the lookup a separate "does the row exist" query made before (one
/// random-order B-tree seek per trace, saved).
const INSERT_TRACE: &str = insert_trace!("INSERT OR IGNORE");

/// Inserts a trace summary, or merges it into the row of an earlier request of the same trace.
const UPSERT_TRACE: &str = concat!(
    insert_trace!("INSERT"),
    "
    ON CONFLICT(trace_id) DO UPDATE SET
        start_time_unix_nano = MIN(start_time_unix_nano, excluded.start_time_unix_nano),
        end_time_unix_nano = MAX(end_time_unix_nano, excluded.end_time_unix_nano),
        duration_ms = (MAX(end_time_unix_nano, excluded.end_time_unix_nano)
            - MIN(start_time_unix_nano, excluded.start_time_unix_nano)) / 1e6,
        model = COALESCE(model, excluded.model),
        operation = COALESCE(operation, excluded.operation),
        stream = MAX(stream, excluded.stream),
        http_status = CASE WHEN excluded.status <> 'ok' OR status = 'ok'
            THEN excluded.http_status ELSE http_status END,
        status = CASE WHEN status = 'ok' THEN excluded.status ELSE status END,
        error_type = COALESCE(error_type, excluded.error_type),
        input_tokens = CASE WHEN input_tokens IS NULL AND excluded.input_tokens IS NULL THEN NULL
            ELSE COALESCE(input_tokens, 0) + COALESCE(excluded.input_tokens, 0) END,
        output_tokens = CASE WHEN output_tokens IS NULL AND excluded.output_tokens IS NULL THEN NULL
            ELSE COALESCE(output_tokens, 0) + COALESCE(excluded.output_tokens, 0) END,
        cached_tokens = CASE WHEN cached_tokens IS NULL AND excluded.cached_tokens IS NULL THEN NULL
            ELSE COALESCE(cached_tokens, 0) + COALESCE(excluded.cached_tokens, 0) END,
        reasoning_tokens = CASE WHEN reasoning_tokens IS NULL AND excluded.reasoning_tokens IS NULL
            THEN NULL ELSE COALESCE(reasoning_tokens, 0) + COALESCE(excluded.reasoning_tokens, 0) END,
        ttft_ms = COALESCE(ttft_ms, excluded.ttft_ms),
        cost_usd = CASE WHEN unpriced = 1 OR excluded.unpriced = 1 THEN NULL
            WHEN cost_usd IS NULL AND excluded.cost_usd IS NULL THEN NULL
            ELSE COALESCE(cost_usd, 0) + COALESCE(excluded.cost_usd, 0) END,
        unpriced = MAX(unpriced, excluded.unpriced),
        user_id = COALESCE(user_id, excluded.user_id),
        session_id = COALESCE(session_id, excluded.session_id),
        request_count = request_count + 1"
);

/// Copies a span into `span_lookup` (migration 12); `?1` is its row id in `spans`.
const INSERT_LOOKUP: &str = "INSERT INTO span_lookup (id, trace_id, kind, start_time_unix_nano,
    attributes) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Whether a span is stored (by the `spans_trace` index).
const SPAN_EXISTS: &str = "SELECT 1 FROM spans WHERE trace_id = ?1 AND span_id = ?2";

/// The `cache_storage` statements, run after the insert of each span that carries a cache event
/// (a `client` span whose attribute text names `"gateway.cache.event"`), in this order, with
/// `?1` its attributes and `?2` its trace id: the body of migration 7's trigger, which
/// migration 11 replaced (see [`Marks::cache_event`]).
/// A PATCH or DELETE of a cache with no row yet (its create was never seen): an interval with
/// `create_seen = 0`.
const CACHE_OPEN_UNSEEN: &str = r#"INSERT INTO cache_storage (cache_name, model, tokens, start_unix_nano, end_unix_nano,
        ended_by, usd_per_mtok_hour, create_seen, unpriced_reason, trace_id, closed_trace_id)
    SELECT e.name, e.model, CASE WHEN e.event = 'update' THEN e.tokens END,
        CASE WHEN e.event = 'update' THEN COALESCE(MIN(e.created, e.at), e.at) ELSE e.at END,
        e.at, CASE WHEN e.event = 'delete' THEN 'delete' ELSE 'ttl_update' END,
        CASE WHEN e.event = 'update' THEN e.rate END, 0,
        CASE WHEN e.event = 'delete'
            THEN 'DELETE of a cache whose create the gateway never saw: tokens and life unknown'
            WHEN e.created IS NULL THEN 'PATCH of a cache whose create the gateway never saw: no createTime'
            ELSE e.reason END,
        ?2, ?2
    FROM (SELECT json_extract(?1, '$."gateway.cache.event"') AS event,
            json_extract(?1, '$."gateway.cache.name"') AS name,
            json_extract(?1, '$."gen_ai.response.model"') AS model,
            json_extract(?1, '$."gateway.cache.tokens"') AS tokens,
            json_extract(?1, '$."gateway.cache.at_unix_nano"') AS at,
            json_extract(?1, '$."gateway.cache.create_unix_nano"') AS created,
            json_extract(?1, '$."gateway.cache.storage_usd_per_mtok_hour"') AS rate,
            json_extract(?1, '$."gateway.cache.unpriced_reason"') AS reason) AS e
    WHERE e.event IN ('update', 'delete') AND e.name IS NOT NULL AND e.at IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM cache_storage WHERE cache_name = e.name)"#;

/// A PATCH or DELETE closes the open interval of its cache.
const CACHE_CLOSE: &str = r#"UPDATE cache_storage SET
        end_unix_nano = MAX(start_unix_nano,
            json_extract(?1, '$."gateway.cache.at_unix_nano"')),
        ended_by = CASE json_extract(?1, '$."gateway.cache.event"')
            WHEN 'delete' THEN 'delete' ELSE 'ttl_update' END,
        unpriced_reason = CASE WHEN tokens IS NOT NULL AND usd_per_mtok_hour IS NOT NULL
            THEN NULL ELSE unpriced_reason END,
        closed_trace_id = ?2
    WHERE cache_name = json_extract(?1, '$."gateway.cache.name"')
        AND json_extract(?1, '$."gateway.cache.event"') IN ('update', 'delete')
        AND ended_by IS NULL
        AND (end_unix_nano IS NULL OR end_unix_nano >
            json_extract(?1, '$."gateway.cache.at_unix_nano"'))"#;

/// A create, or a PATCH, opens the next interval, up to its `expireTime`.
const CACHE_OPEN: &str = r#"INSERT INTO cache_storage (cache_name, model, tokens, start_unix_nano, end_unix_nano,
        ended_by, usd_per_mtok_hour, create_seen, unpriced_reason, trace_id)
    SELECT e.name, e.model, e.tokens, e.at, e.expire, NULL, e.rate,
        CASE WHEN e.event = 'create' THEN 1 ELSE COALESCE((SELECT MAX(create_seen)
            FROM cache_storage WHERE cache_name = e.name), 0) END,
        COALESCE(e.reason, CASE WHEN e.rate IS NULL THEN 'no storage rate'
            WHEN e.tokens IS NULL THEN 'no token count'
            WHEN e.expire IS NULL THEN 'no expireTime' END),
        ?2
    FROM (SELECT json_extract(?1, '$."gateway.cache.event"') AS event,
            json_extract(?1, '$."gateway.cache.name"') AS name,
            json_extract(?1, '$."gen_ai.response.model"') AS model,
            json_extract(?1, '$."gateway.cache.tokens"') AS tokens,
            json_extract(?1, '$."gateway.cache.at_unix_nano"') AS at,
            json_extract(?1, '$."gateway.cache.expire_unix_nano"') AS expire,
            json_extract(?1, '$."gateway.cache.storage_usd_per_mtok_hour"') AS rate,
            json_extract(?1, '$."gateway.cache.unpriced_reason"') AS reason) AS e
    WHERE e.event IN ('create', 'update') AND e.name IS NOT NULL AND e.at IS NOT NULL"#;

/// What the writer does beside a span's insert, from its attribute text.
struct Marks {
    /// The span belongs in `span_lookup`: its attribute text satisfies the `WHERE` of one of
    /// the lookup indexes of migration 12, or names a Live turn (the live feed's test,
    /// `query::live`), `instr(attributes, needle) > 0` being a byte search. The needles are
    /// those `WHERE`s', word for word (a test compares the copies with what the schema keeps).
    looked_up: bool,
    /// The span's insert fires the cache-storage statements: a `client` span naming
    /// `"gateway.cache.event"`, the `WHEN` of migration 7's trigger. Migration 11 moved that
    /// trigger here, because SQLite ran it for every span insert: a trigger program frame
    /// allocated and zeroed and a statement journal kept for each of the four spans of a
    /// request, for the one in many thousands that names a cache.
    cache_event: bool,
    /// An application's span, received over OTLP: its attribute text names
    /// `"gateway.span.source"` (the `request_index` of metric rows does not count it).
    received: bool,
}

/// The [`Marks`] of a span. Five of the needles begin with `"gateway.`, which cannot overlap
/// itself: one search finds every place where one of them may start, and each is compared
/// there. Two searches more for the others, where there were seven in all.
fn marks(s: &SpanRow) -> Marks {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    static FINDERS: LazyLock<[Finder<'static>; 3]> = LazyLock::new(|| {
        [GATEWAY, PREVIOUS_RESPONSE, CONVERSATION].map(|n| Finder::new(n.as_bytes()))
    });
    let [gateway, previous, conversation] = &*FINDERS;
    let text = s.attributes_json.as_bytes();
    let (mut kept, mut source, mut cache) = (false, false, false);
    for at in gateway.find_iter(text) {
        let rest = &text[at + GATEWAY.len()..];
        kept |= GATEWAY_KEPT.iter().any(|k| rest.starts_with(k.as_bytes()));
        source |= rest.starts_with(GATEWAY_SOURCE.as_bytes());
        cache |= rest.starts_with(GATEWAY_CACHE_EVENT.as_bytes());
    }
    Marks {
        looked_up: kept
            || previous.find(text).is_some()
            || (source && conversation.find(text).is_some()),
        cache_event: cache && s.kind == "client",
        received: source,
    }
}

/// The needles [`marks`] searches: `"gateway.` followed by one of [`GATEWAY_KEPT`]
/// (`span_lookup_interaction_id`, `span_lookup_batch_start`, a Live turn), by
/// [`GATEWAY_SOURCE`] with [`CONVERSATION`] (`span_lookup_conversation`) or by
/// [`GATEWAY_CACHE_EVENT`] (a cache event); and [`PREVIOUS_RESPONSE`]
/// (`span_lookup_previous_interaction_id`).
const GATEWAY: &str = "\"gateway.";
const GATEWAY_KEPT: [&str; 3] = ["interaction.status\"", "batch.", "live.turn.index\""];
const GATEWAY_SOURCE: &str = "span.source\"";
const GATEWAY_CACHE_EVENT: &str = "cache.event\"";
const CONVERSATION: &str = "\"gen_ai.conversation.id\"";
const PREVIOUS_RESPONSE: &str = "\"gen_ai.request.previous_response.id\"";

impl Store {
    /// Whether the span `span_id` of `trace_id` is stored. A batch is one transaction, so one
    /// span of it tells whether the whole batch is in this file.
    pub fn contains_span(&self, trace_id: &str, span_id: &str) -> Result<bool> {
        self.conn
            .prepare_cached(SPAN_EXISTS)
            .and_then(|mut stmt| stmt.exists([trace_id, span_id]))
            .map_err(|e| self.err(e))
    }

    /// Copies what the WAL holds into the database file as far as readers allow, without
    /// waiting for them (`PRAGMA wal_checkpoint(PASSIVE)`). The span exporter calls it before
    /// letting go of a file that was moved away, so the moved file holds what was written.
    pub fn checkpoint(&self) -> Result<()> {
        crate::checkpoint::passive(&self.conn).map_err(|e| self.err(e))
    }

    /// Writes spans and trace summaries in one transaction. On error nothing of the batch is kept.
    pub fn write_batch(&mut self, spans: &[SpanRow], traces: &[TraceRow]) -> Result<()> {
        self.write_all(spans, traces, &[])
    }

    /// Writes spans, trace summaries and metric snapshots in one transaction.
    pub fn write_all(
        &mut self,
        spans: &[SpanRow],
        traces: &[TraceRow],
        metrics: &[MetricRow],
    ) -> Result<()> {
        let Store {
            statements,
            conn,
            path,
            ..
        } = self;
        let err = |e| crate::sqlite_err(path, e);
        // Immediate: the batch holds the write lock from its start, so the span ids it reads
        // below are still free when it inserts them.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        {
            let first_id: i64 = if spans.is_empty() {
                0
            } else {
                tx.prepare_cached(NEXT_SPAN_ID)
                    .and_then(|mut s| s.query_row([], |r| r.get(0)))
                    .map_err(err)?
            };
            insert_rows(
                &tx,
                &mut statements.spans,
                Table::Spans,
                spans,
                bind_span,
                Some(first_id),
            )
            .map_err(err)?;
            let mut roots = crate::request_index::Roots::default();
            for (i, s) in spans.iter().enumerate() {
                let rowid = first_id + i as i64;
                let marks = marks(s);
                roots.span_written(s, rowid, marks.received);
                if marks.looked_up {
                    tx.prepare_cached(INSERT_LOOKUP)
                        .and_then(|mut c| {
                            c.execute(params![
                                rowid,
                                s.trace_id,
                                s.kind,
                                s.start_time_unix_nano,
                                s.attributes_json
                            ])
                        })
                        .map_err(err)?;
                }
                if marks.cache_event {
                    for sql in [CACHE_OPEN_UNSEEN, CACHE_CLOSE, CACHE_OPEN] {
                        tx.prepare_cached(sql)
                            .and_then(|mut c| c.execute(params![s.attributes_json, s.trace_id]))
                            .map_err(err)?;
                    }
                }
            }
            let mut pending = crate::aggregates::Pending::default();
            // A trace's first row in the batch is inserted unless the file has its row; the
            // others merge into it (the update trigger), after the new rows' aggregates are
            // applied, in their order in the batch.
            let insert = prepared(&mut statements.trace, &tx, INSERT_TRACE).map_err(err)?;
            let mut seen =
                <foldhash::HashSet<&str> as foldhash::HashSetExt>::with_capacity(traces.len());
            let mut merges = Vec::new();
            for t in traces {
                if seen.insert(t.trace_id.as_str()) && execute_trace(insert, t).map_err(err)? == 1 {
                    pending.add(t);
                } else {
                    merges.push(t);
                }
            }
            pending.apply(&tx).map_err(err)?;
            if !merges.is_empty() {
                let upsert =
                    prepared(&mut statements.trace_merge, &tx, UPSERT_TRACE).map_err(err)?;
                for t in merges {
                    execute_trace(upsert, t).map_err(err)?;
                }
            }
            let mut request_index = Vec::with_capacity(metrics.len());
            for m in metrics {
                request_index.push(match &m.request_span_id {
                    None => None,
                    Some(root) => Some(
                        roots
                            .index(&tx, &mut statements.servers_before, &m.trace_id, root)
                            .map_err(err)?,
                    ),
                });
            }
            insert_rows(
                &tx,
                &mut statements.metrics,
                Table::Metrics,
                metrics,
                |b, at, i, m| bind_metric(b, at, request_index[i], m),
                None,
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}

/// The writer's statements run for each request, prepared on first use; they bind text in
/// place ([`StaticStatement`]).
#[derive(Debug, Default)]
pub(crate) struct Statements {
    /// [`insert_rows`]' statements, one per chunk size (in the order of [`Table::statements`]).
    spans: Vec<Option<StaticStatement>>,
    metrics: Vec<Option<StaticStatement>>,
    /// [`INSERT_TRACE`] and [`UPSERT_TRACE`].
    trace: Option<StaticStatement>,
    trace_merge: Option<StaticStatement>,
    /// [`crate::request_index`]'s count of a trace's earlier server spans.
    pub(crate) servers_before: Option<StaticStatement>,
}

/// The statement kept in `slot`, prepared from `sql` on `conn` the first time.
pub(crate) fn prepared<'s>(
    slot: &'s mut Option<StaticStatement>,
    conn: &rusqlite::Connection,
    sql: &str,
) -> rusqlite::Result<&'s mut StaticStatement> {
    match slot {
        Some(stmt) => Ok(stmt),
        None => Ok(slot.insert(StaticStatement::prepare(conn, sql)?)),
    }
}

/// The tables the writer inserts into several rows at a time.
#[derive(Clone, Copy)]
enum Table {
    Spans,
    Metrics,
}

/// The chunk sizes of [`insert_rows`], largest first: a power of two, its halves down to one.
fn sizes(largest: usize) -> impl Iterator<Item = usize> {
    std::iter::successors(Some(largest), |&n| (n > 1).then_some(n / 2))
}

impl Table {
    /// The statements for chunks of each size of [`sizes`], and the parameters per row.
    fn statements(self) -> (&'static [(usize, String)], usize) {
        use std::sync::LazyLock;
        static SPANS: LazyLock<Vec<(usize, String)>> = LazyLock::new(|| {
            sizes(SPAN_CHUNK)
                .map(|n| (n, insert_sql(SPAN_COLUMNS, SPAN_PARAMS, n)))
                .collect()
        });
        static METRICS: LazyLock<Vec<(usize, String)>> = LazyLock::new(|| {
            sizes(METRIC_CHUNK)
                .map(|n| (n, insert_sql(METRIC_COLUMNS, METRIC_PARAMS, n)))
                .collect()
        });
        match self {
            Self::Spans => (&SPANS, SPAN_PARAMS),
            Self::Metrics => (&METRICS, METRIC_PARAMS),
        }
    }
}

/// Inserts `rows` in order: as many chunks of the largest size as fit, then at most one of
/// each smaller size (in binary: 39 span rows go as 16, 16, 4, 2, 1), so that a batch takes few
/// statements whatever its size. `bind(binder, first parameter, index in rows, row)` binds
/// one row's values. With `first_id` (spans: see [`NEXT_SPAN_ID`]) the rows must get that id
/// and the ones after it: after each execution the last row's is compared with SQLite's, and a
/// difference fails the batch.
fn insert_rows<'r, T>(
    tx: &rusqlite::Transaction<'_>,
    kept: &mut Vec<Option<StaticStatement>>,
    table: Table,
    rows: &'r [T],
    bind: impl Fn(&mut Binder<'r, '_>, usize, usize, &'r T) -> rusqlite::Result<()>,
    first_id: Option<i64>,
) -> rusqlite::Result<()> {
    let check = |last: usize| match first_id.map(|first| first + last as i64) {
        Some(want) if tx.last_insert_rowid() != want => {
            Err(rusqlite::Error::ToSqlConversionFailure(
                format!(
                    "row {last} got id {}, not the next id {want}: the batch is not written",
                    tx.last_insert_rowid()
                )
                .into(),
            ))
        }
        _ => Ok(()),
    };
    let (statements, params) = table.statements();
    kept.resize_with(statements.len(), || None);
    let mut done = 0;
    for ((size, sql), slot) in statements.iter().zip(kept.iter_mut()) {
        let whole = (rows.len() - done) / size * size;
        if whole == 0 {
            continue;
        }
        let stmt = prepared(slot, tx, sql)?;
        for group in rows[done..done + whole].chunks_exact(*size) {
            stmt.run(|b| {
                for (j, row) in group.iter().enumerate() {
                    bind(b, j * params + 1, done + j, row)?;
                }
                Ok(())
            })?;
            done += size;
            check(done - 1)?;
        }
    }
    Ok(())
}

/// Binds the values of span `s` from parameter `at` on.
fn bind_span<'r>(
    b: &mut Binder<'r, '_>,
    at: usize,
    _: usize,
    s: &'r SpanRow,
) -> rusqlite::Result<()> {
    b.text(at, &s.span_id)?;
    b.text(at + 1, &s.trace_id)?;
    b.opt_text(at + 2, s.parent_span_id.as_deref())?;
    b.text(at + 3, &s.name)?;
    b.text(at + 4, s.kind)?;
    b.int(at + 5, s.start_time_unix_nano)?;
    b.int(at + 6, s.end_time_unix_nano)?;
    b.text(at + 7, s.status_code)?;
    b.opt_text(at + 8, s.status_message.as_deref())?;
    b.text(at + 9, &s.attributes_json)?;
    b.text(at + 10, &s.events_json)
}

/// Binds the values of metric row `m`, with its `request_index`, from parameter `at` on.
fn bind_metric<'r>(
    b: &mut Binder<'r, '_>,
    at: usize,
    request_index: Option<i64>,
    m: &'r MetricRow,
) -> rusqlite::Result<()> {
    b.text(at, &m.trace_id)?;
    b.text(at + 1, &m.metric)?;
    b.real(at + 2, m.value)?;
    b.opt_real(at + 3, m.threshold)?;
    b.int(at + 4, i64::from(m.breached))?;
    b.opt_text(at + 5, m.model.as_deref())?;
    b.int(at + 6, m.created_at_unix_nano)?;
    b.opt_text(at + 7, m.span_id.as_deref())?;
    b.opt_text(at + 8, m.llm_span_id.as_deref())?;
    b.opt_int(at + 9, request_index)
}

/// Runs [`INSERT_TRACE`] or [`UPSERT_TRACE`] for one trace summary; the rows changed.
fn execute_trace(stmt: &mut StaticStatement, t: &TraceRow) -> rusqlite::Result<u64> {
    stmt.run(|b| {
        b.text(1, &t.trace_id)?;
        b.int(2, t.start_time_unix_nano)?;
        b.int(3, t.end_time_unix_nano)?;
        b.real(4, t.duration_ms())?;
        b.opt_text(5, t.model.as_deref())?;
        b.opt_text(6, t.operation.as_deref())?;
        b.int(7, i64::from(t.stream))?;
        b.opt_int(8, t.http_status)?;
        b.text(9, &t.status)?;
        b.opt_text(10, t.error_type.as_deref())?;
        b.opt_int(11, t.input_tokens)?;
        b.opt_int(12, t.output_tokens)?;
        b.opt_int(13, t.cached_tokens)?;
        b.opt_int(14, t.reasoning_tokens)?;
        b.opt_real(15, t.ttft_ms)?;
        b.opt_real(16, t.cost_usd)?;
        b.int(17, i64::from(t.unpriced))?;
        b.opt_text(18, t.user_id.as_deref())?;
        b.opt_text(19, t.session_id.as_deref())
    })
}

impl Store {
    /// Replaces SQLite's `instr(X, Y)` on this connection (every [`Store::open`]) with the same
    /// function over a vectorised byte search.
    ///
    /// Each insert into `span_lookup` evaluates `instr` over the span's attribute text in the
    /// `WHERE` of its partial indexes (migration 12; before it, every insert into `spans` did,
    /// with the `cache_storage` trigger's `WHEN`). SQLite's own `instr` steps through the text
    /// one character at a time; for the four spans of a request that was 30% of the writer's
    /// instructions (measured with callgrind, see docs/benchmarks.md). The result is the same
    /// in every case: NULL when an argument is NULL, 1 for an empty needle, else the 1-based
    /// position of the first occurrence in characters (in bytes when both arguments are
    /// BLOBs), 0 when there is none; numbers are searched as SQLite writes them. The schema,
    /// its indexes and every query stay as they are; the API's read-only connections keep the
    /// built-in.
    pub(crate) fn use_fast_instr(&self) -> Result<()> {
        use rusqlite::functions::FunctionFlags;
        // REAL arguments (never met in the gateway's schema) are written as text by SQLite
        // itself, on a private in-memory connection, so that they match to the digit.
        let reals: std::sync::Mutex<Option<rusqlite::Connection>> = std::sync::Mutex::new(None);
        // The searchers of the needles met so far (a handful: the schema's constants), built
        // once rather than on every call; bounded, in case a query passes many.
        let finders: std::sync::Mutex<Vec<memchr::memmem::Finder<'static>>> =
            std::sync::Mutex::new(Vec::new());
        self.conn
            .create_scalar_function(
                "instr",
                2,
                FunctionFlags::SQLITE_UTF8
                    | FunctionFlags::SQLITE_DETERMINISTIC
                    | FunctionFlags::SQLITE_INNOCUOUS,
                move |ctx| {
                    let real = |r: f64| -> rusqlite::Result<Vec<u8>> {
                        let mut slot = reals.lock().unwrap_or_else(|e| e.into_inner());
                        if slot.is_none() {
                            *slot = Some(rusqlite::Connection::open_in_memory()?);
                        }
                        let conn = slot.as_ref().ok_or(rusqlite::Error::InvalidQuery)?;
                        conn.query_row("SELECT CAST(?1 AS TEXT)", [r], |row| {
                            row.get::<_, String>(0)
                        })
                        .map(String::into_bytes)
                    };
                    let find = |h: &[u8], n: &[u8]| -> Option<usize> {
                        let mut cache = finders.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(f) = cache.iter().find(|f| f.needle() == n) {
                            return f.find(h);
                        }
                        let f = memchr::memmem::Finder::new(n).into_owned();
                        let at = f.find(h);
                        if cache.len() < MAX_FINDERS {
                            cache.push(f);
                        }
                        at
                    };
                    instr(ctx.get_raw(0), ctx.get_raw(1), real, find)
                },
            )
            .map_err(|e| self.err(e))
    }
}

/// Needles whose searchers [`Store::use_fast_instr`] keeps.
const MAX_FINDERS: usize = 32;

/// SQLite's `instr`, see [`Store::use_fast_instr`]; `real` writes a REAL as SQLite does, `find`
/// is the byte search.
fn instr(
    haystack: rusqlite::types::ValueRef<'_>,
    needle: rusqlite::types::ValueRef<'_>,
    real: impl Fn(f64) -> rusqlite::Result<Vec<u8>>,
    find: impl Fn(&[u8], &[u8]) -> Option<usize>,
) -> rusqlite::Result<Option<i64>> {
    use rusqlite::types::ValueRef;
    use std::borrow::Cow;
    fn bytes<'a>(
        v: ValueRef<'a>,
        real: &impl Fn(f64) -> rusqlite::Result<Vec<u8>>,
    ) -> rusqlite::Result<Option<Cow<'a, [u8]>>> {
        Ok(Some(match v {
            ValueRef::Null => return Ok(None),
            ValueRef::Text(t) | ValueRef::Blob(t) => Cow::Borrowed(t),
            ValueRef::Integer(i) => Cow::Owned(i.to_string().into_bytes()),
            ValueRef::Real(r) => Cow::Owned(real(r)?),
        }))
    }
    let both_blobs = matches!((haystack, needle), (ValueRef::Blob(_), ValueRef::Blob(_)));
    let (Some(h), Some(n)) = (bytes(haystack, &real)?, bytes(needle, &real)?) else {
        return Ok(None);
    };
    if n.is_empty() {
        return Ok(Some(1));
    }
    let Some(at) = find(&h, &n) else {
        return Ok(Some(0));
    };
    let position = if both_blobs {
        at
    } else {
        // Characters before the match: every byte that does not continue a UTF-8 sequence.
        h[..at].iter().filter(|&&b| b & 0xC0 != 0x80).count()
    };
    Ok(Some(position as i64 + 1))
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
