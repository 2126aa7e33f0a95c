//! Prepared statements that bind text without SQLite copying it, for the writer's multi-row
//! inserts.
//!
//! rusqlite binds every string with `SQLITE_TRANSIENT` (rusqlite/rusqlite#164): SQLite then
//! allocates memory of its own for each value, copies the string into it, and frees it when the
//! parameter is bound again. A request's rows are some fifty strings, 4 KiB or so, bound once
//! each. With `SQLITE_STATIC` SQLite reads the caller's bytes where they are, which is sound as
//! long as they live and stay unchanged until the statement has run and its parameters are
//! cleared. [`StaticStatement::run`] makes that a matter of lifetimes: the values bound in its
//! closure are borrowed for the whole call, and it clears the bindings (and resets the
//! statement) before it returns, whatever happened.

#![allow(unsafe_code)] // the SQLite C API through rusqlite's own `ffi`; each call's contract is noted

use rusqlite::{Connection, ffi};
use std::ffi::{CStr, c_int};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// One prepared statement on a connection, finalized when dropped. It must be dropped before
/// the connection is closed (a field of [`crate::Store`] declared before the connection).
pub(crate) struct StaticStatement {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: NonNull<ffi::sqlite3>,
}

// SAFETY: a statement, like the connection it belongs to (rusqlite's `Connection` is `Send`),
// may move to another thread; it is used from one thread at a time (`&mut self`).
unsafe impl Send for StaticStatement {}

impl std::fmt::Debug for StaticStatement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticStatement").finish_non_exhaustive()
    }
}

/// The error SQLite reports on `db` for result code `rc`, as rusqlite reports its own.
fn error(db: NonNull<ffi::sqlite3>, rc: c_int) -> rusqlite::Error {
    // SAFETY: `db` is an open connection; the message is copied before any other call on it.
    let message = unsafe {
        let text = ffi::sqlite3_errmsg(db.as_ptr());
        (!text.is_null()).then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), message)
}

impl StaticStatement {
    /// Prepares `sql` (one statement) on `conn`, to be kept and run many times.
    pub(crate) fn prepare(conn: &Connection, sql: &str) -> rusqlite::Result<Self> {
        // SAFETY: the handle is used only while `conn` is open: this statement is finalized
        // before it closes (see the type's documentation).
        let db =
            NonNull::new(unsafe { conn.handle() }).ok_or_else(|| rusqlite::Error::InvalidQuery)?;
        let len = c_int::try_from(sql.len()).map_err(|_| {
            rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), None)
        })?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `sql` is valid for `len` bytes (it need not end with a NUL when the length is
        // given); `stmt` receives the statement or NULL.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db.as_ptr(),
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(db, rc));
        }
        // NULL with SQLITE_OK: the text held no statement.
        let stmt = NonNull::new(stmt).ok_or(rusqlite::Error::InvalidQuery)?;
        Ok(Self { stmt, db })
    }

    /// Binds values with `bind`, runs the statement to its end (it must return no row), and
    /// returns the number of rows it changed. The statement is reset and its bindings cleared
    /// before this returns, so SQLite keeps no pointer to the values after it.
    pub(crate) fn run<'a>(
        &mut self,
        bind: impl FnOnce(&mut Binder<'a, '_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<u64> {
        let result = self.bind_and_step(bind).and_then(|rc| match rc {
            // SAFETY: the connection is open.
            ffi::SQLITE_DONE => Ok(unsafe { ffi::sqlite3_changes64(self.db.as_ptr()) } as u64),
            ffi::SQLITE_ROW => Err(rusqlite::Error::ExecuteReturnedResults),
            rc => Err(error(self.db, rc)),
        });
        self.clear();
        result
    }

    /// Like [`StaticStatement::run`] for a query: the first column of its first row, as an
    /// integer (the other rows are not read); an error when there is none.
    pub(crate) fn query_int<'a>(
        &mut self,
        bind: impl FnOnce(&mut Binder<'a, '_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<i64> {
        let result = self.bind_and_step(bind).and_then(|rc| match rc {
            // SAFETY: the row is current until the statement is reset below.
            ffi::SQLITE_ROW => Ok(unsafe { ffi::sqlite3_column_int64(self.stmt.as_ptr(), 0) }),
            ffi::SQLITE_DONE => Err(rusqlite::Error::QueryReturnedNoRows),
            rc => Err(error(self.db, rc)),
        });
        self.clear();
        result
    }

    /// Binds values with `bind` and steps the statement once: SQLite's result code.
    fn bind_and_step<'a>(
        &mut self,
        bind: impl FnOnce(&mut Binder<'a, '_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<c_int> {
        bind(&mut Binder {
            statement: self,
            values: PhantomData,
        })?;
        // SAFETY: the statement is valid and its parameters point at values borrowed for 'a,
        // which outlives the caller's use of the statement (it clears them before returning).
        Ok(unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) })
    }

    /// Resets the statement and clears its bindings: SQLite keeps no pointer to bound values.
    fn clear(&mut self) {
        // SAFETY: the statement is valid; reset and clear_bindings take any state. Reset
        // returns the last step's error again, which the caller already has.
        unsafe {
            ffi::sqlite3_reset(self.stmt.as_ptr());
            ffi::sqlite3_clear_bindings(self.stmt.as_ptr());
        }
    }
}

