//! Demo mode: a simulated Gemini upstream in-process and synthetic traffic through the gateway,
//! so that a newcomer sees traces at once. Nothing here runs unless `--demo` is given.

use crate::config::Config;
use bytes::Bytes;
use fake_gemini::{FakeConfig, FakeGemini};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Keeps the demo's upstream alive.
pub struct Demo {
    _upstream: FakeGemini,
}

/// Today's models, two routed ones (3.7 Flash is served by 3.8 Flash, 2.5 Flash by 3.5 Flash-Lite)
/// and one the price table does not know.
const MODELS: &[&str] = &[
    "gemini-3.8-flash",
    "gemini-3.8-flash",
    "gemini-3.5-flash-lite",
    "gemini-3.1-pro-preview",
    "gemini-3.7-flash",
    "gemini-2.5-flash",
    "my-unpriced-model",
];
const EMBEDDING_MODEL: &str = "gemini-embedding-001";
const USERS: &[&str] = &["alice", "bob", "carol", "dave"];
const PROMPTS: &[&str] = &[
    "Summarise the incident report for the on-call channel",
    "Write a haiku about write-ahead logs",
    "Extract the invoice total and due date from this text",
    "Plan the next three steps for the research agent",
    "Translate the release notes into French",
];

/// Starts the simulated upstream, points `config` at it, and starts the traffic thread. With
/// `tls`, the proxy listens with a generated demo certificate ([`crate::demo_tls`]) and the
/// traffic goes over HTTPS.
pub fn start(config: &mut Config, tls: bool) -> anyhow::Result<Demo> {
    let upstream = fake_gemini::spawn_in_thread(FakeConfig {
        latency_ms: 120,
        chunk_gap_ms: 60,
        chunks: 5,
    });
    config.proxy.upstream = upstream.base_url();
    let gateway = format!("http://{}", config.proxy.listen);
    let tls_client = if tls {
        let files = crate::demo_tls::enable(config)?;
        Some(crate::demo_tls::TlsClient::new(
            &files.ca,
            &config.proxy.listen,
        )?)
    } else {
        None
    };
    tracing::info!(upstream = %config.proxy.upstream, "Demo: simulated Gemini upstream started.");
    std::thread::Builder::new()
        .name("demo-traffic".into())
        .spawn(move || traffic(&gateway, tls_client.as_ref()))?;
    start_drift_detector(config)?;
    Ok(Demo {
        _upstream: upstream,
    })
}

fn traffic(gateway: &str, tls: Option<&crate::demo_tls::TlsClient>) {
    let client = match reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(error) => {
            tracing::error!(%error, "Demo: cannot build the HTTP client.");
            return;
        }
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut rng = rand::rng();
    let mut sent: u64 = 0;
    loop {
        let user = USERS.choose(&mut rng).copied().unwrap_or("alice");
        let session = format!("{user}-session-{}", rng.random_range(1..4));
        let call = Caller {
            client: &client,
            tls,
            gateway,
            user,
            session: &session,
            fail: rng.random_range(0..100) < 4,
        };
        match one_call(&call, &mut rng) {
            Ok(n) => sent += n,
            Err(error) => tracing::debug!(%error, "Demo request failed."),
        }
        if sent > 0 && sent.is_multiple_of(100) {
            tracing::info!(sent, "Demo: synthetic requests sent.");
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(150..600)));
    }
}

/// Who sends the demo's requests, and whether this one gets an injected 429.
struct Caller<'a> {
    client: &'a reqwest::blocking::Client,
    /// Set with `--demo-tls`: requests go over HTTPS with the demo CA.
    tls: Option<&'a crate::demo_tls::TlsClient>,
    gateway: &'a str,
    user: &'a str,
    session: &'a str,
    fail: bool,
}

