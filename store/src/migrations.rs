//! Versioned schema migrations.
//!
//! Applied versions are recorded in `gateway_migrations`, not in `PRAGMA user_version`, because the
//! file is shared with sibling systems (a drift detector writes `drift_snapshots` here) and the
//! user version belongs to the whole file. A migration only creates or alters tables it owns.

use crate::{Result, StoreError};
use rusqlite::{Connection, params};
use std::path::Path;

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
];

/// The newest schema version this build knows.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

pub(crate) fn apply(conn: &Connection, path: &Path) -> Result<()> {
    let err = |e| StoreError::Sqlite {
        path: path.to_path_buf(),
        source: e,
    };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS gateway_migrations (
            version INTEGER PRIMARY KEY,
            applied_at_unix_nano INTEGER NOT NULL
        )",
    )
    .map_err(err)?;
    let current = current_version(conn).map_err(err)?;
    if current > LATEST {
        return Err(StoreError::Incompatible {
            path: path.to_path_buf(),
            reason: format!(
                "schema version {current} is newer than this gateway understands ({LATEST})"
            ),
        });
    }
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
