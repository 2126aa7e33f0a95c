//! Versioned schema migrations, and the schema fingerprint checked before any of them runs.
//!
//! Applied versions are recorded in `gateway_migrations`, not in `PRAGMA user_version`, because the
//! file is shared with sibling systems (a drift detector writes `drift_snapshots` here) and the
//! user version belongs to the whole file. A migration only creates or alters tables it owns.
//!
//! The file is an integration point, so a table merely *named* like one of ours is not taken for
//! ours: [`check`] runs before anything is written. The gateway creates or migrates its tables
//! only in a file holding none of [`OWN_TABLES`], or in one whose `gateway_migrations` records a
//! version and whose tables have exactly the columns (`PRAGMA table_info`) that migrations
//! 1..=version create. Anything else is [`StoreError::Incompatible`], naming the table and the
//! difference. The expected columns are not written out twice: they are read back from the
//! migrations applied to an in-memory database, once per process.

use crate::{Result, StoreError};
use rusqlite::{Connection, params};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

/// The tables the gateway owns, and the only ones it creates, alters or counts.
pub const OWN_TABLES: [&str; 8] = [
    "gateway_migrations",
    "traces",
    "spans",
    "metric_snapshots",
    "latency_hist",
    "cost_hourly",
    "cache_storage",
    "span_lookup",
];

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS gateway_migrations (
    version INTEGER PRIMARY KEY,
    applied_at_unix_nano INTEGER NOT NULL
)";

