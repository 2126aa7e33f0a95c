//! One table-driven sweep over every form a credential can take on the way in, through the real
//! gateway binary (at `RUST_LOG=trace`) to the fake upstream. Each form carries its own marker;
//! neither the marker nor its percent-encoded or base64 forms may appear in the database file,
//! its live `-wal` (read while the gateway runs, before any checkpoint), the gateway's log, any
//! API answer (list, detail with every span's raw attributes, metric snapshots, `/metrics`), the
//! `/api/live` WebSocket feed, or what the gateway exports over OTLP.

#![allow(clippy::unwrap_used)]

mod otlp_sink;
mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use util::{Gateway, client};

const GENERATE: &str = "/v1beta/models/gemini-2.5-flash-lite:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent";
const PROMPT: &str = r#"{"contents":[{"parts":[{"text":"secret sweep"}]}]}"#;

/// Sends one credential form with its marker; returns the trace ids of the requests it made.
type Send = fn(&Gateway, &str) -> Vec<String>;

/// One credential form.
struct Case {
    name: &'static str,
    marker: String,
    send: Send,
}

/// Every byte outside `[A-Za-z0-9_.~-]` as `%XX` (upper-case hex).
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_.~-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out
}

/// The forms of `marker` to look for: itself, percent-encoded (either hex case), and base64
/// (standard and URL-safe) at each of the three byte alignments it can have inside a larger
/// encoded value (the groups that would mix in neighbouring bytes are left out).
fn forms(marker: &str) -> Vec<String> {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = vec![marker.to_owned(), pct(marker), pct(marker).to_lowercase()];
    for alphabet in [STD, URL] {
        for offset in 0..3 {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(marker.as_bytes());
            let enc = base64(&bytes, alphabet);
            let skip = if offset > 0 { 4 } else { 0 };
            out.push(enc[skip..enc.len() - 4].to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Sends a request; any status is fine (Gemini judges credentials), the trace id is required.
fn send(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, String)],
    body: String,
) -> String {
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        gw.url(path)
    };
    let mut req = client().request(method, url).body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().unwrap();
    let status = resp.status();
    let id = resp
        .headers()
        .get("x-gateway-trace-id")
        .unwrap_or_else(|| panic!("{path}: no trace id (status {status})"))
        .to_str()
        .unwrap()
        .to_owned();
    let _ = resp.bytes().unwrap();
    id
}

fn post(gw: &Gateway, path: &str, headers: &[(&str, String)], body: &str) -> Vec<String> {
    vec![send(
        gw,
        reqwest::Method::POST,
        path,
        headers,
        body.to_owned(),
    )]
}

/// A resumable upload: start (the display name in the JSON body), then upload and finalize
/// on the upload URL the gateway handed back, with `query` appended to it.
fn upload(gw: &Gateway, display_name: &str, query: &str, key: &str) -> Vec<String> {
    let start = client()
        .post(gw.url("/upload/v1beta/files"))
        .header("x-goog-api-key", key)
        .header("x-goog-upload-protocol", "resumable")
        .header("x-goog-upload-command", "start")
        .header("x-goog-upload-header-content-length", "5")
        .header("x-goog-upload-header-content-type", "text/plain")
        .body(serde_json::json!({"file": {"displayName": display_name}}).to_string())
        .send()
        .unwrap();
    assert_eq!(start.status(), 200);
    let first = util::trace_id(&start);
    let url = start.headers()["x-goog-upload-url"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        url.starts_with(&gw.url("/")),
        "rewritten to the gateway: {url}"
    );
    let second = send(
        gw,
        reqwest::Method::POST,
        &format!("{url}{query}"),
        &[
            ("x-goog-api-key", key.to_owned()),
            ("x-goog-upload-command", "upload, finalize".to_owned()),
            ("x-goog-upload-offset", "0".to_owned()),
        ],
        "hello".to_owned(),
    );
    vec![first, second]
}

fn cases() -> Vec<Case> {
    // Markers hold `/`, `+` and `=` (as real tokens do), so their percent-encoded and base64
    // forms differ from them; queries carry them percent-encoded, as a client must.
    let m = |tag: &str| format!("sweep{tag}Q7/x+Yz=9k");
    let table: Vec<(&'static str, &str, Send)> = vec![
        ("x-goog-api-key header", "Goog", |gw, s| {
            post(gw, GENERATE, &[("x-goog-api-key", s.to_owned())], PROMPT)
        }),
        ("Authorization: Bearer", "Bearer", |gw, s| {
            post(
                gw,
                GENERATE,
                &[("authorization", format!("Bearer {s}"))],
                PROMPT,
            )
        }),
        (
            "Authorization: Bearer (OpenAI-compatible)",
            "OpenAi",
            |gw, s| {
                post(
                    gw,
                    "/v1beta/openai/chat/completions",
                    &[("authorization", format!("Bearer {s}"))],
                    r#"{"model":"gemini-2.5-flash-lite","messages":[{"role":"user","content":"hi"}]}"#,
                )
            },
        ),
        (
            "Authorization: Token auth_tokens/… (ephemeral)",
            "Ephemeral",
            |gw, s| {
                post(
                    gw,
                    GENERATE,
                    &[("authorization", format!("Token auth_tokens/{s}"))],
                    PROMPT,
                )
            },
        ),
        (
            "?access_token=auth_tokens/… (ephemeral)",
            "AccessToken",
            |gw, s| {
                let q = pct(&format!("auth_tokens/{s}"));
                post(gw, &format!("{GENERATE}?access_token={q}"), &[], PROMPT)
            },
        ),
        ("?key=", "QueryKey", |gw, s| {
            post(gw, &format!("{GENERATE}?key={}", pct(s)), &[], PROMPT)
        }),
        ("?%6Bey=", "Pct6B", |gw, s| {
            post(gw, &format!("{GENERATE}?%6Bey={}", pct(s)), &[], PROMPT)
        }),
        ("?k%65y=", "Pct65", |gw, s| {
            post(gw, &format!("{GENERATE}?k%65y={}", pct(s)), &[], PROMPT)
        }),
        ("?alt=sse;key=", "Semicolon", |gw, s| {
            post(gw, &format!("{STREAM}?alt=sse;key={}", pct(s)), &[], PROMPT)
        }),
        ("a key inside the JSON request body", "JsonBody", |gw, s| {
            let body = serde_json::json!({
                "contents": [{"parts": [{"text": "secret sweep"}]}],
                "apiKey": s,
                "key": s,
            });
            post(
                gw,
                GENERATE,
                &[("x-goog-api-key", "k".into())],
                &body.to_string(),
            )
        }),
        ("a key inside a malformed JSON body", "BadJson", |gw, s| {
            let body = format!(r#"{{"key":"{s}","contents":[{{"parts":[{{"text":"#);
            post(gw, GENERATE, &[("x-goog-api-key", "k".into())], &body)
        }),
        ("a key as an upload's file name", "UploadName", |gw, s| {
            upload(gw, s, "", "k")
        }),
        ("?key= on an upload URL", "UploadUrl", |gw, s| {
            upload(gw, "plain", &format!("&key={}", pct(s)), "k")
        }),
    ];
    table
        .into_iter()
        .map(|(name, tag, send)| Case {
            name,
            marker: m(tag),
            send,
        })
        .collect()
}

/// A minimal WebSocket client for `/api/live`: it upgrades, then keeps every byte the server
/// sends (server frames are unmasked, so message text appears as is) until told to stop.
fn live_feed(api: &str) -> (Arc<Mutex<Vec<u8>>>, Arc<AtomicBool>) {
    let mut s = TcpStream::connect(api).unwrap();
    write!(
        s,
        "GET /api/live HTTP/1.1\r\nHost: {api}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (g, st) = (got.clone(), stop.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while !st.load(Ordering::Relaxed) {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => g.lock().unwrap().extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("live feed: {e}"),
            }
        }
    });
    (got, stop)
}

fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// Waits (bounded) until `what()` holds every id.
fn wait_all(what: &str, ids: &[String], mut text: impl FnMut() -> Vec<u8>) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = text();
        if ids.iter().all(|id| contains(&t, id)) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "not every trace in {what}: {}",
            String::from_utf8_lossy(&t)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn no_credential_form_leaks_into_storage_logs_the_api_the_live_feed_or_otlp() {
    let fake = spawn_in_thread(FakeConfig::default());
    let (endpoint, otlp) = otlp_sink::receiver();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    // `env` overrides the helper's RUST_LOG=info for the gateway itself.
    let mut gw = Gateway::start_wrapped(
        dir,
        db,
        &fake.base_url(),
        "",
        "linger_ms = 5",
        &format!(
            "[api]\nlisten = \"127.0.0.1:0\"\n\
             [export.otlp]\nendpoint = \"{endpoint}\"\nmetrics_interval_ms = 300\n\
             [thresholds]\nlatency_ms = 0\n"
        ),
        &["env", "RUST_LOG=trace"],
    );
    let api_addr = gw.api_addr.expect("the gateway serves the API").to_string();
    let api = gw.api_url("");
    let (feed, stop_feed) = live_feed(&api_addr);

    let cases = cases();
    let mut ids = Vec::new();
    for case in &cases {
        let sent = (case.send)(&gw, &case.marker);
        assert!(!sent.is_empty(), "{}", case.name);
        ids.extend(sent);
    }
    drop(gw.wait_traces(ids.len() as i64));
    assert!(
        gw.log_text().contains("TRACE"),
        "the log is at trace level:\n{}",
        gw.log_text()
    );

    // Every place, read while the gateway runs (the `-wal` before any checkpoint).
    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    let wal = gw.db.with_extension("db-wal");
    let wal_bytes = std::fs::read(&wal).unwrap();
    assert!(
        ids.iter().all(|id| contains(&wal_bytes, id)),
        "the live -wal holds this run's rows (not yet checkpointed)"
    );
    places.push(("the live -wal".into(), wal_bytes));
    places.push((
        "the database file (running)".into(),
        std::fs::read(&gw.db).unwrap(),
    ));
    let list = wait_all("/api/traces", &ids, || {
        let (status, body) = get(&format!("{api}/api/traces?limit=100"));
        assert_eq!(status, 200, "{body}");
        body.into_bytes()
    });
    places.push(("/api/traces".into(), list));
    for id in &ids {
        for path in [
            format!("/api/traces/{id}"),
            format!("/api/metric-snapshots?trace_id={id}"),
        ] {
            let (status, body) = get(&format!("{api}{path}"));
            assert_eq!(status, 200, "{path}: {body}");
            places.push((path, body.into_bytes()));
        }
    }
    let detail = &places
        .iter()
        .find(|(p, _)| p.starts_with("/api/traces/"))
        .unwrap()
        .1;
    assert!(
        contains(detail, "\"attributes\""),
        "the detail carries raw span attributes: {}",
        String::from_utf8_lossy(detail)
    );
    for path in ["/metrics", "/healthz"] {
        places.push((path.into(), get(&format!("{api}{path}")).1.into_bytes()));
    }
    let live = wait_all("the /api/live feed", &ids, || feed.lock().unwrap().clone());
    stop_feed.store(true, Ordering::Relaxed);
    places.push(("the /api/live feed".into(), live));

    gw.stop(); // flushes the OTLP exporter
    places.push((
        "the database file (stopped)".into(),
        std::fs::read(&gw.db).unwrap(),
    ));
    places.push(("the log".into(), std::fs::read(&gw.log).unwrap()));
    let rec = otlp.lock().unwrap();
    let exported: Vec<u8> = rec.raw.concat();
    let spans = rec
        .traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .count();
    assert_eq!(spans, 4 * ids.len(), "every span was exported");
    assert!(!rec.metrics.is_empty(), "metrics were exported");
    places.push(("OTLP exports".into(), exported));

    let mut leaks = Vec::new();
    for case in &cases {
        for form in forms(&case.marker) {
            for (place, bytes) in &places {
                if let Some(at) = bytes.windows(form.len()).position(|w| w == form.as_bytes()) {
                    let from = at.saturating_sub(160);
                    let to = (at + form.len() + 160).min(bytes.len());
                    leaks.push(format!(
                        "{} ({form:?}) in {place}: …{}…",
                        case.name,
                        String::from_utf8_lossy(&bytes[from..to])
                    ));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n\n"));
}

#[test]
fn the_sweep_finds_what_it_looks_for() {
    // The encodings are checked against known values, so a broken sweep cannot pass silently.
    assert_eq!(pct("a/b+c=d"), "a%2Fb%2Bc%3Dd");
    let std = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    assert_eq!(
        base64(b"any carnal pleasure.", std),
        "YW55IGNhcm5hbCBwbGVhc3VyZS4"
    );
    let marker = "sweepTestQ7/x+Yz=9k";
    for prefix in ["", "a", "ab", "abc"] {
        for alphabet in [
            std,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        ] {
            let encoded = base64(format!("{prefix}{marker}!?").as_bytes(), alphabet);
            assert!(
                forms(marker).iter().any(|f| encoded.contains(f.as_str())),
                "{prefix:?} {encoded}"
            );
        }
    }
}
