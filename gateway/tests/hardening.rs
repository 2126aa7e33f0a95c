//! Hostile clients against the real binary: a flood of distinct model names cannot grow memory
//! or the metrics (the label cap and its `_OTHER` bucket, on `/metrics` and over OTLP); the
//! rewritten upload URL never carries a malformed `Host`; pipelined HTTP/1.1 requests are all
//! answered, in order. No timing is asserted: waits are bounded by deadlines only.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use util::{Gateway, client, free_port, header, metric_value, metrics, read_answer};

const BODY: &str = r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#;

/// Distinct model names sent by the flood, each about 1 KB.
const FLOOD: usize = 20_000;
/// Short, well-formed distinct names sent too: more than the cap of 200 admitted values.
const SHORT_NAMES: usize = 300;
/// Growth of the peak RSS allowed over the gateway's own before the flood (the debug build
/// idles at about 40 MB), with the shipped settings (docs/faults.md, *Memory bounds*). Before
/// the label cap, 20,000 1 KB names took the release build from 31 to 534 MB; with the cap but
/// unbounded queues and glibc's defaults, to 430 MB. What may grow now:
/// - the two span queues (SQLite's and OTLP's), which share
///   [`gemini_gateway::telemetry::SPAN_QUEUES_BYTES`] (64 MiB) of span data, 32 MiB each, past
///   which spans are dropped and counted (SQLite's alone, without OTLP, gets all 64): the
///   flood's spans carry the 1 KB name several times, and the debug writer falls behind;
/// - the batch each writer holds while writing it, at most [`gateway_sqlite::BATCH_BYTES`]
///   (2 MiB);
/// - memory the allocator holds after freeing it, 32 MiB (mimalloc purges freed pages after
///   10 ms, `gateway/src/allocator.rs`);
/// - the rest, 32 MiB: requests in flight (8 clients), SQLite's page caches (2 MiB per
///   connection: the writer's, its checkpoint connection's, the API's readers'), the live
///   feed's channel (1,024 messages of about 2 KB), and the difference between the queues'
///   estimate of span bytes and the heap they hold.
///
/// 2 × 32 + 2 × 2 + 32 + 32 = 132 MiB.
const RSS_GROWTH_KIB: u64 = (2 * 32 + 2 * 2 + 32 + 32) * 1024;
/// Largest `/metrics` page allowed: 200 admitted models plus `_OTHER`, three histogram
/// families of 17 lines each (two token types), in both generations of GenAI names, about
/// 2.5 MB at most. The unbounded page was
/// 1.17 GB.
const METRICS_BOUND: usize = 4 << 20;
/// Largest OTLP metric export allowed (the same series, protobuf).
const OTLP_METRICS_BOUND: usize = 4 << 20;

fn long_model(i: usize) -> String {
    format!("flood-{i:05}-{}", "abcdefghij".repeat(100))
}

/// A minimal OTLP/HTTP receiver that keeps only the size of span exports and the last metric
/// export (the flood's spans would not fit in the test's memory if kept).
#[derive(Default)]
struct OtlpTally {
    span_bytes: usize,
    last_metrics: Vec<u8>,
    metric_exports: usize,
}

