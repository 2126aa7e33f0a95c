//! The drift detector's own table as a contract, case by case: a table in milliseconds with its
//! own names, generated columns (virtual and stored), a view, a wrong time unit in both
//! directions (windows in 1970 and after 2200), a missing column. Each gives the right
//! correlation or a clear error, and afterwards the detector's objects are byte-identical: the
//! schema text of every object in the file and a checksum of every row. `api --drift-sql`
//! prints the query the endpoint runs, and that query, run by hand on a detector-shaped table,
//! gives the same rows, page by page.
//!
//! The correlation lists the breached LLM calls (spans) of each window, one entry per call with
//! every breached row on it, and pages: a cursor walks more windows than a page holds exactly
//! once (a view without an id column too), a window with more calls than the cap says so, calls
//! starting outside a window and a not-drifted window are left out. Expected values are
//! computed from the rows the test writes through the store's writer.

use crate::util::*;
use axum::http::StatusCode;
use gateway_api::routes::snapshots::configure_drift;
use gateway_config::DriftConfig;
use gateway_store::{MetricRow, SpanRow};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// The schema text of every object in the file, and one checksum per row of each of `tables`.
type Fingerprint = (
    Vec<(String, String, Option<String>)>,
    Vec<(String, Vec<u64>)>,
);

