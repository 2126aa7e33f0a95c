//! Live reload through the real binary: SIGHUP and file edits swap pricing without dropping a
//! stream in flight; a bad file is rejected and the running configuration stays.

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use std::io::Read;
use std::time::{Duration, Instant};
use util::{Gateway, client, read_until};

fn wait_log(gw: &Gateway, needle: &str, times: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while gw.log_text().matches(needle).count() < times {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} x{times} in log:\n{}",
            gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cost_of(gw: &Gateway, trace: &str) -> Option<f64> {
    let conn = gw.wait_traces(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row: Result<Option<f64>, _> = conn.query_row(
            "SELECT cost_usd FROM traces WHERE trace_id = ?1",
            [trace],
            |r| r.get(0),
        );
        match row {
            Ok(v) => return v,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("{e}"),
        }
    }
}

fn call(gw: &Gateway, model: &str) -> String {
    let resp = client()
        .post(gw.url(&format!("/v1beta/models/{model}:generateContent")))
        .header("x-goog-api-key", "k")
        .body(r#"{"contents":[{"parts":[{"text":"one two three"}]}]}"#)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.headers()["x-gateway-trace-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn pricing_reloads_on_sighup_and_on_file_change() {
    let fake = spawn_in_thread(FakeConfig {
        chunks: 3,
        ..FakeConfig::default()
    });
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let config = gw.dir.path().join("gateway.toml");
    let original = std::fs::read_to_string(&config).unwrap();

    let before = call(&gw, "house-model");
    assert_eq!(cost_of(&gw, &before), None, "unpriced before the reload");

    // A stream in flight across the reload.
    let mut stream = client()
        .post(gw.url("/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent?alt=sse"))
        .header("x-goog-api-key", "k")
        .header("x-fake-hold", "reload")
        .body(r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#)
        .send()
        .unwrap();
    read_until(&mut stream, b"\r\n\r\n");

    std::fs::write(
        &config,
        format!("{original}\n[pricing.models.\"house-model\"]\ninput = 1000000.0\noutput = 0.0\n"),
    )
    .unwrap();
    // The file watcher picks the edit up; SIGHUP forces it too.
    gw.signal("-HUP");
    wait_log(&gw, "Configuration reloaded.", 1);

    fake.release("reload");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(
        String::from_utf8_lossy(&rest).contains("STOP"),
        "the stream survived the reload"
    );

    let after = call(&gw, "house-model");
    assert_eq!(
        cost_of(&gw, &after),
        Some(3.0),
        "3 prompt tokens at $1 per token"
    );

    // A bad file is rejected; the last good configuration stays.
    std::fs::write(&config, format!("{original}\n[pricing]\nbogus = 1\n")).unwrap();
    wait_log(&gw, "Configuration reload rejected", 1);
    assert!(gw.log_text().contains("bogus"), "the log names the bad key");
    let still = call(&gw, "house-model");
    assert_eq!(cost_of(&gw, &still), Some(3.0));
    gw.stop();
}

#[test]
fn a_pricing_file_and_dated_rows_reload_without_a_rebuild() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let config = gw.dir.path().join("gateway.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    let before = call(&gw, "our-finetune");
    assert_eq!(cost_of(&gw, &before), None, "unpriced before the reload");

    // A pricing file next to gateway.toml, named relative to it, with a row in force since
    // 2020 and one that only starts in 2999 (never in force now).
    std::fs::write(
        gw.dir.path().join("prices.toml"),
        "[[rows]]\nmodel = \"our-finetune\"\neffective_from = \"2020-01-01\"\ninput = 1000000.0\n\
         output = 0.0\nsource = \"contract A\"\n\n[[rows]]\nmodel = \"our-finetune\"\n\
         effective_from = \"2999-01-01\"\ninput = 9000000.0\noutput = 0.0\nsource = \"contract B\"\n",
    )
    .unwrap();
    std::fs::write(
        &config,
        format!("{original}\n[pricing]\nfile = \"prices.toml\"\n"),
    )
    .unwrap();
    gw.signal("-HUP");
    wait_log(&gw, "Configuration reloaded.", 1);
    let after = call(&gw, "our-finetune");
    assert_eq!(cost_of(&gw, &after), Some(3.0), "the row in force today");

    // A bad inline row is rejected with its name; the file's prices stay in force.
    std::fs::write(
        &config,
        format!(
            "{original}\n[pricing]\nfile = \"prices.toml\"\n[[pricing.rows]]\nmodel = \"x\"\n\
             tier = \"turbo\"\ninput = 1.0\noutput = 1.0\n"
        ),
    )
    .unwrap();
    gw.signal("-HUP");
    wait_log(&gw, "Configuration reload rejected", 1);
    assert!(gw.log_text().contains("turbo"), "the log names the bad row");
    let still = call(&gw, "our-finetune");
    assert_eq!(cost_of(&gw, &still), Some(3.0));
    gw.stop();
}

#[test]
fn an_empty_file_on_reload_is_rejected_and_the_running_config_stays() {
    let fake = spawn_in_thread(FakeConfig::default());
    let mut gw = Gateway::start(&fake.base_url(), "", "");
    let config = gw.dir.path().join("gateway.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{original}\n[pricing.models.\"house-model\"]\ninput = 1000000.0\noutput = 0.0\n"),
    )
    .unwrap();
    gw.signal("-HUP");
    wait_log(&gw, "Configuration reloaded.", 1);
    // A truncated write leaves an empty file: rejected like any bad file.
    std::fs::write(&config, "").unwrap();
    gw.signal("-HUP");
    wait_log(&gw, "Configuration reload rejected", 1);
    assert!(
        gw.log_text().contains("empty or truncated"),
        "{}",
        gw.log_text()
    );
    let t = call(&gw, "house-model");
    assert_eq!(cost_of(&gw, &t), Some(3.0), "the last good prices stay");
    gw.stop();
}