impl Drop for StaticStatement {
    fn drop(&mut self) {
        // SAFETY: the statement is valid and is not used again.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// Binds the parameters of one run of a [`StaticStatement`] (numbered from 1). Text is bound
/// where it is, for `'a`.
pub(crate) struct Binder<'a, 's> {
    statement: &'s mut StaticStatement,
    values: PhantomData<&'a str>,
}

impl<'a> Binder<'a, '_> {
    fn check(&self, rc: c_int) -> rusqlite::Result<()> {
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(error(self.statement.db, rc))
        }
    }

    fn stmt(&self) -> *mut ffi::sqlite3_stmt {
        self.statement.stmt.as_ptr()
    }

    /// Parameter `i` is `text`, read in place until the run ends.
    pub(crate) fn text(&mut self, i: usize, text: &'a str) -> rusqlite::Result<()> {
        // SAFETY: `text` is valid UTF-8 of this length and lives (unchanged: it is borrowed)
        // until `run` has cleared the bindings; SQLITE_STATIC tells SQLite not to copy or free it.
        let rc = unsafe {
            ffi::sqlite3_bind_text64(
                self.stmt(),
                index(i),
                text.as_ptr().cast(),
                text.len() as u64,
                ffi::SQLITE_STATIC(),
                ffi::SQLITE_UTF8 as u8,
            )
        };
        self.check(rc)
    }

    /// Parameter `i` is `text`, or NULL.
    pub(crate) fn opt_text(&mut self, i: usize, text: Option<&'a str>) -> rusqlite::Result<()> {
        match text {
            Some(text) => self.text(i, text),
            None => self.null(i),
        }
    }

    /// Parameter `i` is `value`.
    pub(crate) fn int(&mut self, i: usize, value: i64) -> rusqlite::Result<()> {
        // SAFETY: the statement is valid.
        let rc = unsafe { ffi::sqlite3_bind_int64(self.stmt(), index(i), value) };
        self.check(rc)
    }

    /// Parameter `i` is `value`, or NULL.
    pub(crate) fn opt_int(&mut self, i: usize, value: Option<i64>) -> rusqlite::Result<()> {
        match value {
            Some(value) => self.int(i, value),
            None => self.null(i),
        }
    }

    /// Parameter `i` is `value` (NaN is bound as NULL, as SQLite stores it).
    pub(crate) fn real(&mut self, i: usize, value: f64) -> rusqlite::Result<()> {
        // SAFETY: the statement is valid.
        let rc = unsafe { ffi::sqlite3_bind_double(self.stmt(), index(i), value) };
        self.check(rc)
    }

    /// Parameter `i` is `value`, or NULL.
    pub(crate) fn opt_real(&mut self, i: usize, value: Option<f64>) -> rusqlite::Result<()> {
        match value {
            Some(value) => self.real(i, value),
            None => self.null(i),
        }
    }

    /// Parameter `i` is NULL.
    pub(crate) fn null(&mut self, i: usize) -> rusqlite::Result<()> {
        // SAFETY: the statement is valid.
        let rc = unsafe { ffi::sqlite3_bind_null(self.stmt(), index(i)) };
        self.check(rc)
    }
}

