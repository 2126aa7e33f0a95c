//! A sweep over every form a credential can take on the way in, through the real gateway binary
//! (at `RUST_LOG=debug`) to the fake upstream: no secret value may appear in the database file,
//! its live `-wal`, the gateway's log, or the API's answers (`/api/traces`, `/api/traces/{id}`).

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::time::{Duration, Instant};
use util::{Gateway, client, file_contains};

/// One credential form: a name, the path and query, and the headers that carry `secret`.
struct Case {
    name: &'static str,
    secret: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
}

const GENERATE: &str = "/v1beta/models/gemini-2.0-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.0-flash:streamGenerateContent";

fn cases() -> Vec<Case> {
    let header = |name, secret: &'static str, h: &'static str, value: String| Case {
        name,
        secret,
        path: GENERATE.to_owned(),
        headers: vec![(h, value)],
    };
    let query = |name, secret: &'static str, path: &str, q: String| Case {
        name,
        secret,
        path: format!("{path}?{q}"),
        headers: Vec::new(),
    };
    let s1 = "sweepSecretGoogHeader7f3a91";
    let s2 = "sweepSecretBearer2c8e55";
    let s3 = "sweepSecretQueryKey0b4d12";
    let s4 = "sweepSecretPctKey6B9e07";
    let s5 = "sweepSecretPctKey65a1c3";
    let s6 = "sweepSecretSemicolon5d2f88";
    let s7 = "sweepSecretAccessToken3e7a40";
    let s8 = "sweepSecretEphemeral9c1b26";
    vec![
        header("x-goog-api-key header", s1, "x-goog-api-key", s1.to_owned()),
        header(
            "Authorization: Bearer",
            s2,
            "authorization",
            format!("Bearer {s2}"),
        ),
        query("?key=", s3, GENERATE, format!("key={s3}")),
        query("?%6Bey=", s4, GENERATE, format!("%6Bey={s4}")),
        query("?k%65y=", s5, GENERATE, format!("k%65y={s5}")),
        query("?alt=sse;key=", s6, STREAM, format!("alt=sse;key={s6}")),
        query("?access_token=", s7, GENERATE, format!("access_token={s7}")),
        header(
            "Authorization: Token auth_tokens/… (ephemeral)",
            s8,
            "authorization",
            format!("Token auth_tokens/{s8}"),
        ),
    ]
}

fn get_json(url: &str) -> (u16, String) {
    let r = client().get(url).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn no_credential_form_leaks_into_the_database_the_log_or_the_api() {
    let fake = spawn_in_thread(FakeConfig::default());
    let api_port = util::free_port();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    // `env` overrides the helper's RUST_LOG=info for the gateway itself.
    let mut gw = Gateway::start_wrapped(
        dir,
        db,
        &fake.base_url(),
        "",
        "linger_ms = 5",
        &format!("[api]\nlisten = \"127.0.0.1:{api_port}\"\n"),
        &["env", "RUST_LOG=debug"],
    );
    let api = format!("http://127.0.0.1:{api_port}");
    let cases = cases();
    let mut ids = Vec::new();
    for case in &cases {
        let mut req = client().post(gw.url(&case.path)).body(format!(
            r#"{{"contents":[{{"parts":[{{"text":"secret sweep: {}"}}]}}]}}"#,
            case.name
        ));
        for (k, v) in &case.headers {
            req = req.header(*k, v);
        }
        let resp = req.send().unwrap();
        let status = resp.status();
        let id = resp
            .headers()
            .get("x-gateway-trace-id")
            .unwrap_or_else(|| panic!("{}: no trace id (status {status})", case.name))
            .to_str()
            .unwrap()
            .to_owned();
        let _ = resp.bytes().unwrap();
        ids.push(id);
    }
    let conn = gw.wait_traces(ids.len() as i64);
    drop(conn);
    assert!(
        gw.log_text().contains("DEBUG"),
        "the log is at debug level:\n{}",
        gw.log_text()
    );

    // The API's answers, once every trace is listed (the deadline only bounds the wait).
    let deadline = Instant::now() + Duration::from_secs(60);
    let list = loop {
        let (status, body) = get_json(&format!("{api}/api/traces?limit=100"));
        assert_eq!(status, 200, "{body}");
        if ids.iter().all(|id| body.contains(id.as_str())) {
            break body;
        }
        assert!(Instant::now() < deadline, "not every trace listed: {body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let details: Vec<(String, String)> = ids
        .iter()
        .map(|id| {
            let (status, body) = get_json(&format!("{api}/api/traces/{id}"));
            assert_eq!(status, 200, "{body}");
            (format!("/api/traces/{id}"), body)
        })
        .collect();

    // The live files, while the gateway runs, then the log and the files after it stopped.
    let wal = gw.db.with_extension("db-wal");
    let sweep = |when: &str, gw: &Gateway| -> Vec<String> {
        let mut found = Vec::new();
        for case in &cases {
            let s = case.secret.as_bytes();
            for (place, path) in [("database file", &gw.db), ("-wal", &wal), ("log", &gw.log)] {
                if file_contains(path, s) {
                    // The first line that holds it, so the report says exactly where.
                    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
                    let line = text
                        .lines()
                        .find(|l| l.contains(case.secret))
                        .unwrap_or("(binary)")
                        .chars()
                        .take(400)
                        .collect::<String>();
                    found.push(format!("{} ({when}): in the {place}: {line}", case.name));
                }
            }
        }
        found
    };
    assert!(wal.exists(), "the live -wal is swept while it exists");
    let mut leaks = sweep("running", &gw);
    for case in &cases {
        if list.contains(case.secret) {
            leaks.push(format!("{}: in /api/traces", case.name));
        }
        for (url, body) in &details {
            if body.contains(case.secret) {
                leaks.push(format!("{}: in {url}", case.name));
            }
        }
    }
    gw.stop();
    leaks.extend(sweep("stopped", &gw));
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}