fn fingerprint(db: &TestDb, tables: &[&str]) -> Fingerprint {
    let c = db.store.connection();
    let schema = c
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .expect("ok")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("ok")
        .map(|r| r.expect("row"))
        .collect();
    let rows = tables
        .iter()
        .map(|t| {
            // Every column (generated ones too), each value quoted with its type.
            let columns: Vec<String> = c
                .prepare("SELECT name FROM pragma_table_xinfo(?1) ORDER BY cid")
                .expect("columns")
                .query_map([t], |r| r.get(0))
                .expect("columns")
                .map(|r| r.expect("column"))
                .collect();
            let row = columns
                .iter()
                .map(|col| format!("typeof(\"{col}\") || ':' || quote(\"{col}\")"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let mut sums: Vec<u64> = c
                .prepare(&format!("SELECT {row} FROM \"{t}\""))
                .expect("rows")
                .query_map([], |r| r.get::<_, String>(0))
                .expect("rows")
                .map(|r| {
                    let mut h = DefaultHasher::new();
                    r.expect("row").hash(&mut h);
                    h.finish()
                })
                .collect();
            sums.sort_unstable();
            ((*t).to_owned(), sums)
        })
        .collect();
    (schema, rows)
}

/// One gateway request as the gateway's writer stores it: a root (server) span, the LLM call
/// (client) with its usage, `post_processing` with the cost (none: unpriced, no cost
/// attribute) and the metric rows, which name the LLM call and are written when it ends.
#[derive(Debug, Clone)]
struct Call {
    /// Unique per call: its span ids derive from it.
    n: u64,
    trace: String,
    model: &'static str,
    start: i64,
    ms: i64,
    cost: Option<f64>,
    /// `(metric, value, threshold)`: breached when the value is above the threshold.
    rows: Vec<(&'static str, f64, f64)>,
}

impl Call {
    fn llm(&self) -> String {
        format!("{:016x}", 0x1_0000 + self.n)
    }
    fn root(&self) -> String {
        format!("{:016x}", 0x2_0000 + self.n)
    }
    fn post(&self) -> String {
        format!("{:016x}", 0x3_0000 + self.n)
    }
    fn end(&self) -> i64 {
        self.start + self.ms * MS
    }
    fn input_tokens(&self) -> i64 {
        10 * self.n as i64
    }
    fn output_tokens(&self) -> i64 {
        7 * self.n as i64 + 1
    }
    fn breached(&self) -> Vec<(&'static str, f64, f64)> {
        self.rows.iter().copied().filter(|r| r.1 > r.2).collect()
    }
    fn spans(&self) -> Vec<SpanRow> {
        let span =
            |id: String, parent: Option<String>, name: String, kind, attrs: String| SpanRow {
                span_id: id,
                trace_id: self.trace.clone(),
                parent_span_id: parent,
                name,
                kind,
                start_time_unix_nano: self.start,
                end_time_unix_nano: self.end(),
                status_code: "unset",
                status_message: None,
                attributes_json: attrs,
                events_json: "[]".into(),
            };
        let cost = match self.cost {
            Some(usd) => format!("\"gateway.cost.usd\":{usd}"),
            None => "\"gateway.cost.unpriced\":true".into(),
        };
        vec![
            span(self.root(), None, "POST".into(), "server", "{}".into()),
            span(
                self.llm(),
                Some(self.root()),
                format!("generate_content {}", self.model),
                "client",
                format!(
                    "{{\"gateway.step\":\"llm_call\",\"gen_ai.operation.name\":\"generate_content\",\
                     \"gen_ai.request.model\":\"{}\",\"gen_ai.usage.input_tokens\":{},\
                     \"gen_ai.usage.output_tokens\":{}}}",
                    self.model,
                    self.input_tokens(),
                    self.output_tokens()
                ),
            ),
            span(
                self.post(),
                Some(self.root()),
                "post_processing".into(),
                "internal",
                format!("{{\"gateway.step\":\"post_processing\",{cost}}}"),
            ),
        ]
    }
    fn metric_rows(&self) -> Vec<MetricRow> {
        self.rows
            .iter()
            .map(|&(metric, value, threshold)| MetricRow {
                trace_id: self.trace.clone(),
                metric: metric.into(),
                value,
                threshold: Some(threshold),
                breached: value > threshold,
                model: Some(self.model.into()),
                created_at_unix_nano: self.end(),
                span_id: Some(self.post()),
                llm_span_id: Some(self.llm()),
                request_span_id: Some(self.root()),
            })
            .collect()
    }
}

/// Writes the calls through the store's writer, in order (a trace's requests are numbered in
/// the order written).
fn write_calls(db: &mut TestDb, calls: &[Call]) {
    let spans: Vec<SpanRow> = calls.iter().flat_map(Call::spans).collect();
    let metrics: Vec<MetricRow> = calls.iter().flat_map(Call::metric_rows).collect();
    db.store
        .write_all(&spans, &[], &metrics)
        .expect("write calls");
}

/// A breached row that names no stored LLM call (an older row, or a span that is gone).
struct Loose {
    model: &'static str,
    at: i64,
}

/// The breached calls of a window as the correlation must list them: started in `[ws, we)`,
/// at least one breached row, of the window's model (none: any), by start then span id.
fn expected_spans<'a>(calls: &'a [Call], ws: i64, we: i64, model: Option<&str>) -> Vec<&'a Call> {
    let mut v: Vec<&Call> = calls
        .iter()
        .filter(|c| c.start >= ws && c.start < we && !c.breached().is_empty())
        .filter(|c| model.is_none_or(|m| m == c.model))
        .collect();
    v.sort_by_key(|c| (c.start, c.llm()));
    v
}

/// Breached rows created in `[ws, we)` naming no stored call, of the window's model.
fn expected_unattributed(loose: &[Loose], ws: i64, we: i64, model: Option<&str>) -> u64 {
    loose
        .iter()
        .filter(|l| l.at >= ws && l.at < we && model.is_none_or(|m| m == l.model))
        .count() as u64
}

/// Checks one listed span against the call it must be, field by field.
fn assert_span(got: &serde_json::Value, c: &Call, index_in_trace: i64) {
    assert_eq!(got["span_id"], c.llm().as_str(), "{got}");
    assert_eq!(got["trace_id"], c.trace.as_str(), "{got}");
    assert_eq!(
        got["name"],
        format!("generate_content {}", c.model),
        "{got}"
    );
    assert_eq!(got["operation"], "generate_content", "{got}");
    assert_eq!(got["model"], c.model, "{got}");
    assert_eq!(got["start_time_unix_nano"], c.start, "{got}");
    assert_eq!(got["duration_ms"].as_f64(), Some(c.ms as f64), "{got}");
    assert_eq!(got["input_tokens"], c.input_tokens(), "{got}");
    assert_eq!(got["output_tokens"], c.output_tokens(), "{got}");
    assert!(got["cached_tokens"].is_null(), "not reported: null: {got}");
    assert_eq!(
        got["cost_usd"].as_f64(),
        c.cost,
        "unpriced stays null: {got}"
    );
    assert_eq!(got["unpriced"], c.cost.is_none(), "{got}");
    assert_eq!(got["request_index"], index_in_trace, "{got}");
    let breaches: Vec<(String, f64, f64)> = got["breaches"]
        .as_array()
        .expect("breaches")
        .iter()
        .map(|b| {
            (
                b["metric"].as_str().expect("metric").to_owned(),
                b["value"].as_f64().expect("value"),
                b["threshold"].as_f64().expect("threshold"),
            )
        })
        .collect();
    let want: Vec<(String, f64, f64)> = c
        .breached()
        .into_iter()
        .map(|(m, v, t)| (m.to_owned(), v, t))
        .collect();
    assert_eq!(
        breaches, want,
        "every breached row of the call, no other: {got}"
    );
}

/// Traces in `[t0, t0 + 10 s)`: `tid(1..=10)`, the slowest last; trace 1 of another model.
/// Breached LLM calls inside the window: trace 3 (flash, two breached rows and one not on
/// the same call) and trace 1 (other); trace 4's call breached nothing; trace 11's call starts
/// outside the window; one breached row of trace 5 names no call. Returns the calls.
fn fill(db: &mut TestDb, t0: i64) -> (Vec<Call>, Vec<Loose>) {
    let rows: Vec<_> = (0..10u64)
        .map(|i| {
            let mut t = trace(
                &tid(i + 1),
                t0 + i as i64 * 1000 * MS,
                100.0 * (i + 1) as f64,
            );
            t.cost_usd = Some((i + 1) as f64 / 100.0);
            if i == 0 {
                t.model = Some("gemini-other".into());
            }
            t
        })
        .collect();
    db.write(&rows);
    let call = |n: u64, model, start_ms: i64, rows| Call {
        n,
        trace: tid(n),
        model,
        start: t0 + start_ms * MS,
        ms: 100 * n as i64,
        cost: Some(n as f64 / 100.0),
        rows,
    };
    let calls = vec![
        call(
            3,
            FLASH,
            2000,
            vec![
                ("latency_ms", 300.0, 250.0),
                ("cost_usd", 0.03, 0.01),
                ("ttft_ms", 50.0, 100.0),
            ],
        ),
        call(4, FLASH, 3000, vec![("latency_ms", 1.0, 250.0)]),
        call(1, OTHER, 0, vec![("latency_ms", 300.0, 1.0)]),
        call(11, FLASH, 30_000, vec![("latency_ms", 300.0, 1.0)]),
    ];
    write_calls(db, &calls);
    db.snapshot(&tid(5), "latency_ms", 300.0, true, t0 + 4500 * MS);
    let loose = vec![Loose {
        model: FLASH,
        at: t0 + 4500 * MS,
    }];
    (calls, loose)
}

const FLASH: &str = "gemini-2.5-flash";
const OTHER: &str = "gemini-other";

fn ids(v: &serde_json::Value, key: &str, field: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}: {v}"))
        .iter()
        .map(|t| t[field].as_str().expect("ok").to_owned())
        .collect()
}