/// Each entry is one migration; its version is its position plus one. Append only.
const MIGRATIONS: &[&str] = &[
    // 1: traces and spans.
    r#"
    CREATE TABLE IF NOT EXISTS traces (
        trace_id TEXT PRIMARY KEY,
        start_time_unix_nano INTEGER NOT NULL,
        end_time_unix_nano INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        model TEXT,
        operation TEXT,
        stream INTEGER NOT NULL DEFAULT 0,
        http_status INTEGER,
        status TEXT NOT NULL,
        error_type TEXT,
        input_tokens INTEGER,
        output_tokens INTEGER,
        cached_tokens INTEGER,
        reasoning_tokens INTEGER,
        ttft_ms REAL,
        cost_usd REAL,
        unpriced INTEGER NOT NULL DEFAULT 0,
        user_id TEXT,
        session_id TEXT,
        request_count INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX IF NOT EXISTS traces_start ON traces(start_time_unix_nano);
    CREATE INDEX IF NOT EXISTS traces_model_start ON traces(model, start_time_unix_nano);
    CREATE TABLE IF NOT EXISTS spans (
        id INTEGER PRIMARY KEY,
        span_id TEXT NOT NULL,
        trace_id TEXT NOT NULL,
        parent_span_id TEXT,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        start_time_unix_nano INTEGER NOT NULL,
        end_time_unix_nano INTEGER NOT NULL,
        status_code TEXT NOT NULL,
        status_message TEXT,
        attributes TEXT NOT NULL,
        events TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS spans_trace ON spans(trace_id);
    "#,
    // 2: metric snapshots, the feed of the alerting engine.
    r#"
    CREATE TABLE IF NOT EXISTS metric_snapshots (
        id INTEGER PRIMARY KEY,
        trace_id TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        threshold REAL,
        breached INTEGER NOT NULL,
        model TEXT,
        created_at_unix_nano INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS metric_snapshots_breached
        ON metric_snapshots(breached, created_at_unix_nano);
    CREATE INDEX IF NOT EXISTS metric_snapshots_trace ON metric_snapshots(trace_id);
    "#,
    // 3: read-side indexes and pre-aggregates for the API, maintained by triggers so that the
    // gateway's writer stays the only writer. `latency_hist` counts traces per (hour or day,
    // model, metric, value bucket); the bucket bounds are mirrored by `query::buckets`.
    // `cost_hourly` sums cost and tokens per (hour, model). Both are backfilled here.
    r#"
    CREATE INDEX IF NOT EXISTS traces_duration ON traces(duration_ms, start_time_unix_nano, model);
    CREATE INDEX IF NOT EXISTS traces_ttft ON traces(ttft_ms, start_time_unix_nano, model)
        WHERE ttft_ms IS NOT NULL;
    CREATE TABLE IF NOT EXISTS latency_hist (
        width INTEGER NOT NULL,
        t INTEGER NOT NULL,
        model TEXT NOT NULL,
        metric INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (width, t, model, metric, bucket)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS cost_hourly (
        t INTEGER NOT NULL,
        model TEXT NOT NULL,
        requests INTEGER NOT NULL,
        priced INTEGER NOT NULL,
        unpriced INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        usd REAL NOT NULL,
        PRIMARY KEY (t, model)
    ) WITHOUT ROWID;
    INSERT INTO latency_hist (width, t, model, metric, bucket, n)
    SELECT w.width, v.s / w.ns, v.m, 0, CASE WHEN v.ms < 100 THEN MAX(v.ms, 0)
            WHEN v.ms < 1000 THEN 90 + v.ms / 10
            WHEN v.ms < 10000 THEN 180 + v.ms / 100
            WHEN v.ms < 100000 THEN 270 + v.ms / 1000
            WHEN v.ms < 1000000 THEN 360 + v.ms / 10000
            ELSE 460 END, COUNT(*)
    FROM (SELECT start_time_unix_nano AS s, COALESCE(model, '') AS m, CAST(duration_ms AS INTEGER) AS ms
          FROM traces WHERE duration_ms IS NOT NULL) AS v,
        (SELECT 0 AS width, 3600000000000 AS ns UNION ALL SELECT 1, 86400000000000) AS w
    GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO latency_hist (width, t, model, metric, bucket, n)
    SELECT w.width, v.s / w.ns, v.m, 1, CASE WHEN v.ms < 100 THEN MAX(v.ms, 0)
            WHEN v.ms < 1000 THEN 90 + v.ms / 10
            WHEN v.ms < 10000 THEN 180 + v.ms / 100
            WHEN v.ms < 100000 THEN 270 + v.ms / 1000
            WHEN v.ms < 1000000 THEN 360 + v.ms / 10000
            ELSE 460 END, COUNT(*)
    FROM (SELECT start_time_unix_nano AS s, COALESCE(model, '') AS m, CAST(ttft_ms AS INTEGER) AS ms
          FROM traces WHERE ttft_ms IS NOT NULL) AS v,
        (SELECT 0 AS width, 3600000000000 AS ns UNION ALL SELECT 1, 86400000000000) AS w
    GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO cost_hourly (t, model, requests, priced, unpriced, input_tokens, output_tokens, usd)
    SELECT start_time_unix_nano / 3600000000000, COALESCE(model, ''), COUNT(*),
        SUM(cost_usd IS NOT NULL), SUM((traces.unpriced = 1 OR (traces.cost_usd IS NULL AND COALESCE(traces.operation IN ('generate_content', 'chat', 'embeddings'), 0)))),
        SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)), SUM(COALESCE(cost_usd, 0.0))
    FROM traces GROUP BY 1, 2;
    CREATE TRIGGER IF NOT EXISTS traces_aggregate_insert AFTER INSERT ON traces BEGIN
        INSERT INTO latency_hist (width, t, model, metric, bucket, n)
        SELECT w.width, NEW.start_time_unix_nano / w.ns, COALESCE(NEW.model, ''), v.metric,
            CASE WHEN v.ms < 100 THEN MAX(v.ms, 0)
            WHEN v.ms < 1000 THEN 90 + v.ms / 10
            WHEN v.ms < 10000 THEN 180 + v.ms / 100
            WHEN v.ms < 100000 THEN 270 + v.ms / 1000
            WHEN v.ms < 1000000 THEN 360 + v.ms / 10000
            ELSE 460 END, 1
        FROM (SELECT 0 AS width, 3600000000000 AS ns UNION ALL SELECT 1, 86400000000000) AS w,
            (SELECT 0 AS metric, CAST(NEW.duration_ms AS INTEGER) AS ms
             UNION ALL SELECT 1, CAST(NEW.ttft_ms AS INTEGER) WHERE NEW.ttft_ms IS NOT NULL) AS v
        WHERE 1
        ON CONFLICT (width, t, model, metric, bucket) DO UPDATE SET n = n + excluded.n;
        INSERT INTO cost_hourly (t, model, requests, priced, unpriced, input_tokens, output_tokens, usd)
        VALUES (NEW.start_time_unix_nano / 3600000000000, COALESCE(NEW.model, ''), 1,
            1 * (NEW.cost_usd IS NOT NULL), 1 * (NEW.unpriced = 1 OR (NEW.cost_usd IS NULL AND COALESCE(NEW.operation IN ('generate_content', 'chat', 'embeddings'), 0))),
            1 * COALESCE(NEW.input_tokens, 0), 1 * COALESCE(NEW.output_tokens, 0),
            1 * COALESCE(NEW.cost_usd, 0.0))
        ON CONFLICT (t, model) DO UPDATE SET requests = requests + excluded.requests,
            priced = priced + excluded.priced, unpriced = unpriced + excluded.unpriced,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens, usd = usd + excluded.usd;
    END;
    CREATE TRIGGER IF NOT EXISTS traces_aggregate_update AFTER UPDATE OF start_time_unix_nano,
        duration_ms, ttft_ms, model, operation, cost_usd, unpriced, input_tokens, output_tokens
        ON traces BEGIN
        INSERT INTO latency_hist (width, t, model, metric, bucket, n)
        SELECT w.width, OLD.start_time_unix_nano / w.ns, COALESCE(OLD.model, ''), v.metric,
            CASE WHEN v.ms < 100 THEN MAX(v.ms, 0)
            WHEN v.ms < 1000 THEN 90 + v.ms / 10
            WHEN v.ms < 10000 THEN 180 + v.ms / 100
            WHEN v.ms < 100000 THEN 270 + v.ms / 1000
            WHEN v.ms < 1000000 THEN 360 + v.ms / 10000
            ELSE 460 END, -1
        FROM (SELECT 0 AS width, 3600000000000 AS ns UNION ALL SELECT 1, 86400000000000) AS w,
            (SELECT 0 AS metric, CAST(OLD.duration_ms AS INTEGER) AS ms
             UNION ALL SELECT 1, CAST(OLD.ttft_ms AS INTEGER) WHERE OLD.ttft_ms IS NOT NULL) AS v
        WHERE 1
        ON CONFLICT (width, t, model, metric, bucket) DO UPDATE SET n = n + excluded.n;
        INSERT INTO latency_hist (width, t, model, metric, bucket, n)
        SELECT w.width, NEW.start_time_unix_nano / w.ns, COALESCE(NEW.model, ''), v.metric,
            CASE WHEN v.ms < 100 THEN MAX(v.ms, 0)
            WHEN v.ms < 1000 THEN 90 + v.ms / 10
            WHEN v.ms < 10000 THEN 180 + v.ms / 100
            WHEN v.ms < 100000 THEN 270 + v.ms / 1000
            WHEN v.ms < 1000000 THEN 360 + v.ms / 10000
            ELSE 460 END, 1
        FROM (SELECT 0 AS width, 3600000000000 AS ns UNION ALL SELECT 1, 86400000000000) AS w,
            (SELECT 0 AS metric, CAST(NEW.duration_ms AS INTEGER) AS ms
             UNION ALL SELECT 1, CAST(NEW.ttft_ms AS INTEGER) WHERE NEW.ttft_ms IS NOT NULL) AS v
        WHERE 1
        ON CONFLICT (width, t, model, metric, bucket) DO UPDATE SET n = n + excluded.n;
        INSERT INTO cost_hourly (t, model, requests, priced, unpriced, input_tokens, output_tokens, usd)
        VALUES (OLD.start_time_unix_nano / 3600000000000, COALESCE(OLD.model, ''), -1,
            -1 * (OLD.cost_usd IS NOT NULL), -1 * (OLD.unpriced = 1 OR (OLD.cost_usd IS NULL AND COALESCE(OLD.operation IN ('generate_content', 'chat', 'embeddings'), 0))),
            -1 * COALESCE(OLD.input_tokens, 0), -1 * COALESCE(OLD.output_tokens, 0),
            -1 * COALESCE(OLD.cost_usd, 0.0))
        ON CONFLICT (t, model) DO UPDATE SET requests = requests + excluded.requests,
            priced = priced + excluded.priced, unpriced = unpriced + excluded.unpriced,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens, usd = usd + excluded.usd;
        INSERT INTO cost_hourly (t, model, requests, priced, unpriced, input_tokens, output_tokens, usd)
        VALUES (NEW.start_time_unix_nano / 3600000000000, COALESCE(NEW.model, ''), 1,
            1 * (NEW.cost_usd IS NOT NULL), 1 * (NEW.unpriced = 1 OR (NEW.cost_usd IS NULL AND COALESCE(NEW.operation IN ('generate_content', 'chat', 'embeddings'), 0))),
            1 * COALESCE(NEW.input_tokens, 0), 1 * COALESCE(NEW.output_tokens, 0),
            1 * COALESCE(NEW.cost_usd, 0.0))
        ON CONFLICT (t, model) DO UPDATE SET requests = requests + excluded.requests,
            priced = priced + excluded.priced, unpriced = unpriced + excluded.unpriced,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens, usd = usd + excluded.usd;
    END;
    CREATE TRIGGER IF NOT EXISTS traces_aggregate_delete AFTER DELETE ON traces BEGIN
        INSERT INTO latency_hist (width, t, model, metric, bucket, n)
        SELECT w.width, OLD.start_time_unix_nano / w.ns, COALESCE(OLD.model, ''), v.metric,
            CASE WHEN v.ms < 100 THEN MAX(v.ms, 0)
            WHEN v.ms < 1000 THEN 90 + v.ms / 10
            WHEN v.ms < 10000 THEN 180 + v.ms / 100
            WHEN v.ms < 100000 THEN 270 + v.ms / 1000
            WHEN v.ms < 1000000 THEN 360 + v.ms / 10000
            ELSE 460 END, -1
        FROM (SELECT 0 AS width, 3600000000000 AS ns UNION ALL SELECT 1, 86400000000000) AS w,
            (SELECT 0 AS metric, CAST(OLD.duration_ms AS INTEGER) AS ms
             UNION ALL SELECT 1, CAST(OLD.ttft_ms AS INTEGER) WHERE OLD.ttft_ms IS NOT NULL) AS v
        WHERE 1
        ON CONFLICT (width, t, model, metric, bucket) DO UPDATE SET n = n + excluded.n;
        INSERT INTO cost_hourly (t, model, requests, priced, unpriced, input_tokens, output_tokens, usd)
        VALUES (OLD.start_time_unix_nano / 3600000000000, COALESCE(OLD.model, ''), -1,
            -1 * (OLD.cost_usd IS NOT NULL), -1 * (OLD.unpriced = 1 OR (OLD.cost_usd IS NULL AND COALESCE(OLD.operation IN ('generate_content', 'chat', 'embeddings'), 0))),
            -1 * COALESCE(OLD.input_tokens, 0), -1 * COALESCE(OLD.output_tokens, 0),
            -1 * COALESCE(OLD.cost_usd, 0.0))
        ON CONFLICT (t, model) DO UPDATE SET requests = requests + excluded.requests,
            priced = priced + excluded.priced, unpriced = unpriced + excluded.unpriced,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens, usd = usd + excluded.usd;
    END;
    "#,
    // 4: the writer maintains the aggregates of inserted traces in batches (see
    // `aggregates.rs`): one upsert per distinct bucket per transaction instead of five per row.
    r#"
    DROP TRIGGER IF EXISTS traces_aggregate_insert;
    "#,
    // 5: `metric_snapshots` is the alert feed read with an id cursor, so its ids are never
    // reused (AUTOINCREMENT: an emptied table does not restart at 1), and each row names the
    // span that carried it (`span_id`, the trace's `post_processing` span; its sibling with
    // `gateway.step = 'llm_call'` is the LLM span). A table rebuild keeps rows, ids and indexes;
    // `legacy_alter_table` keeps the rename from rewriting or checking a sibling's views on
    // `metric_snapshots`, which go on reading the table by name.
    r#"
    PRAGMA legacy_alter_table = ON;
    CREATE TABLE metric_snapshots_v5 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        trace_id TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        threshold REAL,
        breached INTEGER NOT NULL,
        model TEXT,
        created_at_unix_nano INTEGER NOT NULL,
        span_id TEXT
    );
    INSERT INTO metric_snapshots_v5 (id, trace_id, metric, value, threshold, breached, model,
        created_at_unix_nano)
    SELECT id, trace_id, metric, value, threshold, breached, model, created_at_unix_nano
    FROM metric_snapshots ORDER BY id;
    DROP TABLE metric_snapshots;
    ALTER TABLE metric_snapshots_v5 RENAME TO metric_snapshots;
    PRAGMA legacy_alter_table = OFF;
    CREATE INDEX IF NOT EXISTS metric_snapshots_breached
        ON metric_snapshots(breached, created_at_unix_nano);
    CREATE INDEX IF NOT EXISTS metric_snapshots_trace ON metric_snapshots(trace_id);
    CREATE INDEX IF NOT EXISTS metric_snapshots_breached_id ON metric_snapshots(breached, id);
    "#,
    // 6: each row names the LLM call it measures (`llm_span_id`) and the request's position in
    // its trace (`request_index`, 1 for the first gateway request folded into the trace, 2 for
    // the next... when a client's `traceparent` joins several). Added columns only: rows, ids
    // and a sibling's views are untouched; older rows read NULL.
    r#"
    ALTER TABLE metric_snapshots ADD COLUMN llm_span_id TEXT;
    ALTER TABLE metric_snapshots ADD COLUMN request_index INTEGER;
    "#,
    // 7: context-cache storage. One row per interval a cache was stored at one TTL: a create
    // opens one that ends at its `expireTime`, a PATCH closes it (at `updateTime`, `ended_by =
    // 'ttl_update'`) and opens the next, a DELETE closes it (`'delete'`); an open row past its
    // end expired. Kept by a trigger from the LLM spans that carry `gateway.cache.event`, so the
    // span writer stays the only writer. A PATCH or DELETE of a cache with no row here (its
    // create was never seen) adds a row with `create_seen = 0`: a PATCH's row covers the time
    // from the answer's `createTime`, priced; a DELETE's is empty and unpriced (tokens unknown).
    // Cost is computed when read: tokens x hours x `usd_per_mtok_hour` / 1e6.
    r#"
    CREATE TABLE IF NOT EXISTS cache_storage (
        id INTEGER PRIMARY KEY,
        cache_name TEXT NOT NULL,
        model TEXT,
        tokens INTEGER,
        start_unix_nano INTEGER NOT NULL,
        end_unix_nano INTEGER,
        ended_by TEXT,
        usd_per_mtok_hour REAL,
        create_seen INTEGER NOT NULL,
        unpriced_reason TEXT,
        trace_id TEXT NOT NULL,
        closed_trace_id TEXT
    );
    CREATE INDEX IF NOT EXISTS cache_storage_name ON cache_storage(cache_name);
    CREATE INDEX IF NOT EXISTS cache_storage_start ON cache_storage(start_unix_nano);
    CREATE TRIGGER IF NOT EXISTS spans_cache_storage AFTER INSERT ON spans
    WHEN NEW.kind = 'client' AND instr(NEW.attributes, '"gateway.cache.event"') > 0 BEGIN
        INSERT INTO cache_storage (cache_name, model, tokens, start_unix_nano, end_unix_nano,
            ended_by, usd_per_mtok_hour, create_seen, unpriced_reason, trace_id, closed_trace_id)
        SELECT e.name, e.model, CASE WHEN e.event = 'update' THEN e.tokens END,
            CASE WHEN e.event = 'update' THEN COALESCE(MIN(e.created, e.at), e.at) ELSE e.at END,
            e.at, CASE WHEN e.event = 'delete' THEN 'delete' ELSE 'ttl_update' END,
            CASE WHEN e.event = 'update' THEN e.rate END, 0,
            CASE WHEN e.event = 'delete'
                THEN 'DELETE of a cache whose create the gateway never saw: tokens and life unknown'
                WHEN e.created IS NULL THEN 'PATCH of a cache whose create the gateway never saw: no createTime'
                ELSE e.reason END,
            NEW.trace_id, NEW.trace_id
        FROM (SELECT json_extract(NEW.attributes, '$."gateway.cache.event"') AS event,
                json_extract(NEW.attributes, '$."gateway.cache.name"') AS name,
                json_extract(NEW.attributes, '$."gen_ai.response.model"') AS model,
                json_extract(NEW.attributes, '$."gateway.cache.tokens"') AS tokens,
                json_extract(NEW.attributes, '$."gateway.cache.at_unix_nano"') AS at,
                json_extract(NEW.attributes, '$."gateway.cache.create_unix_nano"') AS created,
                json_extract(NEW.attributes, '$."gateway.cache.storage_usd_per_mtok_hour"') AS rate,
                json_extract(NEW.attributes, '$."gateway.cache.unpriced_reason"') AS reason) AS e
        WHERE e.event IN ('update', 'delete') AND e.name IS NOT NULL AND e.at IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM cache_storage WHERE cache_name = e.name);
        UPDATE cache_storage SET
            end_unix_nano = MAX(start_unix_nano,
                json_extract(NEW.attributes, '$."gateway.cache.at_unix_nano"')),
            ended_by = CASE json_extract(NEW.attributes, '$."gateway.cache.event"')
                WHEN 'delete' THEN 'delete' ELSE 'ttl_update' END,
            unpriced_reason = CASE WHEN tokens IS NOT NULL AND usd_per_mtok_hour IS NOT NULL
                THEN NULL ELSE unpriced_reason END,
            closed_trace_id = NEW.trace_id
        WHERE cache_name = json_extract(NEW.attributes, '$."gateway.cache.name"')
            AND json_extract(NEW.attributes, '$."gateway.cache.event"') IN ('update', 'delete')
            AND ended_by IS NULL
            AND (end_unix_nano IS NULL OR end_unix_nano >
                json_extract(NEW.attributes, '$."gateway.cache.at_unix_nano"'));
        INSERT INTO cache_storage (cache_name, model, tokens, start_unix_nano, end_unix_nano,
            ended_by, usd_per_mtok_hour, create_seen, unpriced_reason, trace_id)
        SELECT e.name, e.model, e.tokens, e.at, e.expire, NULL, e.rate,
            CASE WHEN e.event = 'create' THEN 1 ELSE COALESCE((SELECT MAX(create_seen)
                FROM cache_storage WHERE cache_name = e.name), 0) END,
            COALESCE(e.reason, CASE WHEN e.rate IS NULL THEN 'no storage rate'
                WHEN e.tokens IS NULL THEN 'no token count'
                WHEN e.expire IS NULL THEN 'no expireTime' END),
            NEW.trace_id
        FROM (SELECT json_extract(NEW.attributes, '$."gateway.cache.event"') AS event,
                json_extract(NEW.attributes, '$."gateway.cache.name"') AS name,
                json_extract(NEW.attributes, '$."gen_ai.response.model"') AS model,
                json_extract(NEW.attributes, '$."gateway.cache.tokens"') AS tokens,
                json_extract(NEW.attributes, '$."gateway.cache.at_unix_nano"') AS at,
                json_extract(NEW.attributes, '$."gateway.cache.expire_unix_nano"') AS expire,
                json_extract(NEW.attributes, '$."gateway.cache.storage_usd_per_mtok_hour"') AS rate,
                json_extract(NEW.attributes, '$."gateway.cache.unpriced_reason"') AS reason) AS e
        WHERE e.event IN ('create', 'update') AND e.name IS NOT NULL AND e.at IS NOT NULL;
    END;
    "#,
    // 8: sessions (`store/src/query/sessions.rs`): the traces of a session id, and the spans
    // naming a conversation id, an interaction id or a previous interaction id, without reading
    // every row. The span indexes are partial and narrow, so the writer pays nothing for most
    // spans: an `instr` on the attribute text (no JSON parse) keeps only the application's
    // spans (`gateway.span.source`) naming a conversation (the gateway's own
    // `gen_ai.conversation.id` is its session id, found through `traces_session`), the
    // Interactions LLM spans (`gateway.interaction.status`) by their interaction id, and spans
    // naming a previous interaction. Queries repeat the `WHERE` terms to use them.
    r#"
    CREATE INDEX IF NOT EXISTS traces_session ON traces(session_id, start_time_unix_nano)
        WHERE session_id IS NOT NULL;
    CREATE INDEX IF NOT EXISTS spans_app_conversation
        ON spans(json_extract(attributes, '$."gen_ai.conversation.id"'))
        WHERE instr(attributes, '"gateway.span.source"') > 0
            AND instr(attributes, '"gen_ai.conversation.id"') > 0;
    CREATE INDEX IF NOT EXISTS spans_interaction_id
        ON spans(json_extract(attributes, '$."gen_ai.response.id"'))
        WHERE instr(attributes, '"gateway.interaction.status"') > 0;
    CREATE INDEX IF NOT EXISTS spans_previous_interaction_id
        ON spans(json_extract(attributes, '$."gen_ai.request.previous_response.id"'))
        WHERE instr(attributes, '"gen_ai.request.previous_response.id"') > 0;
    "#,
    // 9: one rule for "unpriced" (`unpriced.rs`): the writer decides it and stores it in
    // `traces.unpriced`, and every aggregate counts `unpriced = 1` and nothing else (migration 3
    // also counted any NULL cost of some LLM operations, which took deferred creates, calls
    // that failed before any usage and cancelled ones for unpriced). Rows written before are
    // brought to the rule: usage without a cost (the cost plugin was off) is unpriced unless the
    // request was deferred or free, and a failed or cancelled request without usage is not. The
    // update and delete triggers are recreated and `cost_hourly` is rebuilt from `traces`.
    r#"
    DROP TRIGGER IF EXISTS traces_aggregate_update;
    DROP TRIGGER IF EXISTS traces_aggregate_delete;
    UPDATE traces SET unpriced = 1
    WHERE unpriced = 0 AND cost_usd IS NULL
        AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)
        AND NOT EXISTS (SELECT 1 FROM spans AS s WHERE s.trace_id = traces.trace_id
            AND s.kind = 'server'
            AND json_extract(s.attributes, '$."gateway.metering"') IN ('deferred', 'free'));
    UPDATE traces SET unpriced = 0
    WHERE unpriced = 1 AND status <> 'ok' AND input_tokens IS NULL AND output_tokens IS NULL;
    DELETE FROM cost_hourly;
    INSERT INTO cost_hourly (t, model, requests, priced, unpriced, input_tokens, output_tokens, usd)
    SELECT start_time_unix_nano / 3600000000000, COALESCE(model, ''), COUNT(*),
        SUM(cost_usd IS NOT NULL), SUM(unpriced = 1),
        SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)), SUM(COALESCE(cost_usd, 0.0))
    FROM traces GROUP BY 1, 2;
    CREATE TRIGGER traces_aggregate_update AFTER UPDATE OF start_time_unix_nano,
        duration_ms, ttft_ms, model, operation, cost_usd, unpriced, input_tokens, output_tokens
        ON traces BEGIN
        INSERT INTO latency_hist (width, t, model, metric, bucket, n)
        SELECT w.width, OLD.start_time_unix_nano / w.ns, COALESCE(OLD.model, ''), v.metric,
            CASE WHEN v.ms < 100 THEN MAX(v.ms, 0)
            WHEN v.ms < 1000 THEN 90 + v.ms / 10
            WHEN v.ms < 10000 THEN 180 + v.ms / 100
            WHEN v.ms < 100000 THEN 270 + v.ms / 1000
            WHEN v.ms < 1000000 THEN 360 + v.ms / 10000
            ELSE 460 END, -1
        FROM (SELECT 0 AS width, 3600000000000 AS ns UNION ALL SELECT 1, 86400000000000) AS w,
            (SELECT 0 AS metric, CAST(OLD.duration_ms AS INTEGER) AS ms
             UNION ALL SELECT 1, CAST(OLD.ttft_ms AS INTEGER) WHERE OLD.ttft_ms IS NOT NULL) AS v
        WHERE 1
        ON CONFLICT (width, t, model, metric, bucket) DO UPDATE SET n = n + excluded.n;
        INSERT INTO latency_hist (width, t, model, metric, bucket, n)
        SELECT w.width, NEW.start_time_unix_nano / w.ns, COALESCE(NEW.model, ''), v.metric,
            CASE WHEN v.ms < 100 THEN MAX(v.ms, 0)
            WHEN v.ms < 1000 THEN 90 + v.ms / 10
            WHEN v.ms < 10000 THEN 180 + v.ms / 100
            WHEN v.ms < 100000 THEN 270 + v.ms / 1000
            WHEN v.ms < 1000000 THEN 360 + v.ms / 10000
            ELSE 460 END, 1
        FROM (SELECT 0 AS width, 3600000000000 AS ns UNION ALL SELECT 1, 86400000000000) AS w,
            (SELECT 0 AS metric, CAST(NEW.duration_ms AS INTEGER) AS ms
             UNION ALL SELECT 1, CAST(NEW.ttft_ms AS INTEGER) WHERE NEW.ttft_ms IS NOT NULL) AS v
        WHERE 1
        ON CONFLICT (width, t, model, metric, bucket) DO UPDATE SET n = n + excluded.n;
        INSERT INTO cost_hourly (t, model, requests, priced, unpriced, input_tokens, output_tokens, usd)
        VALUES (OLD.start_time_unix_nano / 3600000000000, COALESCE(OLD.model, ''), -1,
            -1 * (OLD.cost_usd IS NOT NULL), -1 * (OLD.unpriced = 1),
            -1 * COALESCE(OLD.input_tokens, 0), -1 * COALESCE(OLD.output_tokens, 0),
            -1 * COALESCE(OLD.cost_usd, 0.0))
        ON CONFLICT (t, model) DO UPDATE SET requests = requests + excluded.requests,
            priced = priced + excluded.priced, unpriced = unpriced + excluded.unpriced,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens, usd = usd + excluded.usd;
        INSERT INTO cost_hourly (t, model, requests, priced, unpriced, input_tokens, output_tokens, usd)
        VALUES (NEW.start_time_unix_nano / 3600000000000, COALESCE(NEW.model, ''), 1,
            1 * (NEW.cost_usd IS NOT NULL), 1 * (NEW.unpriced = 1),
            1 * COALESCE(NEW.input_tokens, 0), 1 * COALESCE(NEW.output_tokens, 0),
            1 * COALESCE(NEW.cost_usd, 0.0))
        ON CONFLICT (t, model) DO UPDATE SET requests = requests + excluded.requests,
            priced = priced + excluded.priced, unpriced = unpriced + excluded.unpriced,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens, usd = usd + excluded.usd;
    END;
    CREATE TRIGGER traces_aggregate_delete AFTER DELETE ON traces BEGIN
        INSERT INTO latency_hist (width, t, model, metric, bucket, n)
        SELECT w.width, OLD.start_time_unix_nano / w.ns, COALESCE(OLD.model, ''), v.metric,
            CASE WHEN v.ms < 100 THEN MAX(v.ms, 0)
            WHEN v.ms < 1000 THEN 90 + v.ms / 10
            WHEN v.ms < 10000 THEN 180 + v.ms / 100
            WHEN v.ms < 100000 THEN 270 + v.ms / 1000
            WHEN v.ms < 1000000 THEN 360 + v.ms / 10000
            ELSE 460 END, -1
        FROM (SELECT 0 AS width, 3600000000000 AS ns UNION ALL SELECT 1, 86400000000000) AS w,
            (SELECT 0 AS metric, CAST(OLD.duration_ms AS INTEGER) AS ms
             UNION ALL SELECT 1, CAST(OLD.ttft_ms AS INTEGER) WHERE OLD.ttft_ms IS NOT NULL) AS v
        WHERE 1
        ON CONFLICT (width, t, model, metric, bucket) DO UPDATE SET n = n + excluded.n;
        INSERT INTO cost_hourly (t, model, requests, priced, unpriced, input_tokens, output_tokens, usd)
        VALUES (OLD.start_time_unix_nano / 3600000000000, COALESCE(OLD.model, ''), -1,
            -1 * (OLD.cost_usd IS NOT NULL), -1 * (OLD.unpriced = 1),
            -1 * COALESCE(OLD.input_tokens, 0), -1 * COALESCE(OLD.output_tokens, 0),
            -1 * COALESCE(OLD.cost_usd, 0.0))
        ON CONFLICT (t, model) DO UPDATE SET requests = requests + excluded.requests,
            priced = priced + excluded.priced, unpriced = unpriced + excluded.unpriced,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens, usd = usd + excluded.usd;
    END;
    "#,
    // 10: "metered once" across restarts (`query/metered.rs`): before it serves, the gateway
    // reads back the ids its LLM spans say were metered. Interactions are found through
    // `spans_interaction_id` (migration 8); the batch spans (job polls, results-file
    // downloads) through this partial index on the start time of the spans whose attribute
    // text names a `gateway.batch.*` key: one `instr`, no JSON parse, for the other spans.
    r#"
    CREATE INDEX IF NOT EXISTS spans_batch_start ON spans(start_time_unix_nano)
        WHERE instr(attributes, '"gateway.batch.') > 0;
    "#,
    // 11: `cache_storage` is kept by the writer (`write.rs`), with the statements of migration
    // 7's trigger run after the insert of each span that carries a cache event. As a trigger,
    // SQLite ran it for every span (a program frame and a statement journal per insert, the
    // largest cost of the writer after the partial indexes' `instr`), for the few that name a
    // cache. The rows are the same.
    r#"
    DROP TRIGGER IF EXISTS spans_cache_storage;
    "#,
    // 12: the lookup indexes of migrations 8 and 10 move to `span_lookup`, a copy of the few
    // spans they keep (application spans naming a conversation, Interactions spans, spans
    // naming a previous interaction, batch spans). On `spans`, SQLite evaluated their four
    // `WHERE`s (five `instr` calls over the attribute text) and opened their four cursors for
    // every span inserted, though nearly none qualifies: a tenth of the writer's instructions
    // (docs/benchmarks.md). The writer now copies a span here when its attribute text
    // satisfies one of them (`write.rs`, the same byte search), so a request that names none
    // costs nothing here. The copies are found through the old indexes, not a scan; each
    // index keeps its expression and `WHERE`, under a name of the table it is on. The writer
    // also copies Live turns, which the live feed reads by id as they arrive; those written
    // before this migration are not copied (the feed reads only spans written after it starts).
    r#"
    CREATE TABLE IF NOT EXISTS span_lookup (
        id INTEGER PRIMARY KEY,
        trace_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        start_time_unix_nano INTEGER NOT NULL,
        attributes TEXT NOT NULL
    );
    INSERT OR IGNORE INTO span_lookup
    SELECT id, trace_id, kind, start_time_unix_nano, attributes
    FROM spans INDEXED BY spans_app_conversation
    WHERE instr(attributes, '"gateway.span.source"') > 0
        AND instr(attributes, '"gen_ai.conversation.id"') > 0;
    INSERT OR IGNORE INTO span_lookup
    SELECT id, trace_id, kind, start_time_unix_nano, attributes
    FROM spans INDEXED BY spans_interaction_id
    WHERE instr(attributes, '"gateway.interaction.status"') > 0;
    INSERT OR IGNORE INTO span_lookup
    SELECT id, trace_id, kind, start_time_unix_nano, attributes
    FROM spans INDEXED BY spans_previous_interaction_id
    WHERE instr(attributes, '"gen_ai.request.previous_response.id"') > 0;
    INSERT OR IGNORE INTO span_lookup
    SELECT id, trace_id, kind, start_time_unix_nano, attributes
    FROM spans INDEXED BY spans_batch_start
    WHERE instr(attributes, '"gateway.batch.') > 0;
    DROP INDEX spans_app_conversation;
    DROP INDEX spans_interaction_id;
    DROP INDEX spans_previous_interaction_id;
    DROP INDEX spans_batch_start;
    CREATE INDEX span_lookup_conversation
        ON span_lookup(json_extract(attributes, '$."gen_ai.conversation.id"'))
        WHERE instr(attributes, '"gateway.span.source"') > 0
            AND instr(attributes, '"gen_ai.conversation.id"') > 0;
    CREATE INDEX span_lookup_interaction_id
        ON span_lookup(json_extract(attributes, '$."gen_ai.response.id"'))
        WHERE instr(attributes, '"gateway.interaction.status"') > 0;
    CREATE INDEX span_lookup_previous_interaction_id
        ON span_lookup(json_extract(attributes, '$."gen_ai.request.previous_response.id"'))
        WHERE instr(attributes, '"gen_ai.request.previous_response.id"') > 0;
    CREATE INDEX span_lookup_batch_start ON span_lookup(start_time_unix_nano)
        WHERE instr(attributes, '"gateway.batch.') > 0;
    "#,
    // 13: the two `breached` indexes of `metric_snapshots` keep breached rows only. Nearly
    // every row is unbreached, and each one cost two inserts into indexes no query reads it
    // through: the feed asks for `breached = 1` after a cursor, "breached rows since T" (the
    // drift report, the API's time filters) for `breached = 1` in a time range, and other
    // rows are read along the rowid (after a cursor, or newest first). Same names and
    // columns; the feed's query is unchanged.
    r#"
    DROP INDEX IF EXISTS metric_snapshots_breached_id;
    CREATE INDEX metric_snapshots_breached_id ON metric_snapshots(breached, id)
        WHERE breached = 1;
    DROP INDEX IF EXISTS metric_snapshots_breached;
    CREATE INDEX metric_snapshots_breached ON metric_snapshots(breached, created_at_unix_nano)
        WHERE breached = 1;
    "#,
    // 14: the value indexes behind exact percentiles lead with the value's `latency_hist`
    // bucket (migration 3's `CASE`) and then the start time, where they led with the value.
    // Durations arrive in random order, so each new trace dirtied a leaf page of its own in
    // `traces_duration` (read first, written to the WAL, copied by the checkpoint): half the
    // WAL the writer wrote. Keyed by bucket and start, a batch appends at one place per
    // bucket. The API finds the bucket holding a rank from `latency_hist` as before and reads
    // that bucket's values in the window in order (`query::latency`). Covering, as before.
    r#"
    DROP INDEX IF EXISTS traces_duration;
    DROP INDEX IF EXISTS traces_ttft;
    CREATE INDEX IF NOT EXISTS traces_duration_bucket ON traces((CASE
            WHEN CAST(duration_ms AS INTEGER) < 100 THEN MAX(CAST(duration_ms AS INTEGER), 0)
            WHEN CAST(duration_ms AS INTEGER) < 1000 THEN 90 + CAST(duration_ms AS INTEGER) / 10
            WHEN CAST(duration_ms AS INTEGER) < 10000 THEN 180 + CAST(duration_ms AS INTEGER) / 100
            WHEN CAST(duration_ms AS INTEGER) < 100000 THEN 270 + CAST(duration_ms AS INTEGER) / 1000
            WHEN CAST(duration_ms AS INTEGER) < 1000000 THEN 360 + CAST(duration_ms AS INTEGER) / 10000
            ELSE 460 END), start_time_unix_nano, duration_ms, model);
    CREATE INDEX IF NOT EXISTS traces_ttft_bucket ON traces((CASE
            WHEN CAST(ttft_ms AS INTEGER) < 100 THEN MAX(CAST(ttft_ms AS INTEGER), 0)
            WHEN CAST(ttft_ms AS INTEGER) < 1000 THEN 90 + CAST(ttft_ms AS INTEGER) / 10
            WHEN CAST(ttft_ms AS INTEGER) < 10000 THEN 180 + CAST(ttft_ms AS INTEGER) / 100
            WHEN CAST(ttft_ms AS INTEGER) < 100000 THEN 270 + CAST(ttft_ms AS INTEGER) / 1000
            WHEN CAST(ttft_ms AS INTEGER) < 1000000 THEN 360 + CAST(ttft_ms AS INTEGER) / 10000
            ELSE 460 END), start_time_unix_nano, ttft_ms, model)
        WHERE ttft_ms IS NOT NULL;
    "#,
];

