//! A sibling system writing into the gateway's database, as docs/integration.md tells it to: its
//! own process (python3's `sqlite3`), its own table, `BEGIN IMMEDIATE` and a busy timeout.
//!
//! - Short transactions during load: no trace, span or alert row is lost, and each alert row
//!   names the LLM span of its request.
//! - One transaction holding the write lock for 7 s, past `busy_timeout_ms`: the writer keeps
//!   its batch and writes it once the lock is gone, so nothing is lost; with a queue too small
//!   for the wait, every span, trace and breached row is either in the file or counted on
//!   `/metrics`.
//!
//! Nothing asserts a timing: the tests wait for the sibling's own signals (lines on its
//! stdout), log lines, rows and counters, with deadlines that only bound the waits.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use util::{Gateway, client, generate};

const BODY: &str = r#"{"contents":[{"parts":[{"text":"sibling writer"}]}]}"#;

/// The sibling's writes, the documented pattern: a busy timeout, `BEGIN IMMEDIATE`, one short
/// transaction per batch, its own table. `short` commits batches until `stop` exists; `hold`
/// keeps one transaction open for 7 s. It prints `ready`, `locked`, `released` and, at the
/// end, `rows N` (the rows it committed).
const SIBLING: &str = r#"
import os, sqlite3, sys, time
path, mode, stop = sys.argv[1], sys.argv[2], sys.argv[3]
db = sqlite3.connect(path, timeout=5, isolation_level=None)
db.execute("CREATE TABLE IF NOT EXISTS drift_runs (id INTEGER PRIMARY KEY, window_start_ms INTEGER, "
           "window_end_ms INTEGER, model_name TEXT, feature_name TEXT, psi REAL, drifted INTEGER)")
def batch(n):
    now = int(time.time() * 1000)
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany("INSERT INTO drift_runs (window_start_ms, window_end_ms, model_name, "
                       "feature_name, psi, drifted) VALUES (?, ?, ?, ?, ?, ?)",
                       [(now - 60000, now, "gemini-2.5-flash-lite", "f%d" % i, 0.1, 0) for i in range(n)])
        return db
    except BaseException:
        db.execute("ROLLBACK")
        raise
rows = 0
if mode == "short":
    while True:
        batch(50).execute("COMMIT")
        rows += 50
        if rows == 50:
            print("ready", flush=True)
        if os.path.exists(stop):
            break
        time.sleep(0.002)
else:
    batch(10)
    print("locked", flush=True)
    time.sleep(7)
    db.execute("COMMIT")
    rows = 10
    print("released", flush=True)
print("rows %d" % rows, flush=True)
"#;

struct Sibling {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Sibling {
    fn start(gw: &Gateway, mode: &str) -> Self {
        let script = gw.dir.path().join("sibling.py");
        std::fs::write(&script, SIBLING).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&gw.db)
            .arg(mode)
            .arg(gw.dir.path().join("stop"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the sibling writer");
        let out = BufReader::new(child.stdout.take().unwrap());
        Self { child, out }
    }

    /// Waits for the sibling's next line (blocking: it always prints or exits).
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }

    fn expect(&mut self, what: &str) {
        let got = self.line();
        assert_eq!(got, what, "the sibling said {got:?}");
    }