/// The detector's layout: `run_id`, window in ms, its own names, and a drifted flag.
fn detector_table(db: &TestDb, t0: i64) {
    let (a, z) = (t0 / MS, t0 / MS + 10_000);
    db.store
        .connection()
        .execute_batch(&format!(
            "CREATE TABLE drift_runs (run_id INTEGER PRIMARY KEY, window_start_ms INTEGER NOT NULL,
                 window_end_ms INTEGER NOT NULL, model_name TEXT, feature_name TEXT, psi REAL,
                 drifted INTEGER);
             INSERT INTO drift_runs VALUES
                 (11, {a}, {z}, 'gemini-2.5-flash', 'prompt_length', 0.31, 1),
                 (12, {a}, {z}, 'gemini-2.5-flash', 'language', 0.02, 0),
                 (13, {a}, {z}, 'gemini-other', 'tone', 0.4, 1);"
        ))
        .expect("ok");
}

fn ms_mapping() -> DriftConfig {
    DriftConfig {
        table: "drift_runs".into(),
        window_start_column: "window_start_ms".into(),
        window_end_column: "window_end_ms".into(),
        time_unit: "ms".into(),
        model_column: "model_name".into(),
        feature_column: "feature_name".into(),
        score_column: "psi".into(),
        drifted_column: "drifted".into(),
        ..DriftConfig::default()
    }
}

/// Checks every window of a page against the calls and loose rows written: the breached calls
/// listed (all of them, none truncated at the default cap), the count of rows naming no call.
fn assert_windows(b: &serde_json::Value, calls: &[Call], loose: &[Loose]) {
    for c in b["correlations"].as_array().expect("correlations") {
        let ws = c["drift"]["window_start_unix_nano"]
            .as_i64()
            .expect("start");
        let we = c["drift"]["window_end_unix_nano"].as_i64().expect("end");
        let model = c["drift"]["model"].as_str();
        let want = expected_spans(calls, ws, we, model);
        let got = c["breached_spans"].as_array().expect("breached_spans");
        assert_eq!(got.len(), want.len(), "{c}");
        for (g, w) in got.iter().zip(&want) {
            assert_span(g, w, 1);
        }
        assert_eq!(c["spans_total"], want.len(), "{c}");
        assert_eq!(c["spans_truncated"], false, "{c}");
        assert_eq!(
            c["unattributed_breaches"],
            expected_unattributed(loose, ws, we, model),
            "{c}"
        );
    }
}