/// The newest schema version this build knows.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// The SQL of migration `version` (from 1), for tests that turn a file back into an older
/// schema with the migrations' own statements. Panics on a version that does not exist.
#[doc(hidden)]
pub fn migration_sql(version: usize) -> &'static str {
    MIGRATIONS[version - 1]
}

/// Checks the file ([`check`]), then applies the migrations it lacks, each in its own
/// transaction with its version record.
pub(crate) fn apply(conn: &Connection, path: &Path) -> Result<()> {
    let err = |e| StoreError::Sqlite {
        path: path.to_path_buf(),
        source: e,
    };
    let current = check(conn, path)?;
    conn.execute_batch(CREATE_MIGRATIONS_TABLE).map_err(err)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let tx = conn.unchecked_transaction().map_err(err)?;
        tx.execute_batch(sql)
            .map_err(|e| migration_error(path, version, e))?;
        tx.execute(
            "INSERT INTO gateway_migrations(version, applied_at_unix_nano) VALUES (?1, ?2)",
            params![version, now_unix_nano()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        tracing::info!(version, "Applied schema migration.");
    }
    Ok(())
}

/// One column as `PRAGMA table_info` reports it: name, declared type, not null, default, and
/// position in the primary key.
type Column = (String, String, bool, Option<String>, i64);

/// Our tables that exist in a database, with their columns (the name as the file spells it).
type Tables = BTreeMap<&'static str, (String, Vec<Column>)>;

/// Like [`Tables`], with `None` for a view.
type Found = BTreeMap<&'static str, (String, Option<Vec<Column>>)>;

/// Checks, reading only, that the gateway may create or migrate its tables in this file, and
/// returns the schema version recorded there (0 for a file without any table of ours).
pub(crate) fn check(conn: &Connection, path: &Path) -> Result<i64> {
    let incompatible = |reason: String| StoreError::Incompatible {
        path: path.to_path_buf(),
        reason,
    };
    let err = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => {
            incompatible(format!("not an SQLite database: {e}"))
        }
        _ => StoreError::Sqlite {
            path: path.to_path_buf(),
            source: e,
        },
    };
    let found = own_tables(conn).map_err(err)?;
    if found.is_empty() {
        return Ok(0);
    }
    if let Some((name, _)) = found.values().find(|(_, columns)| columns.is_none()) {
        return Err(incompatible(format!(
            "{name} is a view, not the gateway's table"
        )));
    }
    let found: BTreeMap<_, _> = found
        .into_iter()
        .map(|(own, (name, columns))| (own, (name, columns.unwrap_or_default())))
        .collect();
    let Some((_, columns)) = found.get("gateway_migrations") else {
        let names: Vec<&str> = found.values().map(|(name, _)| name.as_str()).collect();
        return Err(incompatible(format!(
            "table {} exists but gateway_migrations does not: not created by the gateway (the \
             gateway creates its tables only in a file that has none of {})",
            names.join(", "),
            OWN_TABLES.join(", ")
        )));
    };
    let schema = expected();
    if let Some(diff) = difference(&schema[0]["gateway_migrations"].1, columns) {
        return Err(incompatible(format!(
            "table gateway_migrations is not the gateway's: {diff}"
        )));
    }
    let current = current_version(conn).map_err(err)?;
    if current > LATEST {
        return Err(incompatible(format!(
            "schema version {current} is newer than this gateway understands ({LATEST})"
        )));
    }
    if current < 0 {
        return Err(incompatible(format!(
            "gateway_migrations records version {current}"
        )));
    }
    let want = &schema[current as usize];
    for table in OWN_TABLES {
        match (want.get(table), found.get(table)) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(incompatible(format!(
                    "table {table} is missing (schema version {current} has it)"
                )));
            }
            (None, Some((name, _))) => {
                return Err(incompatible(format!(
                    "table {name} exists but schema version {current} does not create it: not \
                     created by the gateway"
                )));
            }
            (Some((_, wanted)), Some((name, actual))) => {
                if let Some(diff) = difference(wanted, actual) {
                    return Err(incompatible(format!(
                        "table {name} does not have the columns of the gateway's schema version \
                         {current}: {diff}"
                    )));
                }
            }
        }
    }
    Ok(current)
}

