//! Tests of the writer's own `instr` and of the id check of its multi-row inserts.

mod instr {
    #![allow(clippy::unwrap_used)]
    use rusqlite::Connection;

    /// The replacement answers exactly what SQLite's built-in answers.
    #[test]
    fn fast_instr_matches_the_builtin() {
        let builtin = Connection::open_in_memory().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::Store::open(dir.path().join("t.db"), &crate::StoreOptions::default()).unwrap();
        let cases = [
            "'{\"a\":1,\"gateway.span.source\":\"otlp\"}', '\"gateway.span.source\"'",
            "'{\"a\":1}', '\"gateway.span.source\"'",
            "'héllo wörld', 'wö'",
            "'日本語のテキスト', 'テキ'",
            "'abc', ''",
            "'', 'a'",
            "'', ''",
            "NULL, 'a'",
            "'a', NULL",
            "NULL, NULL",
            "x'00616263', x'6263'",
            "x'c3a96263', 'bc'",
            "'c3a9', x'6139'",
            "12345, 34",
            "'x0.30000000000000004y', 0.1 + 0.2",
            "99999999999999.9, '906'",
            "'aaa', 'aaaa'",
            "'abab', 'ab'",
        ];
        for args in cases {
            let sql = format!("SELECT instr({args})");
            let want: Option<i64> = builtin.query_row(&sql, [], |r| r.get(0)).unwrap();
            let got: Option<i64> = store
                .connection()
                .query_row(&sql, [], |r| r.get(0))
                .unwrap();
            assert_eq!(got, want, "instr({args})");
        }
    }
}

mod ids {
    #![allow(clippy::unwrap_used)]
    use super::super::{Table, bind_span, insert_rows};
    use crate::SpanRow;

    fn row(i: usize) -> SpanRow {
        SpanRow::bare(
            &format!("{:032x}", 7),
            &format!("{:016x}", i + 1),
            None,
            "internal",
        )
    }

    /// Rows that do not get the ids the writer expects fail the batch: when other ids are
    /// expected, and when SQLite numbers past a gap in a later chunk (a trigger that inserts a
    /// row far ahead). The expected ids pass.
    #[test]
    fn rows_that_do_not_get_the_expected_ids_fail_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut store =
            crate::Store::open(dir.path().join("t.db"), &crate::StoreOptions::default()).unwrap();
        // 16 + 2 + 1 rows: three chunk sizes.
        let rows: Vec<SpanRow> = (0..19).map(row).collect();
        for (first, ok) in [
            (Some(1), true),
            (Some(2), false),
            (Some(0), false),
            (None, true),
        ] {
            let tx = store.conn.transaction().unwrap();
            let result = insert_rows(&tx, &mut Vec::new(), Table::Spans, &rows, bind_span, first);
            assert_eq!(result.is_ok(), ok, "first id {first:?}: {result:?}");
            if !ok {
                let message = result.unwrap_err().to_string();
                assert!(message.contains("not the next id"), "{message}");
            }
            let ids: Vec<i64> = tx
                .prepare("SELECT id FROM spans ORDER BY id")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            if ok {
                assert_eq!(ids, (1..=19).collect::<Vec<i64>>());
            }
            // Rolled back: each case starts from an empty table.
            drop(tx);
        }
        // SQLite itself numbering past a gap, in a later chunk: a trigger inserts a row far
        // ahead once the first chunk of 16 is in, so the chunk of 2 gets 1,001 and 1,002.
        let tx = store.conn.transaction().unwrap();
        tx.execute_batch(
            "CREATE TEMP TRIGGER ahead AFTER INSERT ON main.spans WHEN NEW.id = 16 BEGIN
                 INSERT INTO spans (id, span_id, trace_id, name, kind, start_time_unix_nano,
                     end_time_unix_nano, status_code, attributes, events)
                 VALUES (1000, 'x', 'y', 'n', 'internal', 1, 2, 'unset', '{}', '[]');
             END",
        )
        .unwrap();
        let err = insert_rows(
            &tx,
            &mut Vec::new(),
            Table::Spans,
            &rows,
            bind_span,
            Some(1),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("row 17 got id 1002, not the next id 18"),
            "{err}"
        );
    }
}
