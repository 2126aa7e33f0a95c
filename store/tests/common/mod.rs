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
/// on `spans` again (the statements of migrations 8 and 10 themselves), no `span_lookup`.
/// Tests of older migrations run it before deleting their versions from
/// `gateway_migrations`, so that the file is what that version wrote.
#[allow(dead_code)]
pub fn undo_span_lookup() -> String {
    format!(
        "DROP TABLE span_lookup; {} {} DELETE FROM gateway_migrations WHERE version >= 12;",
        gateway_store::migration_sql(8),
        gateway_store::migration_sql(10)
    )
}