/// Checks the correlation of the detector rows 11 (flash) and 13 (other) over `fill`'s data.
fn assert_flash_and_other(b: &serde_json::Value, (calls, loose): &(Vec<Call>, Vec<Loose>)) {
    let rows = b["correlations"].as_array().expect("ok");
    assert_eq!(rows.len(), 2, "only the drifted rows: {b}");
    assert_eq!(b["has_more"], false, "{b}");
    let by_feature = |f: &str| {
        rows.iter()
            .find(|c| c["drift"]["feature"] == f)
            .unwrap_or_else(|| panic!("{f}: {b}"))
    };
    let flash = by_feature("prompt_length");
    assert_eq!(flash["drift"]["model"], "gemini-2.5-flash");
    assert_eq!(flash["drift"]["drifted"], true);
    // Three rows on trace 3's call, two breached: one entry with both.
    assert_eq!(ids(flash, "breached_spans", "trace_id"), [tid(3)]);
    assert_eq!(
        flash["breached_spans"][0]["breaches"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(flash["unattributed_breaches"], 1, "trace 5's row: {flash}");
    assert_eq!(
        ids(flash, "slowest_traces", "trace_id"),
        (6..=10).rev().map(tid).collect::<Vec<_>>()
    );
    let other = by_feature("tone");
    assert_eq!(ids(other, "breached_spans", "trace_id"), [tid(1)]);
    assert_eq!(ids(other, "slowest_traces", "trace_id"), [tid(1)]);
    assert_windows(b, calls, loose);
}

#[tokio::test]
async fn a_detector_table_in_milliseconds_is_correlated_and_left_identical() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    let fixture = fill(&mut db, t0);
    detector_table(&db, t0);
    let before = fingerprint(&db, &["drift_runs"]);
    assert_eq!(configure_drift(&db.path, &ms_mapping()), Ok(true));
    let (s, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["warnings"].as_array().map(Vec::len), Some(0), "{b}");
    assert_flash_and_other(&b, &fixture);
    let flash = &b["correlations"].as_array().expect("ok")[0];
    assert_eq!(
        flash["drift"]["id"], 11,
        "run_id is not `id`: the rowid, equal here"
    );
    assert_eq!(flash["drift"]["window_start_unix_nano"], t0 / MS * MS);
    assert_eq!(fingerprint(&db, &["drift_runs"]), before);
}

#[tokio::test]
async fn generated_columns_count_as_columns() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    let fixture = fill(&mut db, t0);
    let start = t0 / 1_000_000_000;
    db.store
        .connection()
        .execute_batch(&format!(
            "CREATE TABLE drift_gen (run_id INTEGER PRIMARY KEY, start_s INTEGER, len_s INTEGER,
                 end_s INTEGER GENERATED ALWAYS AS (start_s + len_s) VIRTUAL,
                 model_name TEXT, feature_name TEXT, psi REAL,
                 flagged INTEGER GENERATED ALWAYS AS (psi > 0.2) STORED);
             INSERT INTO drift_gen (run_id, start_s, len_s, model_name, feature_name, psi) VALUES
                 (1, {start}, 11, 'gemini-2.5-flash', 'prompt_length', 0.31),
                 (2, {start}, 11, 'gemini-2.5-flash', 'language', 0.02),
                 (3, {start}, 11, 'gemini-other', 'tone', 0.4);"
        ))
        .expect("ok");
    let before = fingerprint(&db, &["drift_gen"]);
    let config = DriftConfig {
        table: "drift_gen".into(),
        window_start_column: "start_s".into(),
        window_end_column: "end_s".into(),
        time_unit: "s".into(),
        drifted_column: "flagged".into(),
        ..ms_mapping()
    };
    assert_eq!(
        configure_drift(&db.path, &config),
        Ok(true),
        "end_s (virtual) and flagged (stored) are columns"
    );
    let (s, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_flash_and_other(&b, &fixture);
    assert_eq!(
        b["correlations"][0]["drift"]["window_end_unix_nano"],
        (start + 11) * 1_000_000_000
    );
    assert_eq!(fingerprint(&db, &["drift_gen"]), before);
}

#[tokio::test]
async fn a_view_over_the_detector_table_is_read() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    let fixture = fill(&mut db, t0);
    detector_table(&db, t0);
    db.store
        .connection()
        .execute_batch(
            "CREATE VIEW drift_view AS SELECT run_id AS id, window_start_ms AS ws,
                 window_end_ms AS we, model_name AS m, feature_name AS f, psi AS score,
                 CASE drifted WHEN 1 THEN 'yes' ELSE 'no' END AS flag FROM drift_runs",
        )
        .expect("ok");
    let before = fingerprint(&db, &["drift_runs", "drift_view"]);
    let config = DriftConfig {
        table: "drift_view".into(),
        window_start_column: "ws".into(),
        window_end_column: "we".into(),
        time_unit: "ms".into(),
        model_column: "m".into(),
        feature_column: "f".into(),
        score_column: "score".into(),
        drifted_column: "flag".into(),
        ..DriftConfig::default()
    };
    assert_eq!(configure_drift(&db.path, &config), Ok(true));
    let (s, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_flash_and_other(&b, &fixture);
    let got: Vec<_> = b["correlations"]
        .as_array()
        .expect("ok")
        .iter()
        .map(|c| c["drift"]["id"].as_i64())
        .collect();
    assert_eq!(got, [Some(11), Some(13)], "the view's id column is used");
    assert_eq!(fingerprint(&db, &["drift_runs", "drift_view"]), before);
}

