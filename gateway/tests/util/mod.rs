//! Shared helpers: a real gateway process in front of an in-process fake Gemini.
//!
//! Ports are owned for the whole test. In-process servers (the fake upstream, the API in
//! `api/tests`) listen on port 0. The gateway binary is given a port that was free a moment
//! ago; when another test took it meanwhile (pingora logs it "in use"), the harness stops that
//! gateway and starts it again on a new port, and it calls the gateway ready only once the
//! gateway's own process listens on the port (read from `/proc`), never another server that
//! holds it. An `[api] listen = "127.0.0.1:0"` is read back the same way ([`Gateway::api_url`]).
//! A port that must refuse connections is a [`DeadPort`], held bound for the test's life.

#![allow(dead_code, clippy::unwrap_used)]

pub mod ws;

use rusqlite::Connection;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A loopback port that was free when asked (bound then released: another socket may take it
/// before the caller binds it). [`Gateway`] retries on such a collision by itself; prefer
/// `listen = "127.0.0.1:0"` with [`Gateway::api_url`] for the API, and [`DeadPort`] for a port
/// that must refuse connections.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback TCP port bound but never listening, for as long as this value lives: connecting
/// to it is refused, and no other socket (another test's server included) can take it.
pub struct DeadPort {
    _socket: socket2::Socket,
    /// The port.
    pub port: u16,
}

impl DeadPort {
    /// Binds `127.0.0.1:0` without listening.
    pub fn new() -> Self {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        Self {
            _socket: socket,
            port,
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The TCP ports `pid` itself listens on (its socket inodes matched in its `net/tcp*`).
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: std::collections::HashSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let listening = f.len() > 9 && f[3] == "0A"; // TCP_LISTEN
            if listening
                && f[9].parse().is_ok_and(|i: u64| inodes.contains(&i))
                && let Some(p) = f[1]
                    .rsplit(':')
                    .next()
                    .and_then(|h| u16::from_str_radix(h, 16).ok())
            {
                ports.push(p);
            }
        }
    }
    ports
}

/// How a gateway start ended.
enum Started {
    /// Its process listens on the port.
    Listening,
    /// Another socket held the port (or the API's): start again on a new one.
    Collision,
}

/// Starts of one gateway on a new port after a bind collision, at most.
const START_ATTEMPTS: usize = 8;

/// A running `gateway` binary.
pub struct Gateway {
    child: Option<Child>,
    /// Listen address.
    pub addr: SocketAddr,
    /// Where the API listens, when `[api]` is configured.
    pub api_addr: Option<SocketAddr>,
    /// Temporary directory holding the config, database and log.
    pub dir: tempfile::TempDir,
    /// The SQLite file.
    pub db: PathBuf,
    /// The gateway's stderr.
    pub log: PathBuf,
}

impl Gateway {
    /// Starts the gateway against `upstream` with extra TOML appended to `[proxy]`...
    /// `extra` is raw TOML added after the generated sections.
    pub fn start(upstream: &str, extra_proxy: &str, extra: &str) -> Self {
        Self::start_with_storage(upstream, extra_proxy, "linger_ms = 5", extra)
    }

    /// Like [`Gateway::start`], with the `[storage]` lines after `path` given.
    pub fn start_with_storage(
        upstream: &str,
        extra_proxy: &str,
        storage: &str,
        extra: &str,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("gateway.db");
        Self::start_at(dir, db, upstream, extra_proxy, storage, extra)
    }

    /// Like [`Gateway::start_with_storage`], with the database at `db` and the config and log
    /// in `dir`.
    pub fn start_at(
        dir: tempfile::TempDir,
        db: PathBuf,
        upstream: &str,
        extra_proxy: &str,
        storage: &str,
        extra: &str,
    ) -> Self {
        Self::start_wrapped(dir, db, upstream, extra_proxy, storage, extra, &[])
    }

    /// Like [`Gateway::start_at`], with the binary run under `wrapper` (e.g. `env VAR=…`; the
    /// wrapper must exec the gateway in place). The grace period is 1 s unless `extra_proxy`
    /// sets one.
    pub fn start_wrapped(
        dir: tempfile::TempDir,
        db: PathBuf,
        upstream: &str,
        extra_proxy: &str,
        storage: &str,
        extra: &str,
        wrapper: &[&str],
    ) -> Self {
        // Tests default to a 1 s grace; a test that sets its own keeps it.
        let grace = if extra_proxy.contains("shutdown_grace_seconds") {
            String::new()
        } else {
            "shutdown_grace_seconds = 1\n".to_owned()
        };
        let proxy = format!("{grace}{extra_proxy}");
        Self::start_config(dir, db, upstream, &proxy, storage, extra, wrapper)
    }

    /// Like [`Gateway::start`] with the `shutdown_grace_seconds` of the shipped `gateway.toml`
    /// instead of the tests' 1 s.
    pub fn start_shipped_grace(upstream: &str, extra_proxy: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("gateway.db");
        let proxy = format!(
            "shutdown_grace_seconds = {}\n{extra_proxy}",
            shipped_grace_seconds()
        );
        Self::start_config(dir, db, upstream, &proxy, "linger_ms = 5", extra, &[])
    }

    /// Writes the config with `[proxy]` lines `proxy` and starts the gateway, on a new port
    /// after each bind collision.
    fn start_config(
        dir: tempfile::TempDir,
        db: PathBuf,
        upstream: &str,
        proxy: &str,
        storage: &str,
        extra: &str,
        wrapper: &[&str],
    ) -> Self {
        let log = dir.path().join("gateway.log");
        let config = dir.path().join("gateway.toml");
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            std::fs::write(
                &config,
                format!(
                    "[proxy]\nlisten = \"127.0.0.1:{port}\"\nupstream = \"{upstream}\"\n{proxy}\n\
                     [storage]\npath = \"{}\"\n{storage}\n{extra}\n",
                    db.display()
                ),
            )
            .unwrap();
            let mut command = match wrapper.split_first() {
                Some((program, args)) => {
                    let mut c = Command::new(program);
                    c.args(args).arg(env!("CARGO_BIN_EXE_gateway"));
                    c
                }
                None => Command::new(env!("CARGO_BIN_EXE_gateway")),
            };
            let mut child = command
                .arg("--config")
                .arg(&config)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            match wait_listening(&mut child, port, &log) {
                Started::Listening => {
                    let api_addr = listening_ports(child.id())
                        .into_iter()
                        .find(|p| *p != port)
                        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
                    return Self {
                        child: Some(child),
                        addr: SocketAddr::from(([127, 0, 0, 1], port)),
                        api_addr,
                        dir,
                        db,
                        log,
                    };
                }
                Started::Collision => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        panic!(
            "no free port in {START_ATTEMPTS} starts; last log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// `http://addr` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `http://api_addr` + path (`[api] listen = "127.0.0.1:0"` in the config).
    pub fn api_url(&self, path: &str) -> String {
        let api = self.api_addr.expect("the gateway serves no API");
        format!("http://{api}{path}")
    }

    /// The gateway's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Peak resident memory of the gateway so far, KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().expect("running").id();
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Sends a signal (e.g. `-HUP`) without waiting.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        Command::new("kill").args([signal, &pid]).status().unwrap();
    }

    /// Waits (at most 60 s, a bound on the wait only) until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit by itself (at most 60 s, a bound on the wait only).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("already stopped");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("gateway did not exit; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait for exit (spans are flushed on the way out).
    pub fn stop(&mut self) -> ExitStatus {
        self.stop_with("-TERM")
    }

    /// Sends `signal` (e.g. `-INT`), then waits for exit.
    pub fn stop_with(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("already stopped");
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "gateway did not exit after SIGTERM; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Opens the database read-only.
    pub fn open_db(&self) -> Connection {
        Connection::open(&self.db).unwrap()
    }

    /// Waits until `n` traces are in the database (the writer is asynchronous).
    pub fn wait_traces(&self, n: i64) -> Connection {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(conn) = Connection::open(&self.db) {
                let count: i64 = conn
                    .query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))
                    .unwrap_or(0);
                if count >= n {
                    return conn;
                }
            }
            if Instant::now() > deadline {
                panic!("expected {n} traces; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Waits (at most 60 s, a bound on the wait only) until the gateway's own process listens on
/// `port`, or its log says that port or the API's was taken.
fn wait_listening(child: &mut Child, port: u16, log: &Path) -> Started {
    let deadline = Instant::now() + Duration::from_secs(60);
    let in_use = format!("{port} is in use");
    loop {
        if listening_ports(child.id()).contains(&port) {
            return Started::Listening;
        }
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // pingora retries a taken proxy port ("… is in use, will try again"); the API's bind
        // fails at start ("cannot bind the API on …: Address in use").
        let api_taken = text.contains("cannot bind the API") && text.contains("in use");
        if text.contains(&in_use) || api_taken {
            return Started::Collision;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the gateway exited ({status}) before it listened; log:\n{text}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gateway did not listen; log:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `shutdown_grace_seconds` of the shipped `gateway.toml`.
pub fn shipped_grace_seconds() -> u64 {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../gateway.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["proxy"]["shutdown_grace_seconds"]
        .as_integer()
        .expect("gateway.toml sets [proxy] shutdown_grace_seconds")
        .try_into()
        .unwrap()
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A blocking HTTP client with a generous timeout (a hang fails the test instead of stalling).
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A `generateContent` call through `gw` that must answer 200; returns its trace id.
pub fn generate(gw: &Gateway, body: &str) -> String {
    let r = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:generateContent"))
        .header("x-goog-api-key", "k")
        .body(body.to_owned())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "the data path ignores the database");
    r.headers()["x-gateway-trace-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// One span row: (name, kind, attributes JSON, status_code).
pub fn spans_of(
    conn: &Connection,
    trace_id: &str,
) -> Vec<(String, String, serde_json::Value, String, Option<String>)> {
    let mut stmt = conn
        .prepare(
            "SELECT name, kind, attributes, status_code, parent_span_id FROM spans WHERE trace_id = ?1
             ORDER BY start_time_unix_nano, id",
        )
        .unwrap();
    stmt.query_map([trace_id], |r| {
        let attrs: String = r.get(2)?;
        Ok((
            r.get(0)?,
            r.get(1)?,
            serde_json::from_str(&attrs).unwrap(),
            r.get(3)?,
            r.get(4)?,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The step span with `gateway.step == step`.
pub fn step<'a>(
    spans: &'a [(String, String, serde_json::Value, String, Option<String>)],
    step: &str,
) -> &'a serde_json::Value {
    &spans
        .iter()
        .find(|s| s.2["gateway.step"] == step)
        .unwrap_or_else(|| panic!("no {step} span in {spans:?}"))
        .2
}

/// Reads a streaming body until `needle` has been seen, returning what was read.
/// The `/metrics` page of the API at `api` (`http://host:port`).
pub fn metrics(api: &str) -> String {
    let r = client().get(format!("{api}/metrics")).send().unwrap();
    assert_eq!(r.status(), 200);
    r.text().unwrap()
}

/// The value of the unlabelled metric `name` on a `/metrics` page.
pub fn metric_value(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} on /metrics"))
}

/// The value of header `name` in an answer's head, if present.
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// One HTTP/1.1 answer read from `s`: (status, head, body), with `content-length` or chunked
/// framing; `pending` keeps bytes read past it.
pub fn read_answer(s: &mut std::net::TcpStream, pending: &mut Vec<u8>) -> (u16, String, Vec<u8>) {
    let fill = |s: &mut std::net::TcpStream, pending: &mut Vec<u8>| {
        let mut buf = [0u8; 8192];
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the connection closed; got {:?}",
            String::from_utf8_lossy(pending)
        );
        pending.extend_from_slice(&buf[..n]);
    };
    let head_end = loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(s, pending);
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
    pending.drain(..head_end);
    let status = head[9..12].parse().unwrap();
    let header = |name: &str| header(&head, name);
    let mut body = Vec::new();
    if let Some(len) = header("content-length") {
        let len: usize = len.parse().unwrap();
        while pending.len() < len {
            fill(s, pending);
        }
        body.extend(pending.drain(..len));
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let line_end = loop {
                if let Some(i) = pending.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                fill(s, pending);
            };
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&pending[..line_end])
                    .split(';')
                    .next()
                    .unwrap()
                    .trim(),
                16,
            )
            .unwrap();
            while pending.len() < line_end + 2 + size + 2 {
                fill(s, pending);
            }
            body.extend_from_slice(&pending[line_end + 2..line_end + 2 + size]);
            pending.drain(..line_end + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
    }
    (status, head, body)
}

pub fn read_until(resp: &mut impl Read, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(needle.len()).any(|w| w == needle) {
        let n = resp.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "stream ended before {:?}",
            String::from_utf8_lossy(needle)
        );
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// True if `needle` occurs in the file's bytes.
pub fn file_contains(path: &Path, needle: &[u8]) -> bool {
    std::fs::read(path)
        .map(|b| b.windows(needle.len()).any(|w| w == needle))
        .unwrap_or(false)
}

/// The trace row of `trace_id` — (model, input, output, cost, unpriced) — waiting (bounded)
/// for the asynchronous writer.
pub fn trace_row(
    gw: &Gateway,
    trace_id: &str,
) -> (Option<String>, Option<i64>, Option<i64>, Option<f64>, bool) {
    use rusqlite::OptionalExtension;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(conn) = Connection::open(&gw.db) {
            let row = conn
                .query_row(
                    "SELECT model, input_tokens, output_tokens, cost_usd, unpriced FROM traces
                     WHERE trace_id = ?1",
                    [trace_id],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get::<_, i64>(4)? != 0,
                        ))
                    },
                )
                .optional()
                .unwrap_or(None);
            if let Some(row) = row {
                return row;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no trace {trace_id}; log:\n{}",
            gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The attributes of the LLM-call span of `trace_id` (after its row is written).
pub fn llm_span(gw: &Gateway, trace_id: &str) -> serde_json::Value {
    trace_row(gw, trace_id); // the spans land in the same transaction as the row
    let conn = Connection::open(&gw.db).unwrap();
    spans_of(&conn, trace_id)
        .into_iter()
        .find(|s| s.2["gateway.step"] == "llm_call")
        .unwrap()
        .2
}

/// The `x-gateway-trace-id` of a response.
pub fn trace_id(r: &reqwest::blocking::Response) -> String {
    r.headers()["x-gateway-trace-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// gemini-3.8-flash's standard rates in force now, USD per 1M tokens: (input, cache read,
/// output). The shipped prices double on 2027-01-01 (UTC), so a test that runs on either side
/// of that day expects the rates the gateway then applies.
pub fn flash_38_rates() -> (f64, f64, f64) {
    const JAN_1_2027: u64 = 1_798_761_600;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now < JAN_1_2027 {
        (0.75, 0.075, 3.75)
    } else {
        (1.50, 0.15, 7.50)
    }
}

/// Standard cost of a generateContent `usageMetadata` at gemini-3.8-flash's rates in force now:
/// the uncached prompt and the tool-use prompt at the input rate, the cached part at the
/// cache-read rate, candidates and thoughts at the output rate.
pub fn flash_38_cost(u: &serde_json::Value) -> f64 {
    let (input, cache_read, output) = flash_38_rates();
    let n = |k: &str| u[k].as_f64().unwrap_or(0.0);
    let cached = n("cachedContentTokenCount");
    ((n("promptTokenCount") - cached + n("toolUsePromptTokenCount")) * input
        + cached * cache_read
        + (n("candidatesTokenCount") + n("thoughtsTokenCount")) * output)
        / 1e6
}

/// The same at the batch tier: half of every standard rate.
pub fn flash_38_batch_cost(u: &serde_json::Value) -> f64 {
    0.5 * flash_38_cost(u)
}

/// Cost of an Interactions `usage` at gemini-3.8-flash's rates in force now: the uncached input
/// at the input rate, the cached part at the cache-read rate, output and thoughts at the output
/// rate.
pub fn flash_38_interaction_cost(u: &serde_json::Value) -> f64 {
    let (input, cache_read, output) = flash_38_rates();
    let n = |k: &str| u[k].as_f64().unwrap_or(0.0);
    let cached = n("total_cached_tokens");
    ((n("total_input_tokens") - cached) * input
        + cached * cache_read
        + (n("total_output_tokens") + n("total_thought_tokens")) * output)
        / 1e6
}