impl Caller<'_> {
    /// POST `body` (or GET when `None`) to `path` through the gateway; returns the answer's body.
    fn send(
        &self,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Bytes> {
        if let Some(tls) = self.tls {
            let mut headers = vec![
                ("x-goog-api-key", "demo-key"),
                ("x-gateway-user-id", self.user),
                ("x-gateway-session-id", self.session),
                ("x-gateway-property-env", "demo"),
            ];
            if self.fail {
                headers.push(("x-fake-status", "429"));
            }
            headers.extend_from_slice(extra);
            return match body {
                Some(b) => tls.send("POST", path, &headers, b.to_string().as_bytes()),
                None => tls.send("GET", path, &headers, b""),
            };
        }
        let url = format!("{}{path}", self.gateway);
        let mut req = match body {
            Some(body) => self.client.post(url).body(body.to_string()),
            None => self.client.get(url),
        };
        req = req
            .header("x-goog-api-key", "demo-key")
            .header("x-gateway-user-id", self.user)
            .header("x-gateway-session-id", self.session)
            .header("x-gateway-property-env", "demo");
        if self.fail {
            req = req.header("x-fake-status", "429");
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        Ok(req.send().and_then(|r| r.bytes())?)
    }
}

/// One synthetic scenario (a generate call in one of its shapes, embeddings, grounding, or an
/// Interactions call); returns how many requests it sent.
fn one_call(call: &Caller<'_>, rng: &mut impl Rng) -> anyhow::Result<u64> {
    let model = MODELS.choose(rng).copied().unwrap_or("gemini-3.8-flash");
    let prompt = PROMPTS.choose(rng).copied().unwrap_or("hello");
    let mut body = json!({
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": {"temperature": 0.7, "maxOutputTokens": 256},
    });
    match rng.random_range(0..20) {
        0 => body["serviceTier"] = json!("flex"),
        1 => body["serviceTier"] = json!("priority"),
        _ => {}
    }
    let gen_path = |method: &str, query: &str| format!("/v1beta/models/{model}:{method}{query}");
    let interaction = json!({"model": model, "input": prompt});
    match rng.random_range(0..100u32) {
        0..=34 => call.send(
            &gen_path("streamGenerateContent", "?alt=sse"),
            Some(&body),
            &[],
        ),
        35..=54 => call.send(&gen_path("generateContent", ""), Some(&body), &[]),
        55..=59 => call.send(&gen_path("countTokens", ""), Some(&body), &[]),
        60..=64 => call.send(&gen_path("streamGenerateContent", ""), Some(&body), &[]),
        65..=71 => {
            let path = format!("/v1beta/models/{EMBEDDING_MODEL}:batchEmbedContents");
            let content = json!({"parts": [{"text": prompt}]});
            let request = json!({"model": format!("models/{EMBEDDING_MODEL}"), "content": content});
            let batch = json!({"requests": [request.clone(), request]});
            call.send(&path, Some(&batch), &[])
        }
        72..=78 => {
            body["tools"] = json!([{"googleSearch": {}}]);
            call.send(&gen_path("generateContent", ""), Some(&body), &[])
        }
        79..=87 => call.send("/v1beta/interactions", Some(&interaction), &[]),
        88..=94 => {
            let mut streamed = interaction;
            streamed["stream"] = json!(true);
            call.send("/v1beta/interactions", Some(&streamed), &[])
        }
        _ => return background(call, interaction),
    }
    .map(|_| 1)
}

/// A background interaction: create it, then poll twice (the fake completes it on the second GET).
fn background(call: &Caller<'_>, mut interaction: Value) -> anyhow::Result<u64> {
    interaction["background"] = json!(true);
    let created = call.send(
        "/v1beta/interactions",
        Some(&interaction),
        &[("x-fake-polls", "2")],
    )?;
    let id = serde_json::from_slice::<Value>(&created)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_string));
    let Some(id) = id else {
        return Ok(1);
    };
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(300));
        call.send(&format!("/v1beta/interactions/{id}"), None, &[])?;
    }
    Ok(3)
}

/// The demo drift detector's own table: its names and units (milliseconds), not the gateway's.
const DRIFT_TABLE: &str = "demo_drift";
const DRIFT_DDL: &str = "CREATE TABLE IF NOT EXISTS demo_drift (
    id INTEGER PRIMARY KEY,
    window_start_ms INTEGER NOT NULL,
    window_end_ms INTEGER NOT NULL,
    model_name TEXT NOT NULL,
    feature_name TEXT NOT NULL,
    psi REAL NOT NULL,
    psi_threshold REAL NOT NULL,
    drifted INTEGER NOT NULL)";