/// Tables and views named like ours (names are case-insensitive in SQLite), with the columns
/// of each table.
fn own_tables(conn: &Connection) -> rusqlite::Result<Found> {
    let mut found = BTreeMap::new();
    let mut stmt =
        conn.prepare("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (name, kind) = row?;
        let Some(own) = OWN_TABLES.iter().find(|t| t.eq_ignore_ascii_case(&name)) else {
            continue;
        };
        let columns = if kind == "table" {
            Some(columns(conn, &name)?)
        } else {
            None
        };
        found.insert(*own, (name, columns));
    }
    Ok(found)
}

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<Column>> {
    let mut stmt = conn.prepare(
        "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1) ORDER BY cid",
    )?;
    let rows = stmt.query_map([table], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })?;
    rows.collect()
}

/// What differs between the expected and the actual columns, or `None` when they match (names
/// and types compared without regard to case, order ignored).
fn difference(expected: &[Column], actual: &[Column]) -> Option<String> {
    let key = |c: &Column| c.0.to_ascii_lowercase();
    let shape = |c: &Column| {
        let mut s = c.1.clone();
        if c.2 {
            s.push_str(" NOT NULL");
        }
        if let Some(d) = &c.3 {
            s.push_str(&format!(" DEFAULT {d}"));
        }
        if c.4 > 0 {
            s.push_str(" PRIMARY KEY");
        }
        s
    };
    let same = |a: &Column, b: &Column| {
        a.1.eq_ignore_ascii_case(&b.1) && a.2 == b.2 && a.3 == b.3 && a.4 == b.4
    };
    let mut parts = Vec::new();
    let missing: Vec<&str> = expected
        .iter()
        .filter(|e| !actual.iter().any(|a| key(a) == key(e)))
        .map(|e| e.0.as_str())
        .collect();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.join(", ")));
    }
    let unexpected: Vec<&str> = actual
        .iter()
        .filter(|a| !expected.iter().any(|e| key(a) == key(e)))
        .map(|a| a.0.as_str())
        .collect();
    if !unexpected.is_empty() {
        parts.push(format!("unexpected {}", unexpected.join(", ")));
    }
    for e in expected {
        if let Some(a) = actual.iter().find(|a| key(a) == key(e))
            && !same(e, a)
        {
            parts.push(format!("{} is {} (expected {})", a.0, shape(a), shape(e)));
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Our tables and their columns after each version (index 0: only `gateway_migrations`), read
/// back from the migrations applied to an in-memory database.
fn expected() -> &'static [Tables] {
    static EXPECTED: OnceLock<Vec<Tables>> = OnceLock::new();
    EXPECTED.get_or_init(|| {
        let build = || -> rusqlite::Result<Vec<Tables>> {
            let conn = Connection::open_in_memory()?;
            conn.execute_batch(CREATE_MIGRATIONS_TABLE)?;
            let tables = |conn: &Connection| -> rusqlite::Result<Tables> {
                Ok(own_tables(conn)?
                    .into_iter()
                    .map(|(own, (name, columns))| (own, (name, columns.unwrap_or_default())))
                    .collect())
            };
            let mut out = vec![tables(&conn)?];
            for sql in MIGRATIONS {
                conn.execute_batch(sql)?;
                out.push(tables(&conn)?);
            }
            Ok(out)
        };
        build().expect("the gateway's own migrations apply to an empty in-memory database")
    })
}

/// A migration that fails for a reason that can clear (a lock, a full or read-only disk) is
/// a plain SQLite error; any other failure means the file holds tables of ours in a shape this
/// build does not know, which no retry fixes.
fn migration_error(path: &Path, version: i64, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{
        CannotOpen, DatabaseBusy, DatabaseLocked, DiskFull, ReadOnly, SystemIoFailure,
    };
    match e.sqlite_error_code() {
        Some(
            DatabaseBusy | DatabaseLocked | ReadOnly | DiskFull | SystemIoFailure | CannotOpen,
        ) => StoreError::Sqlite {
            path: path.to_path_buf(),
            source: e,
        },
        _ => StoreError::Incompatible {
            path: path.to_path_buf(),
            reason: format!("migration {version} failed: {e}"),
        },
    }
}

/// The newest version recorded in `gateway_migrations` (the table must exist).
pub(crate) fn current_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM gateway_migrations",
        [],
        |r| r.get(0),
    )
}

fn now_unix_nano() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