#[tokio::test]
async fn a_wrong_time_unit_warns_with_the_year_it_gives() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    fill(&mut db, t0);
    detector_table(&db, t0);
    let before = fingerprint(&db, &["drift_runs"]);
    // Milliseconds read as nanoseconds fall in 1970; read as seconds, beyond 2200 (past what
    // 64-bit nanoseconds hold).
    for (unit, year) in [("ns", "1970"), ("s", "2200")] {
        let config = DriftConfig {
            time_unit: unit.into(),
            ..ms_mapping()
        };
        assert_eq!(configure_drift(&db.path, &config), Ok(true));
        let (s, b) = get(&db.app(), "/api/correlations/drift").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let warnings: Vec<&str> = b["warnings"]
            .as_array()
            .expect("ok")
            .iter()
            .map(|w| w.as_str().expect("ok"))
            .collect();
        assert_eq!(warnings.len(), 2, "both window columns: {b}");
        for (w, column) in warnings.iter().zip(["window_start_ms", "window_end_ms"]) {
            assert!(
                w.contains(column) && w.contains(&format!("time_unit = \"{unit}\"")),
                "{w}"
            );
            assert!(
                w.contains(year),
                "{unit}: the warning says where it lands: {w}"
            );
        }
        assert!(
            b["correlations"]
                .as_array()
                .expect("ok")
                .iter()
                .all(
                    |c| c["breached_spans"].as_array().is_some_and(Vec::is_empty)
                        && c["unattributed_breaches"] == 0
                ),
            "wrong windows match nothing, and say so: {b}"
        );
    }
    assert_eq!(fingerprint(&db, &["drift_runs"]), before);
}

#[tokio::test]
async fn a_missing_column_is_a_clear_error_naming_it() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    fill(&mut db, t0);
    detector_table(&db, t0);
    let before = fingerprint(&db, &["drift_runs"]);
    let config = DriftConfig {
        window_end_column: "window_stop_ms".into(),
        model_column: "model".into(),
        ..ms_mapping()
    };
    let err = configure_drift(&db.path, &config).expect_err("refused");
    for named in [
        "window_stop_ms ([drift] window_end_column)",
        "model ([drift] model_column)",
        "drift_runs",
    ] {
        assert!(err.contains(named), "{named}: {err}");
    }
    assert!(!err.contains("feature_name"), "only what is missing: {err}");
    // The mapping in force is unchanged by a refused one.
    assert_eq!(configure_drift(&db.path, &ms_mapping()), Ok(true));
    // A table that loses a column after the check: the request says which.
    db.store
        .connection()
        .execute_batch("ALTER TABLE drift_runs RENAME COLUMN psi TO psi_v2")
        .expect("ok");
    let renamed = fingerprint(&db, &["drift_runs"]);
    assert_ne!(renamed, before, "the detector changed its own table");
    let (s, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        message(&b).contains("psi ([drift] score_column)"),
        "{}",
        message(&b)
    );
    assert_eq!(fingerprint(&db, &["drift_runs"]), renamed);
}

fn api_drift_sql(db: &TestDb, mapping: &str) -> std::process::Output {
    let config = db._dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!("[storage]\npath = \"{}\"\n{mapping}", db.path.display()),
    )
    .expect("ok");
    std::process::Command::new(env!("CARGO_BIN_EXE_api"))
        .arg("--config")
        .arg(&config)
        .arg("--drift-sql")
        .output()
        .expect("ok")
}

const MS_MAPPING: &str = "[drift]\ntable = \"drift_runs\"\nwindow_start_column = \"window_start_ms\"\n\
    window_end_column = \"window_end_ms\"\ntime_unit = \"ms\"\nmodel_column = \"model_name\"\n\
    feature_column = \"feature_name\"\nscore_column = \"psi\"\ndrifted_column = \"drifted\"\n";

