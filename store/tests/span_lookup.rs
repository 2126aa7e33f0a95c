//! `span_lookup` (migration 12) on real files: the writer copies exactly the spans that the
//! lookup indexes' own `WHERE`s keep, and the Live turns (SQLite evaluates those tests on
//! `spans` for the comparison, hostile attribute texts included); retention deletes the copies
//! with their spans; a file written before migration 12 gets its copies from the old indexes,
//! after which the queries that use them answer as before.

#![allow(clippy::unwrap_used)]

mod common;

use gateway_store::query::{OnceKind, Reader, SessionKind};
use gateway_store::{RetentionPolicy, SpanRow, Store, StoreOptions, TraceRow};
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

/// Attribute texts, each one span: those some index keeps, near misses, and needles met
/// inside values (a prompt quoting a key, escaped as JSON writes it).
const ATTRIBUTES: &[&str] = &[
    "{}",
    r#"{"gateway.interaction.status":"completed","gen_ai.response.id":"i-1"}"#,
    r#"{"gen_ai.request.previous_response.id":"i-1"}"#,
    r#"{"gateway.batch.id":"batches/1"}"#,
    r#"{"gateway.batch.responses_file":"files/1"}"#,
    r#"{"gateway.span.source":"otlp","gen_ai.conversation.id":"c-1"}"#,
    r#"{"gateway.live.turn.index":2,"gen_ai.conversation.id":"c-3"}"#,
    // Only one of the two keys of the conversation index: kept by none.
    r#"{"gateway.span.source":"otlp"}"#,
    r#"{"gen_ai.conversation.id":"c-2"}"#,
    // Near misses: a longer key, another prefix, the key without its opening quote.
    r#"{"gateway.interaction.statuses":1,"gateway.batchid":2,"x":"xgateway.batch.id"}"#,
    r#"{"gateway.live.turn.indexes":1}"#,
    // Values that hold a needle: the byte search finds it, as `instr` does...
    r#"{"x":"gateway.batch.id"}"#,
    r#"{"gen_ai.input.messages":"say \"gateway.batch.id\" twice"}"#,
    // ... and not when JSON's escape breaks it (a backslash before the closing quote).
    r#"{"gen_ai.input.messages":"日本語 \"gateway.interaction.status\""}"#,
    r#"{"gen_ai.prompt":"\"gateway.span.source\" and \"gen_ai.conversation.id\""}"#,
];

fn spans(trace: &str, start: i64) -> Vec<SpanRow> {
    ATTRIBUTES
        .iter()
        .enumerate()
        .map(|(i, a)| SpanRow {
            start_time_unix_nano: start + i as i64,
            end_time_unix_nano: start + i as i64 + 1,
            attributes_json: (*a).into(),
            ..common::span(trace, &format!("{i:016x}"), None, "client")
        })
        .collect()
}

