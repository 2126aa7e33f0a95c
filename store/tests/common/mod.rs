//! What the store's test files share: a minimal span row.

use gateway_store::{SpanRow, Store};

/// A span of `kind` with empty attributes and events ([`SpanRow::bare`]).
pub fn span(trace: &str, id: &str, parent: Option<&str>, kind: &'static str) -> SpanRow {
    SpanRow::bare(trace, id, parent, kind)
}

/// Rows in `table`.
#[allow(dead_code)]
pub fn count(store: &Store, table: &str) -> i64 {
    store
        .connection()
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

/// Turns a file of the latest schema back into one before migration 12: the lookup indexes
/// on `spans` again, no `span_lookup`. Tests of older migrations run it before deleting their
/// versions from `gateway_migrations`, so that the file is what that version wrote.
#[allow(dead_code)]
pub const UNDO_SPAN_LOOKUP: &str = r#"
    DROP TABLE span_lookup;
    CREATE INDEX spans_app_conversation
        ON spans(json_extract(attributes, '$."gen_ai.conversation.id"'))
        WHERE instr(attributes, '"gateway.span.source"') > 0
            AND instr(attributes, '"gen_ai.conversation.id"') > 0;
    CREATE INDEX spans_interaction_id
        ON spans(json_extract(attributes, '$."gen_ai.response.id"'))
        WHERE instr(attributes, '"gateway.interaction.status"') > 0;
    CREATE INDEX spans_previous_interaction_id
        ON spans(json_extract(attributes, '$."gen_ai.request.previous_response.id"'))
        WHERE instr(attributes, '"gen_ai.request.previous_response.id"') > 0;
    CREATE INDEX spans_batch_start ON spans(start_time_unix_nano)
        WHERE instr(attributes, '"gateway.batch.') > 0;
    DELETE FROM gateway_migrations WHERE version >= 12;
"#;