#[tokio::test]
async fn api_prints_the_drift_sql_and_it_gives_the_endpoints_rows() {
    let mut db = TestDb::new();
    let t0 = now() - 600_000 * MS;
    let fixture = fill(&mut db, t0);
    detector_table(&db, t0);
    let out = api_drift_sql(&db, MS_MAPPING);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sql = String::from_utf8(out.stdout).expect("ok");
    assert!(sql.starts_with("-- The drift correlation"), "{sql}");
    assert!(
        sql.contains("\"drift_runs\"") && sql.contains("* 1000000"),
        "{sql}"
    );
    let before = fingerprint(&db, &["drift_runs"]);
    // Run by hand, as an integrator would, on the detector-shaped table: the first page (the
    // `:after_*` parameters unbound, hence NULL), then the page after its first row, bound from
    // that row's key columns.
    let conn = db.store.connection();
    let mut stmt = conn
        .prepare(sql.trim_end().trim_end_matches(';'))
        .expect("the printed SQL prepares");
    for (name, v) in [
        (":since", i64::MIN),
        (":until", i64::MAX),
        (":limit", 50),
        (":spans", 20),
        (":top", 5),
    ] {
        let i = stmt.parameter_index(name).expect("ok").expect(name);
        stmt.raw_bind_parameter(i, v).expect("bind");
    }
    let mut first = Vec::new();
    {
        let mut rows = stmt.raw_query();
        while let Some(r) = rows.next().expect("row") {
            let keys: (i64, i64, i64, String, String) = (
                r.get(6).expect("start"),
                r.get(8).expect("key_id"),
                r.get(7).expect("end"),
                r.get(9).expect("key_feature"),
                r.get(10).expect("key_model"),
            );
            let row: (i64, String, String, i64, String) = (
                r.get(0).expect("id"),
                r.get(1).expect("feature"),
                r.get(11).expect("spans"),
                r.get(12).expect("unattributed"),
                r.get(13).expect("slowest"),
            );
            first.push((row, keys));
        }
    }
    assert_eq!(
        first
            .iter()
            .map(|(r, _)| (r.0, r.1.as_str()))
            .collect::<Vec<_>>(),
        [(11, "prompt_length"), (13, "tone")],
        "drifted rows only, ascending by window start, then id"
    );
    let ((_, _, spans, unattributed, slow), keys) = &first[0];
    let spans: serde_json::Value = serde_json::from_str(spans).expect("spans JSON");
    assert_eq!(spans["total"], 1, "{spans}");
    assert_eq!(spans["spans"][0]["trace_id"], tid(3).as_str(), "{spans}");
    assert_eq!(spans["spans"][0]["span_id"], fixture.0[0].llm().as_str());
    assert_eq!(*unattributed, 1, "trace 5's row names no call");
    let slow: serde_json::Value = serde_json::from_str(slow).expect("ok");
    assert_eq!(slow.as_array().map(Vec::len), Some(5));
    for (name, v) in [
        (":after_start", keys.0),
        (":after_id", keys.1),
        (":after_end", keys.2),
    ] {
        let i = stmt.parameter_index(name).expect("ok").expect(name);
        stmt.raw_bind_parameter(i, v).expect("bind");
    }
    for (name, v) in [(":after_feature", &keys.3), (":after_model", &keys.4)] {
        let i = stmt.parameter_index(name).expect("ok").expect(name);
        stmt.raw_bind_parameter(i, v).expect("bind");
    }
    let mut second = Vec::new();
    {
        let mut rows = stmt.raw_query();
        while let Some(r) = rows.next().expect("row") {
            second.push(r.get::<_, i64>(0).expect("id"));
        }
    }
    assert_eq!(second, [13], "the page after row 11");
    drop(stmt);
    // The endpoint runs the same query.
    assert_eq!(configure_drift(&db.path, &ms_mapping()), Ok(true));
    let (_, b) = get(&db.app(), "/api/correlations/drift").await;
    assert_flash_and_other(&b, &fixture);
    assert_eq!(fingerprint(&db, &["drift_runs"]), before);
    // A mapping that does not fit the table is refused, naming the column.
    let out = api_drift_sql(&db, &MS_MAPPING.replace("\"psi\"", "\"score\""));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("score ([drift] score_column)"), "{err}");
}

/// Walks every page of `uri` (which ends in a query string), following `next` while `has_more`
/// says so; returns the windows of all pages in order. Checks the limits each page states.
async fn walk(app: &axum::Router, uri: &str, limit: u64, spans: u64) -> Vec<serde_json::Value> {
    let mut windows = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let page_uri = match &after {
            Some(a) => format!("{uri}&after={a}"),
            None => uri.to_owned(),
        };
        let (s, b) = get(app, &page_uri).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["limit"], limit, "{b}");
        assert_eq!(b["spans_limit"], spans, "{b}");
        let page = b["correlations"].as_array().expect("correlations");
        assert!(page.len() as u64 <= limit, "{b}");
        windows.extend(page.iter().cloned());
        let next = b["next"].as_str().map(str::to_owned);
        if b["has_more"] == false {
            // The cursor of the last page sees nothing more, and says so.
            let (_, again) = get(app, &format!("{uri}&after={}", next.expect("next"))).await;
            assert_eq!(again["correlations"].as_array().map(Vec::len), Some(0));
            assert_eq!(again["has_more"], false);
            assert_eq!(again["next"], b["next"], "an empty page keeps the cursor");
            return windows;
        }
        assert_eq!(
            page.len() as u64,
            limit,
            "a page with more after it is full: {b}"
        );
        after = next;
    }
    panic!("more than 100 pages");
}

