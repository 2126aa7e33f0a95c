//! The global memory budget for request bodies, through the real binary: stalled uploads that
//! each stay under `max_parse_bytes` cannot together hold more than the budget; a request that
//! finds the budget spent is forwarded untouched and says why; the budget comes back when the
//! stalled requests go away.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::io::Write;
use std::net::TcpStream;
use util::{Gateway, client, spans_of, step};

const MIB: usize = 1 << 20;

fn stalled_upload(gw: &Gateway, sent: usize, declared: usize) -> TcpStream {
    let mut s = TcpStream::connect(gw.addr).unwrap();
    write!(
        s,
        "POST /v1beta/models/gemini-3.8-flash:generateContent HTTP/1.1\r\nhost: x\r\n\
         x-goog-api-key: k\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n\r\n"
    )
    .unwrap();
    s.write_all(&vec![b' '; sent]).unwrap();
    s
}

fn parse_error(gw: &Gateway, body: &str) -> Option<String> {
    let r = client()
        .post(gw.url("/v1beta/models/gemini-3.8-flash:generateContent"))
        .header("x-goog-api-key", "k")
        .body(body.to_owned())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "the data path never depends on the budget");
    let id = r.headers()["x-gateway-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let conn = gw.wait_traces(1);
    // Bounded, and generous: under CPU contention the writer yields to every request.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let spans = spans_of(&conn, &id);
        if !spans.is_empty() {
            let p = step(&spans, "prompt_construction");
            return p["gateway.request.parse_error"].as_str().map(str::to_owned);
        }
        assert!(std::time::Instant::now() < deadline, "no spans for {id}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The budget's lines of `/metrics`, for a failure message.
fn budget_metrics(gw: &Gateway) -> String {
    let Some(api) = gw.api_addr else {
        return "(no API)".into();
    };
    client()
        .get(format!("http://{api}/metrics"))
        .send()
        .and_then(|r| r.text())
        .map(|t| {
            t.lines()
                .filter(|l| l.contains("budget") || l.contains("connections"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn stalled_uploads_cannot_hold_more_than_the_budget() {
    let fake = spawn_in_thread(FakeConfig::default());
    // 2 MiB per request: a budget of 64 MiB (the minimum).
    let gw = Gateway::start(&fake.base_url(), "max_parse_bytes = 2097152", "");
    // 1.5 MiB: more than one stalled upload (0.5 MiB), so that the uploads below can leave less
    // room than the probe needs (see the loop that waits for the budget to be spent).
    let body = format!(
        "{}{}",
        r#"{"contents":[{"parts":[{"text":"a padded prompt"}]}]}"#,
        " ".repeat(3 * MIB / 2)
    );
    let body = body.as_str();
    assert_eq!(
        parse_error(&gw, body),
        None,
        "inspected while the budget is free"
    );

    // 160 uploads of 0.5 MiB each (80 MiB) that never finish.
    let mut stalled: Vec<TcpStream> = (0..160)
        .map(|_| stalled_upload(&gw, MIB / 2, 2 * MIB))
        .collect();
    // Wait (bounded) until the gateway has read enough of them to spend the budget. An upload
    // refused mid-way gives back all it held; when several are refused after the others were
    // read whole, the room they leave can exceed the probe, which is then rightly inspected.
    // Each such probe is followed by more stalled uploads, which take that room.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let refused = loop {
        if let Some(e) = parse_error(&gw, body) {
            break e;
        }
        stalled.extend((0..4).map(|_| stalled_upload(&gw, MIB / 2, 2 * MIB)));
        assert!(
            std::time::Instant::now() < deadline,
            "the budget was never spent; budget lines of /metrics:\n{}\nlog:\n{}",
            budget_metrics(&gw),
            gw.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(refused.contains("memory budget"), "{refused}");
    let rss_mib = gw.peak_rss_kib() / 1024;
    // The budget's 64 MiB, plus 160 MiB for the process itself, the uploads the budget refused
    // (streamed, not kept) and the allocator.
    assert!(
        rss_mib < 64 + 160,
        "bodies held beyond the budget: peak RSS {rss_mib} MiB"
    );

    drop(stalled);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while parse_error(&gw, body).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the budget did not come back"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
