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
        tx.execute_batch(sql).map_err(err)?;
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