#[tokio::test]
async fn windows_page_by_cursor_and_each_lists_its_breached_spans_once_or_says_it_stopped() {
    let mut db = TestDb::new();
    let t0 = (now() - 3_600_000 * MS) / MS * MS;
    let at = |ms: i64| t0 + ms * MS;
    // Detector windows, 10 s each, in ms: (run_id, start ms, model, feature, drifted). Rows 2
    // and 3 share their window; row 4 has no model (every model's calls); row 6 is not drifted.
    let windows: [(i64, i64, Option<&str>, &str, i64); 8] = [
        (1, 0, Some(FLASH), "f0", 1),
        (2, 10_000, Some(FLASH), "f1", 1),
        (3, 10_000, Some(FLASH), "f1b", 1),
        (4, 20_000, None, "f2", 1),
        (5, 30_000, Some(OTHER), "f3", 1),
        (6, 40_000, Some(FLASH), "f4", 0),
        (7, 50_000, Some(FLASH), "f5", 1),
        (8, 60_000, Some(FLASH), "f6", 1),
    ];
    let mut sql = String::from(
        "CREATE TABLE drift_runs (run_id INTEGER PRIMARY KEY, window_start_ms INTEGER NOT NULL,
             window_end_ms INTEGER NOT NULL, model_name TEXT, feature_name TEXT, psi REAL,
             drifted INTEGER);",
    );
    for (id, start, model, feature, drifted) in windows {
        let model = model.map_or("NULL".to_owned(), |m| format!("'{m}'"));
        sql += &format!(
            "INSERT INTO drift_runs VALUES ({id}, {}, {}, {model}, '{feature}', 0.3, {drifted});",
            t0 / MS + start,
            t0 / MS + start + 10_000
        );
    }
    // The same rows through a view without an id column: keyed by start, end, feature, model.
    sql += "CREATE VIEW drift_runs_view AS SELECT window_start_ms, window_end_ms, model_name,
                feature_name, psi, drifted FROM drift_runs;";
    db.store.connection().execute_batch(&sql).expect("detector");
    // Calls per 10 s slot (0..7): slot s holds `counts[s]` calls; call j of a slot is of the
    // other model every third time, breaches two metrics when j is even (several rows on one
    // span) and one of two when odd, except j = 2, which breaches nothing; j = 1 is unpriced.
    // Calls 2k and 2k+1 of a slot share a trace (two requests of one trace).
    let counts = [1u64, 5, 2, 3, 6, 3, 2, 0];
    let mut calls = Vec::new();
    let mut index_in_trace = std::collections::HashMap::new();
    for (s, &count) in counts.iter().enumerate() {
        for j in 0..count {
            let n = 100 * s as u64 + j + 1;
            let rows = match j {
                2 => vec![("latency_ms", 10.0, 250.0)],
                j if j.is_multiple_of(2) => vec![
                    ("latency_ms", 400.0 + n as f64, 250.0),
                    ("cost_usd", 0.5, 0.1),
                ],
                _ => vec![
                    ("latency_ms", 300.0 + n as f64, 250.0),
                    ("ttft_ms", 5.0, 100.0),
                ],
            };
            let c = Call {
                n,
                trace: tid(1000 * s as u64 + j / 2),
                model: if (s as u64 + j).is_multiple_of(3) {
                    OTHER
                } else {
                    FLASH
                },
                start: at(s as i64 * 10_000 + 100 + j as i64 * 1000),
                ms: 200 + 50 * j as i64,
                cost: (j != 1).then(|| n as f64 / 1000.0),
                rows,
            };
            index_in_trace.insert(c.llm(), (j % 2 + 1) as i64);
            calls.push(c);
        }
    }
    // A call exactly at slot 2's start (inclusive there, exclusive for slot 1); one that starts
    // before every window but breaches inside window 1; one after the last window.
    for (n, start, ms) in [
        (900, at(20_000), 100),
        (901, at(-5_000), 6_000),
        (902, at(80_000), 100),
    ] {
        let c = Call {
            n,
            trace: tid(9000 + n),
            model: FLASH,
            start,
            ms,
            cost: Some(0.25),
            rows: vec![("latency_ms", 999.0, 250.0), ("latency_ms", 998.0, 250.0)],
        };
        index_in_trace.insert(c.llm(), 1);
        calls.push(c);
    }
    write_calls(&mut db, &calls);
    // Breached rows naming no stored call: an older row (no span id) in window 7, and a row
    // whose span is gone in window 8.
    db.snapshot(&tid(77), "latency_ms", 300.0, true, at(51_000));
    let gone = MetricRow {
        trace_id: tid(78),
        metric: "latency_ms".into(),
        value: 300.0,
        threshold: Some(250.0),
        breached: true,
        model: Some(FLASH.into()),
        created_at_unix_nano: at(61_000),
        span_id: None,
        llm_span_id: Some(format!("{:016x}", 0xdead)),
        request_span_id: None,
    };
    db.store.write_all(&[], &[], &[gone]).expect("row");
    let loose = [
        Loose {
            model: FLASH,
            at: at(51_000),
        },
        Loose {
            model: FLASH,
            at: at(61_000),
        },
    ];
    let before = fingerprint(&db, &["drift_runs", "drift_runs_view"]);
    assert_eq!(configure_drift(&db.path, &ms_mapping()), Ok(true));
    let app = db.app();

    let spans_cap = 3u64;
    let walked = walk(
        &app,
        &format!("/api/correlations/drift?limit=2&spans_limit={spans_cap}"),
        2,
        spans_cap,
    )
    .await;
    // Every drifted window exactly once, in ascending (start, id) order; row 6 never.
    let mut want_ids: Vec<(i64, i64)> = windows
        .iter()
        .filter(|w| w.4 == 1)
        .map(|w| (w.1, w.0))
        .collect();
    want_ids.sort_unstable();
    let got_ids: Vec<i64> = walked
        .iter()
        .map(|c| c["drift"]["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(got_ids, want_ids.iter().map(|w| w.1).collect::<Vec<_>>());
    let mut truncated = 0;
    for c in &walked {
        let id = c["drift"]["id"].as_i64().expect("id");
        let w = windows
            .iter()
            .find(|w| w.0 == id)
            .expect("a window written");
        let (ws, we) = (at(w.1), at(w.1 + 10_000));
        assert_eq!(c["drift"]["window_start_unix_nano"], ws);
        let want = expected_spans(&calls, ws, we, w.2);
        let got = c["breached_spans"].as_array().expect("spans");
        assert_eq!(c["spans_total"], want.len(), "window {id}: {c}");
        assert_eq!(
            got.len(),
            want.len().min(spans_cap as usize),
            "window {id}: {c}"
        );
        assert_eq!(c["spans_truncated"], want.len() > spans_cap as usize, "{c}");
        for (g, w) in got.iter().zip(&want) {
            assert_span(g, w, index_in_trace[&w.llm()]);
        }
        assert_eq!(
            c["unattributed_breaches"],
            expected_unattributed(&loose, ws, we, w.2),
            "window {id}: {c}"
        );
        truncated += usize::from(want.len() > spans_cap as usize);
    }
    assert!(truncated > 0, "the data has a window above the cap");
    // The data has what the test claims: a merged trace's second request, several breached
    // rows on one span, an unpriced call, loose rows inside drifted windows.
    let listed: Vec<&serde_json::Value> = walked
        .iter()
        .flat_map(|c| c["breached_spans"].as_array().expect("spans"))
        .collect();
    assert!(listed.iter().any(|s| s["request_index"] == 2));
    assert!(
        listed
            .iter()
            .any(|s| s["breaches"].as_array().is_some_and(|b| b.len() > 1))
    );
    assert!(listed.iter().any(|s| s["cost_usd"].is_null()));
    assert!(walked.iter().any(|c| c["unattributed_breaches"] != 0));
    for outside in [901u64, 902] {
        let llm = format!("{:016x}", 0x1_0000 + outside);
        assert!(
            listed.iter().all(|s| s["span_id"] != llm.as_str()),
            "call {outside} starts outside every window"
        );
    }

    // Without the cap (the default lists up to 20), nothing is truncated, and with the stable
    // row asked for, row 6 appears too.
    let all = walk(
        &app,
        "/api/correlations/drift?limit=500&include_stable=true",
        500,
        20,
    )
    .await;
    assert_eq!(all.len(), windows.len());
    for c in &all {
        assert_eq!(c["spans_truncated"], false, "{c}");
        assert_eq!(
            c["breached_spans"].as_array().map(Vec::len),
            c["spans_total"].as_u64().map(|n| n as usize)
        );
    }

    // A view without an id column: keyed by (start, end, feature, model), the same windows
    // once each, rows 2 and 3 (one window) told apart by their feature.
    let view = DriftConfig {
        table: "drift_runs_view".into(),
        ..ms_mapping()
    };
    assert_eq!(configure_drift(&db.path, &view), Ok(true));
    let walked = walk(&app, "/api/correlations/drift?limit=1", 1, 20).await;
    let mut want: Vec<(i64, &str)> = windows
        .iter()
        .filter(|w| w.4 == 1)
        .map(|w| (at(w.1), w.3))
        .collect();
    want.sort_unstable();
    let got: Vec<(i64, &str)> = walked
        .iter()
        .map(|c| {
            assert!(c["drift"]["id"].is_null(), "{c}");
            (
                c["drift"]["window_start_unix_nano"]
                    .as_i64()
                    .expect("start"),
                c["drift"]["feature"].as_str().expect("feature"),
            )
        })
        .collect();
    assert_eq!(got, want);

    // A cursor that is not one is refused, naming the parameter.
    let (s, b) = get(&app, "/api/correlations/drift?after=12.x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(message(&b).contains("after"), "{}", message(&b));
    assert_eq!(fingerprint(&db, &["drift_runs", "drift_runs_view"]), before);
}