/// Length of one window; one window per feature is written at the end of each.
const DRIFT_WINDOW: Duration = Duration::from_secs(10);
const DRIFT_PSI_THRESHOLD: f64 = 0.2;
const DRIFT_FEATURES: &[&str] = &["prompt_length", "output_tokens"];
const DRIFT_MODELS: &[&str] = &[
    "gemini-3.8-flash",
    "gemini-3.5-flash-lite",
    "gemini-3.1-pro-preview",
];
/// Windows older than this are deleted by the detector itself (its table, its retention).
const DRIFT_KEEP_MS: i64 = 24 * 3600 * 1000;

/// Plays a sibling drift detector: creates its own table in the demo's database when absent
/// (before the gateway checks `[drift]` against it at startup), points `config.drift` at it, and
/// writes a few windows over the demo's traffic every [`DRIFT_WINDOW`] from its own connection,
/// as docs/integration.md tells a sibling to: busy timeout, short `BEGIN IMMEDIATE` transactions,
/// only its own table.
fn start_drift_detector(config: &mut Config) -> anyhow::Result<()> {
    let path = config.storage.path.clone();
    let busy = Duration::from_millis(config.storage.busy_timeout_ms.max(1000));
    let store = open_detector(&path, busy)?;
    store.connection().execute_batch(DRIFT_DDL)?;
    drop(store);
    config.drift = crate::config::DriftConfig {
        table: DRIFT_TABLE.into(),
        window_start_column: "window_start_ms".into(),
        window_end_column: "window_end_ms".into(),
        time_unit: "ms".into(),
        feature_column: "feature_name".into(),
        score_column: "psi".into(),
        model_column: "model_name".into(),
        drifted_column: "drifted".into(),
        threshold_column: "psi_threshold".into(),
        id_column: "id".into(),
    };
    tracing::info!(
        table = DRIFT_TABLE,
        "Demo: drift detector writes windows to its own table."
    );
    std::thread::Builder::new()
        .name("demo-drift".into())
        .spawn(move || drift_detector(&path, busy))?;
    Ok(())
}

/// The detector's connection to the shared file (the gateway's schema is already in place, or
/// created as the gateway would), with a busy timeout so it waits for the gateway's writer.
fn open_detector(path: &Path, busy: Duration) -> anyhow::Result<gateway_store::Store> {
    let store =
        gateway_store::Store::open(path, &gateway_store::StoreOptions { busy_timeout: busy })?;
    Ok(store)
}

fn drift_detector(path: &Path, busy: Duration) {
    let mut rng = rand::rng();
    loop {
        std::thread::sleep(DRIFT_WINDOW);
        let end_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let start_ms = end_ms - i64::try_from(DRIFT_WINDOW.as_millis()).unwrap_or(10_000);
        let model = DRIFT_MODELS
            .choose(&mut rng)
            .copied()
            .unwrap_or("gemini-3.8-flash");
        let rows: Vec<(&str, f64)> = DRIFT_FEATURES
            .iter()
            .map(|f| (*f, rng.random_range(0.02..0.45)))
            .collect();
        // A fresh connection per window: nothing is held between writes.
        let written = open_detector(path, busy)
            .and_then(|store| write_window(&store, start_ms, end_ms, model, &rows));
        if let Err(error) = written {
            tracing::warn!(%error, "Demo: drift window not written; the next one will be.");
        }
    }
}

/// One short write transaction: the window's rows, and the detector's own retention.
fn write_window(
    store: &gateway_store::Store,
    start_ms: i64,
    end_ms: i64,
    model: &str,
    rows: &[(&str, f64)],
) -> anyhow::Result<()> {
    let conn = store.connection();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let body = || -> anyhow::Result<()> {
        for (feature, psi) in rows {
            conn.execute(
                "INSERT INTO demo_drift (window_start_ms, window_end_ms, model_name, feature_name, \
                 psi, psi_threshold, drifted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                (
                    start_ms,
                    end_ms,
                    model,
                    *feature,
                    *psi,
                    DRIFT_PSI_THRESHOLD,
                    i64::from(*psi > DRIFT_PSI_THRESHOLD),
                ),
            )?;
        }
        conn.execute(
            "DELETE FROM demo_drift WHERE window_end_ms < ?1",
            (end_ms - DRIFT_KEEP_MS,),
        )?;
        Ok(())
    };
    match body() {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(error) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}