fn otlp_receiver() -> (String, Arc<Mutex<OtlpTally>>) {
    use axum::body::Bytes;
    use axum::routing::post;
    let tally = Arc::new(Mutex::new(OtlpTally::default()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (t, m) = (tally.clone(), tally.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route(
                    "/v1/traces",
                    post(move |b: Bytes| async move {
                        t.lock().unwrap().span_bytes += b.len();
                        ""
                    }),
                )
                .route(
                    "/v1/metrics",
                    post(move |b: Bytes| async move {
                        let mut m = m.lock().unwrap();
                        m.last_metrics = b.to_vec();
                        m.metric_exports += 1;
                        ""
                    }),
                );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (format!("http://{addr}"), tally)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn twenty_thousand_distinct_model_names_keep_memory_and_metrics_bounded() {
    let fake = spawn_in_thread(FakeConfig::default());
    let api_port = free_port();
    let (otlp, tally) = otlp_receiver();
    // The shipped queue settings (65,536 spans, bounded in bytes too).
    let gw = Gateway::start_with_storage(
        &fake.base_url(),
        "",
        "linger_ms = 5",
        &format!(
            "[api]\nlisten = \"127.0.0.1:{api_port}\"\n\
             [export.otlp]\nendpoint = \"{otlp}\"\nmetrics_interval_ms = 500\n"
        ),
    );
    let api = format!("http://127.0.0.1:{api_port}");
    let normal = |model: &str| {
        let r = client()
            .post(gw.url(&format!("/v1beta/models/{model}:generateContent")))
            .header("x-goog-api-key", "k")
            .body(BODY)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "a normal request is served");
        assert!(r.text().unwrap().contains("usageMetadata"));
    };
    normal("gemini-3.8-flash");
    let before_kib = gw.peak_rss_kib();

    // The flood: 20,000 ~1 KB names and 300 short ones, from 8 concurrent clients.
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (next, served, url) = (next.clone(), served.clone(), gw.url(""));
            std::thread::spawn(move || {
                let c = client();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= FLOOD + SHORT_NAMES {
                        return;
                    }
                    let model = if i < SHORT_NAMES {
                        format!("short-{i}")
                    } else {
                        long_model(i)
                    };
                    let r = c
                        .post(format!("{url}/v1beta/models/{model}:generateContent"))
                        .header("x-goog-api-key", "k")
                        .body(BODY)
                        .send()
                        .unwrap();
                    assert!(r.status().as_u16() < 500, "{}", r.status());
                    r.bytes().unwrap();
                    served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let flood_secs = started.elapsed().as_secs_f64();
    assert_eq!(
        served.load(std::sync::atomic::Ordering::Relaxed),
        FLOOD + SHORT_NAMES
    );
    normal("gemini-3.8-flash");
    normal("gemini-3.8-pro");

    let peak_kib = gw.peak_rss_kib();
    let page = metrics(&api);
    let dropped: f64 = page
        .lines()
        .filter(|l| l.starts_with("gateway_spans_dropped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    eprintln!(
        "flood of {} requests: {flood_secs:.1} s; peak RSS {before_kib} KiB before, \
         {peak_kib} KiB after; /metrics {} bytes; {dropped} spans dropped and counted",
        FLOOD + SHORT_NAMES,
        page.len()
    );
    assert_eq!(
        gemini_gateway::telemetry::SPAN_QUEUES_BYTES,
        64 << 20,
        "update RSS_GROWTH_KIB"
    );
    // Two queues (SQLite's and OTLP's) share that budget.
    assert_eq!(
        metric_value(&page, "gateway_writer_queue_bytes_limit"),
        (32u64 << 20) as f64
    );
    assert_eq!(
        gateway_sqlite::BATCH_BYTES,
        2 << 20,
        "update RSS_GROWTH_KIB"
    );
    assert!(
        peak_kib < before_kib + RSS_GROWTH_KIB,
        "peak RSS {peak_kib} KiB over {before_kib} KiB before + {RSS_GROWTH_KIB} KiB"
    );
    assert!(
        page.len() < METRICS_BOUND,
        "/metrics is {} bytes (bound {METRICS_BOUND})",
        page.len()
    );
    assert!(page.contains("gen_ai_request_model=\"_OTHER\""), "{page}");
    assert!(page.contains("gen_ai_request_model=\"gemini-3.8-flash\""));
    assert!(!page.contains("abcdefghij"), "a 1 KB name reached /metrics");
    // Every long name, and the short ones past the cap, were counted as overflow.
    let overflow = metric_value(&page, "gateway_metric_label_overflow_total");
    assert!(
        overflow >= (FLOOD + SHORT_NAMES - 200) as f64,
        "overflow counted {overflow}"
    );
    let models: std::collections::HashSet<&str> = page
        .lines()
        .filter(|l| l.starts_with("gen_ai_client_operation_duration_seconds_count{"))
        .filter_map(|l| l.split("gen_ai_request_model=\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        models.len() <= 201,
        "{} distinct model labels on /metrics",
        models.len()
    );

    // The OTLP side: wait (bounded) for a metric export taken after the flood, then check it.
    let exports = tally.lock().unwrap().metric_exports;
    let deadline = Instant::now() + Duration::from_secs(60);
    while tally.lock().unwrap().metric_exports < exports + 2 {
        assert!(Instant::now() < deadline, "no OTLP metric export");
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = tally.lock().unwrap();
    eprintln!(
        "OTLP: last metric export {} bytes, span exports {} bytes",
        t.last_metrics.len(),
        t.span_bytes
    );
    assert!(t.last_metrics.len() < OTLP_METRICS_BOUND);
    assert!(contains(&t.last_metrics, b"_OTHER"));
    // Admitted before the flood filled the cap (gemini-3.8-pro, first seen after it, is
    // `_OTHER` like every later name).
    assert!(contains(&t.last_metrics, b"gemini-3.8-flash"));
    assert!(!contains(&t.last_metrics, b"abcdefghij"));
}

/// The value of header `name` (lower case) in an answer head.
fn generate_request(model: &str, host: &str) -> String {
    format!(
        "POST /v1beta/models/{model}:generateContent HTTP/1.1\r\nhost: {host}\r\n\
         x-goog-api-key: k\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
}

fn model_version(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["modelVersion"].as_str().unwrap().to_owned()
}

#[test]
fn pipelined_requests_are_all_answered_in_order() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let host = gw.addr.to_string();
    let (a, b, c) = (
        generate_request("gemini-3.8-flash", &host),
        generate_request("gemini-3.8-pro", &host),
        generate_request("gemini-3.8-flash-lite", &host),
    );
    let list = format!("GET /v1beta/models HTTP/1.1\r\nhost: {host}\r\nx-goog-api-key: k\r\n\r\n");
    // The first request, the second and the start of the third in one write: the gateway
    // reads the later requests' bytes along with the first.
    let split = c.len() / 2;
    s.write_all(format!("{a}{b}{}", &c[..split]).as_bytes())
        .unwrap();
    let mut pending = Vec::new();
    let (status, head, body) = read_answer(&mut s, &mut pending);
    assert_eq!(status, 200);
    assert_ne!(
        header(&head, "connection").as_deref(),
        Some("close"),
        "{head}"
    );
    assert_eq!(model_version(&body), "gemini-3.8-flash");
    let (status, _, body) = read_answer(&mut s, &mut pending);
    assert_eq!(status, 200);
    assert_eq!(model_version(&body), "gemini-3.8-pro");
    // The rest of the third request arrives after the first answers were read, with a
    // bodiless fourth request behind it.
    s.write_all(format!("{}{list}", &c[split..]).as_bytes())
        .unwrap();
    let (status, _, body) = read_answer(&mut s, &mut pending);
    assert_eq!(status, 200);
    assert_eq!(model_version(&body), "gemini-3.8-flash-lite");
    let (status, _, body) = read_answer(&mut s, &mut pending);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("\"models\""));
    // The connection is still usable, and every request was traced once, with its model.
    s.write_all(generate_request("gemini-3.8-pro", &host).as_bytes())
        .unwrap();
    let (status, _, body) = read_answer(&mut s, &mut pending);
    assert_eq!(status, 200);
    assert_eq!(model_version(&body), "gemini-3.8-pro");
    assert!(pending.is_empty(), "extra bytes: {pending:?}");
    let conn = gw.wait_traces(5);
    gw.stop();
    let mut models: Vec<Option<String>> = conn
        .prepare("SELECT model FROM traces ORDER BY start_time_unix_nano")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(models.len(), 5, "{models:?}");
    models.sort();
    assert_eq!(
        models,
        [
            None,
            Some("gemini-3.8-flash".into()),
            Some("gemini-3.8-flash-lite".into()),
            Some("gemini-3.8-pro".into()),
            Some("gemini-3.8-pro".into()),
        ]
    );
}

/// Starts a resumable upload over a raw connection with `host_lines` (each ending in CRLF) as
/// the request's `Host` lines and `target` as its request target; returns the status and the
/// answer's head.
fn start_upload(gw: &Gateway, target: &str, host_lines: &str) -> (u16, String) {
    let meta = r#"{"file":{"displayName":"notes"}}"#;
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // One write: a request the parser refuses is answered and closed at once, and a request
    // written in pieces would meet a closed socket (EPIPE) before its answer is read.
    let request = format!(
        "POST {target} HTTP/1.1\r\n{host_lines}x-goog-api-key: k\r\n\
         x-goog-upload-protocol: resumable\r\nx-goog-upload-command: start\r\n\
         x-goog-upload-header-content-length: 11\r\n\
         x-goog-upload-header-content-type: text/plain\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{meta}",
        meta.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    let (status, head, _) = read_answer(&mut s, &mut Vec::new());
    (status, head)
}

/// Finishes an upload at `url` (which must point at the gateway) and checks the file.
fn finish_upload(url: &str) {
    let done = client()
        .post(url)
        .header("x-goog-api-key", "k")
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "0")
        .body("hello world")
        .send()
        .unwrap();
    assert_eq!(done.status(), 200);
    let file: serde_json::Value = done.json().unwrap();
    assert_eq!(file["file"]["sizeBytes"], "11");
}

const UPLOAD: &str = "/upload/v1beta/files";

#[test]
fn the_upload_url_never_carries_a_malformed_host() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", "");
    let port = gw.addr.port();
    let own = format!("http://127.0.0.1:{port}{UPLOAD}?upload_id=");

    // A valid Host is used as sent (the client reached the gateway by that name).
    let (status, head) = start_upload(&gw, UPLOAD, &format!("Host: localhost:{port}\r\n"));
    assert_eq!(status, 200, "{head}");
    let url = header(&head, "x-goog-upload-url").unwrap();
    assert!(
        url.starts_with(&format!("http://localhost:{port}{UPLOAD}?upload_id=")),
        "{url}"
    );
    assert_eq!(
        header(&head, "x-goog-upload-control-url").as_deref(),
        Some(url.as_str())
    );
    finish_upload(&url);

    // Malformed or missing: the address the client connected to, never the Host. pingora's
    // parser itself answers 400 to a Host with user info and to a repeated Host.
    for (hosts, expected) in [
        ("Host: evil.example/phish?\r\n", 200),
        ("Host: evil.example:80 x\r\n", 200),
        ("Host: evil.example:99999\r\n", 200),
        ("Host: -evil.example\r\n", 200),
        ("Host: \r\n", 200),
        ("", 200),
        ("Host: user@evil.example\r\n", 400),
        ("Host: evil.example\r\nHost: other.example\r\n", 400),
    ] {
        let (status, head) = start_upload(&gw, UPLOAD, hosts);
        assert_eq!(status, expected, "{hosts:?}: {head}");
        assert!(!head.contains("evil"), "{hosts:?}: {head}");
        if status == 200 {
            let url = header(&head, "x-goog-upload-url").unwrap();
            assert!(url.starts_with(&own), "{hosts:?} gave {url}");
            finish_upload(&url);
        }
    }

    // Bytes that could split the header: a bare CR or NUL is refused by the parser (400); a
    // bare LF ends the Host line (the parser accepts it as a line end), so what follows is a
    // header of its own and the Host before it is valid. Never an injected answer header.
    for (hosts, expected) in [
        ("Host: evil.example\rx-injected: 1\r\n", None),
        ("Host: evil\x00.example\r\n", None),
        (
            "Host: evil.example\nx-injected: 1\r\n",
            Some("http://evil.example/"),
        ),
    ] {
        let (status, head) = start_upload(&gw, UPLOAD, hosts);
        assert!(
            !head.to_lowercase().contains("x-injected"),
            "{hosts:?}: {head}"
        );
        match expected {
            None => assert_eq!(status, 400, "{hosts:?}: {head}"),
            Some(base) => {
                let url = header(&head, "x-goog-upload-url").unwrap();
                assert!(url.starts_with(base), "{hosts:?}: {url}");
            }
        }
    }

    // Absolute form: pingora refuses a target whose authority differs from Host (400); one
    // that agrees is used; without Host, the connection's address.
    let absolute = format!("http://front.example:9000{UPLOAD}");
    let (status, head) = start_upload(&gw, &absolute, &format!("Host: localhost:{port}\r\n"));
    assert_eq!(status, 400, "{head}");
    assert!(!head.contains("front.example"), "{head}");
    let (status, head) = start_upload(&gw, &absolute, "Host: front.example:9000\r\n");
    assert_eq!(status, 200, "{head}");
    let url = header(&head, "x-goog-upload-url").unwrap();
    assert!(url.starts_with(&format!("{absolute}?upload_id=")), "{url}");
    let (status, head) = start_upload(&gw, &absolute, "");
    assert_eq!(status, 200, "{head}");
    let url = header(&head, "x-goog-upload-url").unwrap();
    assert!(url.starts_with(&own), "{url}");
    let (status, head) = start_upload(
        &gw,
        &format!("http://evil.example/x@y{UPLOAD}"),
        "Host: evil.example/x@y\r\n",
    );
    assert!(!head.contains("evil"), "{status}: {head}");
}

#[test]
fn public_url_is_used_verbatim_whatever_the_host() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(
        &fake.base_url(),
        "public_url = \"https://gemini-gateway.example.com/gemini/\"",
        "",
    );
    for hosts in ["Host: evil.example\r\n", "Host: localhost\r\n", ""] {
        let (status, head) = start_upload(&gw, UPLOAD, hosts);
        assert_eq!(status, 200, "{head}");
        for name in ["x-goog-upload-url", "x-goog-upload-control-url"] {
            let url = header(&head, name).unwrap();
            assert!(
                url.starts_with(&format!(
                    "https://gemini-gateway.example.com/gemini{UPLOAD}?upload_id="
                )),
                "{hosts:?}: {name} {url}"
            );
        }
    }
}
