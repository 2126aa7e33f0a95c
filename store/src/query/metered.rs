//! The ids of deferred work whose usage the gateway already metered, read back from the LLM
//! spans so that "metered once per id" survives a restart.
//!
//! The gateway meters an Interactions interaction on the first answer that carries its usage, a
//! batch job's inlined responses on the first poll that sees them, and a batch results file on
//! its first download; later ones are free (`…already_metered`). It keeps those ids in memory
//! and, before it serves, loads the ids its stored LLM spans say were metered (or already
//! metered) in a window, newest first, at most `cap` per kind. What marks each kind:
//!
//! | kind | id | the LLM span says |
//! |---|---|---|
//! | [`OnceKind::Interaction`] | `gen_ai.response.id` | `gateway.interaction.status` set, and `gateway.metering = metered` with usage, or `gateway.interaction.already_metered` |
//! | [`OnceKind::BatchJob`] | `gateway.batch.id` | `gateway.batch.responses` (inlined results), and `gateway.metering = metered` or `gateway.batch.already_metered` |
//! | [`OnceKind::BatchFile`] | `gateway.batch.responses_file` | `gateway.batch.results` is `metered` or `already_metered` |
//! | [`OnceKind::AnnouncedFile`] | `gateway.batch.responses_file` | a job poll (`gateway.batch.id`) named it as the job's results file |
//!
//! Each query reads only the spans of a partial index, never the whole table, and repeats its
//! `WHERE` so the planner can use it: Interactions LLM spans through `span_lookup_interaction_id`
//! (migration 8, `gateway.interaction.status`), batch spans through `span_lookup_batch_start`
//! (migration 10, the start time of the spans naming a `gateway.batch.*` key). Both are on
//! `span_lookup`, the copy of those few spans (migration 12). Without them a
//! million spans of about 1 KB (1% of them batch or Interactions LLM spans) took 9 s to scan;
//! through the indexes, 0.1–0.2 s per kind.

use super::{QueryResult, Reader};

/// What the gateway meters once per id (one in-memory set each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnceKind {
    /// An Interactions interaction, by its id.
    Interaction,
    /// A batch job with inlined responses, by `batches/{id}`.
    BatchJob,
    /// A batch results file metered on a download, by `files/{id}`.
    BatchFile,
    /// A results file a job poll announced (`responsesFile`), by `files/{id}`: not a metering
    /// decision, but what tells an unreadable download of a results file from any other file.
    AnnouncedFile,
}

impl OnceKind {
    /// Every kind.
    pub const ALL: [OnceKind; 4] = [
        OnceKind::Interaction,
        OnceKind::BatchJob,
        OnceKind::BatchFile,
        OnceKind::AnnouncedFile,
    ];

    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            OnceKind::Interaction => "interactions",
            OnceKind::BatchJob => "batch_jobs",
            OnceKind::BatchFile => "batch_files",
            OnceKind::AnnouncedFile => "announced_files",
        }
    }

    /// The `WHERE` of the partial index the query of this kind reads.
    #[cfg(test)]
    fn index_where(self) -> &'static str {
        match self {
            OnceKind::Interaction => INTERACTION_SPANS,
            _ => BATCH_SPANS,
        }
    }

    fn sql(self) -> &'static str {
        match self {
            OnceKind::Interaction => INTERACTIONS,
            OnceKind::BatchJob => BATCH_JOBS,
            OnceKind::BatchFile => BATCH_FILES,
            OnceKind::AnnouncedFile => ANNOUNCED_FILES,
        }
    }
}

/// The ids of one kind found in the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeteredIds {
    /// At most `cap` ids, oldest first (by the last span naming each).
    pub ids: Vec<String>,
    /// Older ids in the window past `cap`, not returned.
    pub not_loaded: u64,
}

/// The `WHERE` of `span_lookup_interaction_id` (migrations 8 and 12), word for word.
#[cfg(test)]
const INTERACTION_SPANS: &str = "instr(attributes, '\"gateway.interaction.status\"') > 0";
/// The `WHERE` of `span_lookup_batch_start` (migrations 10 and 12), word for word.
#[cfg(test)]
const BATCH_SPANS: &str = "instr(attributes, '\"gateway.batch.') > 0";