    /// Waits for the end; returns the rows it committed.
    fn finish(mut self) -> i64 {
        let last = self.line();
        assert!(self.child.wait().unwrap().success());
        last.strip_prefix("rows ").unwrap().parse().unwrap()
    }
}

impl Drop for Sibling {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gateway whose every call breaches (`latency_ms = 0`), with the API on for `/metrics`.
fn start(fake: &str, storage: &str) -> (Gateway, String) {
    let gw = Gateway::start_with_storage(
        fake,
        "",
        storage,
        "[api]\nlisten = \"127.0.0.1:0\"\n[thresholds]\nlatency_ms = 0\n",
    );
    let api = gw.api_url("");
    (gw, api)
}

/// Counters on `/metrics` (0 when absent).
fn metric(api: &str, name: &str) -> u64 {
    let text = client()
        .get(format!("{api}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix(name))
        .filter(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        .filter_map(|rest| rest.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn count(gw: &Gateway, sql: &str) -> i64 {
    gw.open_db().query_row(sql, [], |r| r.get(0)).unwrap()
}

fn wait_for(what: &str, gw: &Gateway, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what}; log:\n{}", gw.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `n` calls from 4 threads at once; their trace ids.
fn load(gw: &Gateway, n: usize) -> Vec<String> {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..n / 4).map(|_| generate(gw, BODY)).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
}

const LOSS: [&str; 4] = [
    "gateway_spans_dropped_total",
    "gateway_traces_dropped_total",
    "gateway_metric_snapshots_dropped_total",
    "gateway_breached_snapshots_dropped_total",
];

#[test]
fn a_sibling_writing_short_transactions_during_load_loses_nothing() {
    let fake = spawn_in_thread(FakeConfig::default());
    let (mut gw, api) = start(&fake.base_url(), "linger_ms = 5");
    let mut sibling = Sibling::start(&gw, "short");
    sibling.expect("ready");
    let ids = load(&gw, 200);
    std::fs::write(gw.dir.path().join("stop"), b"").unwrap();
    let rows = sibling.finish();
    assert!(rows >= 50);
    let want = ids.len() as i64;
    wait_for("every trace written", &gw, || {
        count(&gw, "SELECT COUNT(*) FROM traces") == want
    });
    wait_for("every alert row written", &gw, || {
        count(
            &gw,
            "SELECT COUNT(*) FROM metric_snapshots WHERE breached = 1 AND metric = 'latency_ms'",
        ) == want
    });
    for name in LOSS {
        assert_eq!(metric(&api, name), 0, "{name}");
    }
    assert_eq!(
        count(&gw, "SELECT COUNT(*) FROM drift_runs"),
        rows,
        "the sibling lost nothing either"
    );
    // Each alert row names its request's LLM span and position.
    let conn = gw.open_db();
    for id in &ids {
        let (llm, index, step): (String, i64, String) = conn
            .query_row(
                "SELECT m.llm_span_id, m.request_index,
                     json_extract(s.attributes, '$.\"gateway.step\"')
                 FROM metric_snapshots m JOIN spans s
                     ON s.trace_id = m.trace_id AND s.span_id = m.llm_span_id
                 WHERE m.trace_id = ?1 AND m.metric = 'latency_ms'",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (llm.len(), index, step.as_str()),
            (16, 1, "llm_call"),
            "{id}"
        );
    }
    gw.stop();
}

#[test]
fn a_write_lock_held_past_the_busy_timeout_loses_nothing() {
    let fake = spawn_in_thread(FakeConfig::default());
    let (mut gw, api) = start(&fake.base_url(), "linger_ms = 5\nbusy_timeout_ms = 5000");
    let first = generate(&gw, BODY);
    wait_for("the first trace written", &gw, || {
        count(&gw, "SELECT COUNT(*) FROM traces") == 1
    });
    let mut sibling = Sibling::start(&gw, "hold");
    sibling.expect("locked");
    let mut ids = load(&gw, 100);
    ids.push(first);
    // The writer ran into the lock past its busy timeout and kept its batch.
    wait_for("the writer waits for the lock", &gw, || {
        gw.log_text().contains("holds the database's write lock")
    });
    assert!(metric(&api, "gateway_span_write_retries_total") >= 1);
    sibling.expect("released");
    assert_eq!(sibling.finish(), 10);
    let want = ids.len() as i64;
    wait_for("every trace written", &gw, || {
        count(&gw, "SELECT COUNT(*) FROM traces") == want
    });
    wait_for("every alert row written", &gw, || {
        count(
            &gw,
            "SELECT COUNT(*) FROM metric_snapshots WHERE breached = 1",
        ) == want
    });
    for name in LOSS {
        assert_eq!(metric(&api, name), 0, "{name}");
    }
    assert!(
        gw.log_text().contains("nothing was lost"),
        "{}",
        gw.log_text()
    );
    gw.stop();
}

#[test]
fn a_queue_too_small_for_the_lock_counts_every_loss() {
    let fake = spawn_in_thread(FakeConfig::default());
    let (mut gw, api) = start(
        &fake.base_url(),
        // A batch of at most 16 spans: the writer cannot take the whole load into the batch
        // the lock refuses (it lingers while spans keep coming), so the queue must overflow.
        "linger_ms = 5\nbusy_timeout_ms = 1000\nqueue_capacity = 64\nmax_batch = 16",
    );
    let first = generate(&gw, BODY);
    wait_for("the first trace written", &gw, || {
        count(&gw, "SELECT COUNT(*) FROM traces") == 1
    });
    let spans_per_call = count(&gw, "SELECT COUNT(*) FROM spans");
    assert!(spans_per_call >= 4, "a root and its steps");
    let mut sibling = Sibling::start(&gw, "hold");
    sibling.expect("locked");
    let n = load(&gw, 100).len() as i64 + 1;
    wait_for("spans dropped at the full queue", &gw, || {
        metric(&api, "gateway_spans_dropped_total") > 0
    });
    sibling.expect("released");
    assert_eq!(sibling.finish(), 10);
    // Whatever is not in the file is counted: spans, traces and breached rows alike.
    let settled = |table_sql: &str, counter: &str, want: i64| {
        let (mut rows, mut lost) = (0, 0);
        wait_for(&format!("{table_sql} + {counter} = {want}"), &gw, || {
            rows = count(&gw, table_sql);
            lost = metric(&api, counter) as i64;
            rows + lost == want
        });
        (rows, lost)
    };
    let (_, spans_lost) = settled(
        "SELECT COUNT(*) FROM spans",
        "gateway_spans_dropped_total",
        n * spans_per_call,
    );
    assert!(spans_lost > 0);
    let (traces, traces_lost) = settled(
        "SELECT COUNT(*) FROM traces",
        "gateway_traces_dropped_total",
        n,
    );
    assert!(
        traces >= 1 && traces_lost > 0,
        "{traces} kept, {traces_lost} lost"
    );
    settled(
        "SELECT COUNT(*) FROM metric_snapshots WHERE breached = 1",
        "gateway_breached_snapshots_dropped_total",
        n,
    );
    assert!(
        count(
            &gw,
            &format!("SELECT COUNT(*) FROM traces WHERE trace_id = '{first}'")
        ) == 1
    );
    gw.stop();
}