fn trace(id: &str, start: i64) -> TraceRow {
    TraceRow {
        trace_id: id.into(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 100,
        status: "ok".into(),
        ..TraceRow::default()
    }
}

fn ids(c: &Connection, sql: &str) -> Vec<i64> {
    let mut stmt = c.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// The span ids that SQLite's own `instr` keeps in any lookup index, by the `WHERE` each
/// index has in the schema, or takes for a Live turn (the live feed's text test), evaluated on
/// `spans`; without `live_turns`, the indexes' only.
fn kept_by_the_schema(c: &Connection, live_turns: bool) -> Vec<i64> {
    let wheres: Vec<String> = {
        let mut stmt = c
            .prepare(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'span_lookup'",
            )
            .unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|sql| {
                let sql = sql.unwrap();
                let at = sql.find("WHERE").expect("a partial index");
                sql[at + "WHERE".len()..].to_string()
            })
            .collect()
    };
    assert_eq!(wheres.len(), 4, "the four lookup indexes");
    let any = wheres
        .iter()
        .map(|w| format!("({w})"))
        .chain(
            live_turns
                .then(|| r#"(instr(attributes, '"gateway.live.turn.index"') > 0)"#.to_owned()),
        )
        .collect::<Vec<_>>()
        .join(" OR ");
    ids(c, &format!("SELECT id FROM spans WHERE {any} ORDER BY id"))
}

fn open(path: &Path) -> Store {
    Store::open(path, &StoreOptions::default()).unwrap()
}

#[test]
fn the_writer_copies_exactly_the_spans_the_lookup_indexes_keep() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.db");
    let mut store = open(&path);
    store.write_batch(&spans("t1", 1_000), &[]).unwrap();
    // A plain connection: SQLite's built-in `instr`, not the writer's.
    let c = Connection::open(&path).unwrap();
    let expected = kept_by_the_schema(&c, true);
    assert_eq!(
        expected.len(),
        8,
        "the schema keeps the spans the list says it does: {expected:?}"
    );
    assert_eq!(ids(&c, "SELECT id FROM span_lookup ORDER BY id"), expected);
    let differing: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM span_lookup l JOIN spans s USING (id)
             WHERE l.trace_id IS NOT s.trace_id OR l.kind IS NOT s.kind
                OR l.start_time_unix_nano IS NOT s.start_time_unix_nano
                OR l.attributes IS NOT s.attributes",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(differing, 0, "each copy is its span");
}

#[test]
fn retention_deletes_the_copies_with_their_spans() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let mut store = open(&path);
    let mut all = spans("old", 1_000);
    all.extend(spans("new", 9_000));
    store
        .write_batch(&all, &[trace("old", 1_000), trace("new", 9_000)])
        .unwrap();
    let report = store
        .enforce_retention(&RetentionPolicy {
            traces_before_unix_nano: Some(5_000),
            ..common::no_limits(10)
        })
        .unwrap();
    assert_eq!(report.traces, 1);
    let c = store.connection();
    let left: Vec<String> = {
        let mut stmt = c
            .prepare("SELECT DISTINCT trace_id FROM span_lookup")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    assert_eq!(left, ["new"]);
    let orphans: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM span_lookup WHERE id NOT IN (SELECT id FROM spans)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
    assert_eq!(
        ids(c, "SELECT id FROM span_lookup ORDER BY id"),
        kept_by_the_schema(c, true)
    );
}

#[test]
fn a_file_from_before_migration_12_gets_its_copies_from_the_old_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let metered = |path: &Path| {
        let r = Reader::open(path, Duration::from_secs(1)).unwrap();
        OnceKind::ALL.map(|k| r.metered_ids(k, 0, 100).unwrap().ids)
    };
    let llm = |i: usize, attrs: &str| SpanRow {
        attributes_json: format!(
            r#"{{"gateway.step":"llm_call","gateway.metering":"metered",{attrs}}}"#
        ),
        start_time_unix_nano: 5_000 + i as i64,
        ..common::span("m", &format!("{:016x}", 100 + i), None, "client")
    };
    let mut written = spans("m", 1_000);
    written.push(llm(
        1,
        r#""gateway.interaction.status":"completed","gen_ai.response.id":"i-9","gen_ai.usage.input_tokens":3"#,
    ));
    written.push(llm(
        2,
        r#""gateway.batch.id":"batches/9","gateway.batch.responses":2"#,
    ));
    {
        let mut store = open(&path);
        store.write_batch(&written, &[trace("m", 1_000)]).unwrap();
    }
    let before = metered(&path);
    assert_eq!(before[0], ["i-9"]);
    assert_eq!(before[1], ["batches/9"]);
    let c = Connection::open(&path).unwrap();
    c.execute_batch(&common::undo_span_lookup()).unwrap();
    drop(c);
    // An API that reads the file before the gateway migrates it uses the indexes on `spans`.
    {
        let r = Reader::open(&path, Duration::from_secs(1)).unwrap();
        let plan = r.session_query_plan(SessionKind::Conversation).unwrap();
        assert!(
            plan.iter()
                .any(|l| l.contains("USING INDEX spans_app_conversation")),
            "{plan:?}"
        );
        let running = r.running_live_sessions(0, i64::MAX).unwrap();
        assert!(running.is_empty(), "trace m has its row: not running");
    }
    let store = open(&path);
    assert_eq!(
        store.schema_version().unwrap(),
        gateway_store::LATEST_SCHEMA
    );
    let c = store.connection();
    let old: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'spans'
                AND name <> 'spans_trace'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old, 0, "the old lookup indexes are gone from spans");
    // The Live turns written before the upgrade are not copied: the live feed reads only the
    // spans written since it started, and no index held them.
    let copied = ids(c, "SELECT id FROM span_lookup ORDER BY id");
    assert_eq!(copied, kept_by_the_schema(c, false));
    assert_eq!(copied.len(), 9);
    assert_eq!(kept_by_the_schema(c, true).len(), 10);
    assert_eq!(metered(&path), before, "the restart reads the same ids");
}