/// A parameter number as SQLite takes it; one past any statement's last (an error from the
/// bind call) when it does not fit.
fn index(i: usize) -> c_int {
    c_int::try_from(i).unwrap_or(c_int::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of the test table.
    type Row = (String, Option<i64>, Option<f64>, Option<String>);

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t (a TEXT, b INTEGER, c REAL, d TEXT)")
            .expect("create");
        conn
    }

    #[test]
    fn values_bound_in_place_are_stored_and_the_run_counts_its_rows() {
        let conn = conn();
        let mut insert = StaticStatement::prepare(
            &conn,
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4), (?5, ?6, ?7, ?8)",
        )
        .expect("prepare");
        for round in 0..3 {
            // Fresh strings each round, dropped after the run: nothing of them may be kept.
            let first = format!("first {round} \u{e9}\u{1f600}");
            let second = "x".repeat(5_000 + round);
            let changed = insert
                .run(|b| {
                    b.text(1, &first)?;
                    b.int(2, round as i64)?;
                    b.real(3, 0.5)?;
                    b.opt_text(4, None)?;
                    b.text(5, &second)?;
                    b.opt_int(6, None)?;
                    b.opt_real(7, Some(-1.25))?;
                    b.opt_text(8, Some(""))
                })
                .expect("run");
            assert_eq!(changed, 2);
        }
        drop(insert);
        let rows: Vec<Row> = conn
            .prepare("SELECT a, b, c, d FROM t ORDER BY rowid")
            .expect("select")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(rows.len(), 6);
        assert_eq!(
            rows[4],
            ("first 2 \u{e9}\u{1f600}".into(), Some(2), Some(0.5), None)
        );
        assert_eq!(
            rows[5],
            ("x".repeat(5_002), None, Some(-1.25), Some(String::new()))
        );
    }

    #[test]
    fn a_failed_run_reports_sqlite_s_error_and_leaves_the_statement_usable() {
        let conn = conn();
        conn.execute_batch("CREATE UNIQUE INDEX t_a ON t(a)")
            .expect("index");
        let mut insert = StaticStatement::prepare(&conn, "INSERT OR FAIL INTO t (a) VALUES (?1)")
            .expect("prepare");
        insert.run(|b| b.text(1, "same")).expect("first");
        let err = insert.run(|b| b.text(1, "same")).expect_err("duplicate");
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation)
        );
        assert!(
            err.to_string().contains("UNIQUE constraint failed: t.a"),
            "{err}"
        );
        // A parameter past the statement's last.
        let err = insert.run(|b| b.text(2, "other")).expect_err("range");
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ParameterOutOfRange)
        );
        assert!(
            err.to_string().contains("column index out of range"),
            "{err}"
        );
        // The parameter the failed binding left unbound is NULL, not the last run's value.
        assert_eq!(insert.run(|_| Ok(())).expect("nulls"), 1);
        assert_eq!(insert.run(|b| b.text(1, "other")).expect("after"), 1);
        let texts: Vec<Option<String>> = conn
            .prepare("SELECT a FROM t ORDER BY rowid")
            .expect("select")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(texts, [Some("same".into()), None, Some("other".into())]);
    }

    #[test]
    fn a_query_gives_its_first_integer_or_no_rows() {
        let conn = conn();
        conn.execute_batch("INSERT INTO t (a, b) VALUES ('x', 5), ('x', 7), ('y', 1)")
            .expect("rows");
        let mut count =
            StaticStatement::prepare(&conn, "SELECT COUNT(*), SUM(b) FROM t WHERE a = ?1")
                .expect("prepare");
        let mut first = StaticStatement::prepare(&conn, "SELECT b FROM t WHERE a = ?1 ORDER BY b")
            .expect("prepare");
        for (a, n, b) in [("x", 2, Some(5)), ("y", 1, Some(1)), ("z", 0, None)] {
            let key = a.to_string();
            assert_eq!(count.query_int(|q| q.text(1, &key)).expect("count"), n);
            match (first.query_int(|q| q.text(1, &key)), b) {
                (Ok(got), Some(want)) => assert_eq!(got, want),
                (Err(rusqlite::Error::QueryReturnedNoRows), None) => {}
                (other, want) => panic!("{a}: {other:?}, expected {want:?}"),
            }
        }
        // A query left after its first row of several is reset: a write after it commits.
        let _ = first.query_int(|q| q.text(1, "x")).expect("first of two");
        conn.execute_batch("BEGIN; INSERT INTO t (a) VALUES ('w'); COMMIT;")
            .expect("write");
    }

    #[test]
    fn a_statement_that_returns_rows_or_is_not_sql_is_an_error() {
        let conn = conn();
        let err =
            StaticStatement::prepare(&conn, "INSERT INTO nowhere VALUES (1)").expect_err("table");
        assert!(err.to_string().contains("no such table: nowhere"), "{err}");
        assert!(matches!(
            StaticStatement::prepare(&conn, "  "),
            Err(rusqlite::Error::InvalidQuery)
        ));
        let mut select = StaticStatement::prepare(&conn, "SELECT ?1").expect("prepare");
        assert!(matches!(
            select.run(|b| b.int(1, 1)),
            Err(rusqlite::Error::ExecuteReturnedResults)
        ));
    }
}