/// `SELECT id, last`: the ids at `$id` of the LLM spans since `?1` kept by the partial index
/// whose `WHERE` is `$index` and where `$cond`, newest first.
macro_rules! ids_sql {
    ($index:literal, $id:literal, $cond:literal) => {
        concat!(
            "SELECT id, MAX(t) AS last FROM (
                SELECT json_extract(attributes, '$.\"",
            $id,
            "\"') AS id, start_time_unix_nano AS t
                FROM span_lookup
                WHERE ",
            $index,
            "
                  AND start_time_unix_nano >= ?1 AND kind = 'client'
                  AND json_extract(attributes, '$.\"gateway.step\"') = 'llm_call'
                  AND (",
            $cond,
            "))
            WHERE id IS NOT NULL
            GROUP BY id
            ORDER BY last DESC, id"
        )
    };
}

const INTERACTIONS: &str = ids_sql!(
    "instr(attributes, '\"gateway.interaction.status\"') > 0",
    "gen_ai.response.id",
    "json_extract(attributes, '$.\"gateway.interaction.already_metered\"') = 1
     OR (json_extract(attributes, '$.\"gateway.metering\"') = 'metered'
         AND json_extract(attributes, '$.\"gen_ai.usage.input_tokens\"') IS NOT NULL)"
);

const BATCH_JOBS: &str = ids_sql!(
    "instr(attributes, '\"gateway.batch.') > 0",
    "gateway.batch.id",
    "json_extract(attributes, '$.\"gateway.batch.responses\"') IS NOT NULL
     AND (json_extract(attributes, '$.\"gateway.batch.already_metered\"') = 1
       OR json_extract(attributes, '$.\"gateway.metering\"') = 'metered')"
);

const BATCH_FILES: &str = ids_sql!(
    "instr(attributes, '\"gateway.batch.') > 0",
    "gateway.batch.responses_file",
    "json_extract(attributes, '$.\"gateway.batch.results\"') IN ('metered', 'already_metered')"
);

const ANNOUNCED_FILES: &str = ids_sql!(
    "instr(attributes, '\"gateway.batch.') > 0",
    "gateway.batch.responses_file",
    "json_extract(attributes, '$.\"gateway.batch.id\"') IS NOT NULL"
);

impl Reader {
    /// The ids of `kind` that LLM spans starting at or after `since` (unix nanos) say were
    /// metered: the `cap` most recently seen, oldest first, and how many older ones were left
    /// out. An empty answer when the file has no `span_lookup` table yet (the gateway's
    /// writer opens, and so migrates, the file before this is read).
    pub fn metered_ids(&self, kind: OnceKind, since: i64, cap: usize) -> QueryResult<MeteredIds> {
        let mut out = MeteredIds::default();
        if !self.has_table("span_lookup")? {
            return Ok(out);
        }
        let mut stmt = self
            .conn
            .prepare_cached(kind.sql())
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([since]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            if out.ids.len() < cap {
                // A non-text id (a client's odd JSON) is kept as its text form.
                let id: rusqlite::types::Value = row.get(0).map_err(|e| self.err(e))?;
                out.ids.push(match id {
                    rusqlite::types::Value::Text(s) => s,
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Real(f) => f.to_string(),
                    _ => continue,
                });
            } else {
                out.not_loaded += 1;
            }
        }
        out.ids.reverse();
        Ok(out)
    }

    /// The plan SQLite picks for [`Reader::metered_ids`] of `kind`, one line per step.
    pub fn metered_ids_plan(&self, kind: OnceKind) -> QueryResult<Vec<String>> {
        let sql = format!("EXPLAIN QUERY PLAN {}", kind.sql());
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([0i64], |r| r.get::<_, String>(3))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SpanRow, Store, StoreOptions};
    use serde_json::{Value, json};
    use std::time::Duration;

    const T0: i64 = 1_750_000_000_000_000_000;

    fn span(i: usize, start: i64, kind: &'static str, attrs: Value) -> SpanRow {
        SpanRow {
            span_id: format!("{i:016x}"),
            trace_id: format!("{i:032x}"),
            parent_span_id: None,
            name: "span".into(),
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1,
            status_code: "unset",
            status_message: None,
            attributes_json: attrs.to_string(),
            events_json: "[]".into(),
        }
    }

    fn llm(i: usize, start: i64, mut attrs: Value) -> SpanRow {
        attrs["gateway.step"] = json!("llm_call");
        span(i, start, "client", attrs)
    }

    fn reader(spans: &[SpanRow]) -> (tempfile::TempDir, Reader) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.db");
        let mut store = Store::open(&path, &StoreOptions::default()).expect("open");
        store.write_batch(spans, &[]).expect("write");
        (
            dir,
            Reader::open(&path, Duration::from_secs(1)).expect("reader"),
        )
    }

    fn ids(r: &Reader, kind: OnceKind, since: i64, cap: usize) -> (Vec<String>, u64) {
        let m = r.metered_ids(kind, since, cap).expect("query");
        (m.ids, m.not_loaded)
    }

    #[test]
    fn each_kind_reads_only_the_spans_that_metered() {
        let interaction = |id: &str, metering: &str, usage: bool, again: bool| {
            let mut a = json!({"gateway.interaction.status": "completed",
                "gen_ai.response.id": id, "gateway.metering": metering});
            if usage {
                a["gen_ai.usage.input_tokens"] = json!(10);
            }
            if again {
                a["gateway.interaction.already_metered"] = json!(true);
            }
            a
        };
        let spans = [
            llm(1, T0, interaction("i-metered", "metered", true, false)),
            llm(2, T0 + 1, interaction("i-again", "free", false, true)),
            // Metered without usage (an error answer): never recorded as metered.
            llm(
                3,
                T0 + 2,
                interaction("i-no-usage", "metered", false, false),
            ),
            llm(
                4,
                T0 + 3,
                interaction("i-deferred", "deferred", false, false),
            ),
            // Not an LLM span, or not a client span: ignored.
            span(
                5,
                T0 + 4,
                "client",
                interaction("i-not-llm", "metered", true, false),
            ),
            {
                let mut a = interaction("i-server", "metered", true, false);
                a["gateway.step"] = json!("llm_call");
                span(6, T0 + 5, "server", a)
            },
            llm(
                7,
                T0 + 6,
                json!({"gateway.batch.id": "batches/inl", "gateway.batch.responses": 3,
                       "gateway.metering": "metered"}),
            ),
            llm(
                8,
                T0 + 7,
                json!({"gateway.batch.id": "batches/again", "gateway.batch.responses": 3,
                       "gateway.metering": "free", "gateway.batch.already_metered": true}),
            ),
            // Every response failed: free, not recorded.
            llm(
                9,
                T0 + 8,
                json!({"gateway.batch.id": "batches/failed", "gateway.batch.responses": 2,
                       "gateway.batch.failed": 2, "gateway.metering": "free"}),
            ),
            // A job whose results are a file: announces it.
            llm(
                10,
                T0 + 9,
                json!({"gateway.batch.id": "batches/f", "gateway.batch.responses_file": "files/a",
                       "gateway.batch.results": "not_seen", "gateway.metering": "deferred"}),
            ),
            llm(
                11,
                T0 + 10,
                json!({"gateway.batch.responses_file": "files/a", "gateway.batch.responses": 2,
                       "gateway.batch.results": "metered", "gateway.metering": "metered"}),
            ),
            // A download past the parse cap: not metered.
            llm(
                12,
                T0 + 11,
                json!({"gateway.batch.responses_file": "files/big",
                       "gateway.batch.results": "not_seen", "gateway.metering": "metered"}),
            ),
        ];
        let (_dir, r) = reader(&spans);
        let (got, _) = ids(&r, OnceKind::Interaction, 0, 10);
        assert_eq!(got, ["i-metered", "i-again"]);
        let (got, _) = ids(&r, OnceKind::BatchJob, 0, 10);
        assert_eq!(got, ["batches/inl", "batches/again"]);
        let (got, _) = ids(&r, OnceKind::BatchFile, 0, 10);
        assert_eq!(got, ["files/a"]);
        let (got, _) = ids(&r, OnceKind::AnnouncedFile, 0, 10);
        assert_eq!(got, ["files/a"]);
    }

    #[test]
    fn the_window_and_the_cap_keep_the_newest_and_count_the_rest() {
        let poll = |i: usize, id: &str, at: i64| {
            llm(
                i,
                at,
                json!({"gateway.interaction.status": "completed", "gen_ai.response.id": id,
                       "gateway.metering": "free", "gateway.interaction.already_metered": true}),
            )
        };
        // "a" is seen first and again last: its last sighting orders it.
        let spans = [
            poll(1, "a", T0),
            poll(2, "b", T0 + 10),
            poll(3, "c", T0 + 20),
            poll(4, "d", T0 + 30),
            poll(5, "a", T0 + 40),
        ];
        let (_dir, r) = reader(&spans);
        assert_eq!(
            ids(&r, OnceKind::Interaction, 0, 10),
            (vec!["b".into(), "c".into(), "d".into(), "a".into()], 0)
        );
        assert_eq!(
            ids(&r, OnceKind::Interaction, 0, 2),
            (vec!["d".into(), "a".into()], 2)
        );
        // The window starts after "b": it is not read at all.
        assert_eq!(
            ids(&r, OnceKind::Interaction, T0 + 11, 10),
            (vec!["c".into(), "d".into(), "a".into()], 0)
        );
        assert_eq!(ids(&r, OnceKind::BatchJob, 0, 10), (vec![], 0));
    }

    #[test]
    fn every_kind_searches_its_partial_index_instead_of_scanning_spans() {
        let (_dir, r) = reader(&[]);
        for kind in OnceKind::ALL {
            let index = match kind {
                OnceKind::Interaction => "span_lookup_interaction_id",
                _ => "span_lookup_batch_start",
            };
            let plan = r.metered_ids_plan(kind).expect("plan");
            let reads: Vec<&String> = plan
                .iter()
                .filter(|l| {
                    l.starts_with("SCAN span_lookup") || l.starts_with("SEARCH span_lookup")
                })
                .collect();
            assert!(
                !reads.is_empty()
                    && reads
                        .iter()
                        .all(|l| l.contains(&format!("USING INDEX {index}"))),
                "{kind:?}: {plan:?}"
            );
        }
    }

    #[test]
    fn each_query_repeats_its_index_predicate() {
        let (_dir, r) = reader(&[]);
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        for kind in OnceKind::ALL {
            let index = match kind {
                OnceKind::Interaction => "span_lookup_interaction_id",
                _ => "span_lookup_batch_start",
            };
            let created: String = r
                .conn
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [index],
                    |row| row.get(0),
                )
                .expect("the index exists");
            let predicate = kind.index_where();
            assert!(
                words(&created).ends_with(&format!("WHERE {predicate}")),
                "{created}"
            );
            assert!(kind.sql().contains(predicate), "{kind:?}");
        }
    }
}
