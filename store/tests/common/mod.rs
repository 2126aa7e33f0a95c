//! What the store's test files share: a minimal span row.

use gateway_store::{SpanRow, Store};

/// A span of `kind` with empty attributes and events ([`SpanRow::bare`]).
pub fn span(trace: &str, id: &str, parent: Option<&str>, kind: &'static str) -> SpanRow {
    SpanRow::bare(trace, id, parent, kind)
}

/// A retention policy with no limit set, `batch` rows a transaction, no sweep; spans without
/// a `traces` row have no grace. A test sets what it exercises:
/// `RetentionPolicy { max_size_bytes: Some(cap), ..common::no_limits(20) }`.
#[allow(dead_code)]
pub fn no_limits(batch: usize) -> gateway_store::RetentionPolicy {
    gateway_store::RetentionPolicy {
        traces_before_unix_nano: None,
        metrics_before_unix_nano: None,
        max_size_bytes: None,
        orphans_before_unix_nano: Some(i64::MAX),
        sweep_after_id: 0,
        sweep_windows: 0,
        batch,
    }
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
