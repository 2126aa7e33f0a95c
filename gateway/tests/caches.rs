//! Context caching through the real gateway binary, against the fake upstream: a create is
//! billed as input tokens; storage is accounted per token-hour over the cache's life, ended by
//! a new TTL (PATCH), a DELETE or expiry, and served as its own line of the cost report. The
//! expected costs are computed here from the times the upstream answered and the published
//! rates of gemini-3.8-flash (input $0.75 per 1M in 2026, $1.50 from 2027; storage $1.00 per
//! 1M token-hours).

#![allow(clippy::unwrap_used)]

mod util;

use fake_gemini::{FakeConfig, spawn_in_thread};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use util::{Gateway, client, llm_span, trace_id, trace_row};

const KEY: &str = "test-key";
const API: &str = "[api]\nlisten = \"127.0.0.1:0\"\n";
const STORAGE_RATE: f64 = 1.00;
const HOUR_NS: f64 = 3.6e12;

fn send(method: reqwest::Method, url: &str, body: Option<&Value>) -> reqwest::blocking::Response {
    let mut r = client().request(method, url).header("x-goog-api-key", KEY);
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    r.send().unwrap()
}

fn create_body(ttl: &str) -> Value {
    json!({
        "model": "models/gemini-3.8-flash",
        "contents": [{"role": "user", "parts": [{"text": "the quick brown fox jumps over the lazy dog ".repeat(12)}]}],
        "systemInstruction": {"parts": [{"text": "answer from the document"}]},
        "ttl": ttl,
    })
}

/// Unix nanos of an RFC 3339 time the fake wrote (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
fn nanos(t: &Value) -> i64 {
    let s = t.as_str().unwrap();
    let days = {
        let (y, m, d): (i64, i64, i64) = (
            s[0..4].parse().unwrap(),
            s[5..7].parse().unwrap(),
            s[8..10].parse().unwrap(),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
    };
    let secs: i64 = s[11..13].parse::<i64>().unwrap() * 3600
        + s[14..16].parse::<i64>().unwrap() * 60
        + s[17..19].parse::<i64>().unwrap();
    let frac: i64 = s[20..26].parse().unwrap();
    (days * 86_400 + secs) * 1_000_000_000 + frac * 1000
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12_f64.max(b.abs() * 1e-9)
}

/// The storage rows of `name`, waiting (bounded) until `n` are there and `done` holds.
fn rows(gw: &Gateway, name: &str, n: usize, done: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let conn = Connection::open(&gw.db).unwrap();
        let got: Vec<Row> = conn
            .prepare(
                "SELECT tokens, start_unix_nano, end_unix_nano, ended_by, usd_per_mtok_hour,
                        create_seen, unpriced_reason, model
                 FROM cache_storage WHERE cache_name = ?1 ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map([name], |r| {
                    Ok(Row {
                        tokens: r.get(0)?,
                        start: r.get(1)?,
                        end: r.get(2)?,
                        ended_by: r.get(3)?,
                        rate: r.get(4)?,
                        create_seen: r.get::<_, i64>(5)? == 1,
                        reason: r.get(6)?,
                        model: r.get(7)?,
                    })
                })?
                .collect()
            })
            .unwrap_or_default();
        if got.len() >= n && done(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "rows of {name}: {got:?}\n{}",
            gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Debug)]
struct Row {
    tokens: Option<i64>,
    start: i64,
    end: Option<i64>,
    ended_by: Option<String>,
    rate: Option<f64>,
    create_seen: bool,
    reason: Option<String>,
    model: Option<String>,
}

fn storage(gw: &Gateway, since: i64) -> Value {
    let r = client()
        .get(gw.api_url(&format!("/api/metrics/cost?since={since}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().unwrap()
}

#[test]
fn create_patch_and_delete_account_storage_by_the_token_hour() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", API);
    let since = now_ns() - 1_000_000_000;
    let r = send(
        reqwest::Method::POST,
        &gw.url("/v1beta/cachedContents"),
        Some(&create_body("3600s")),
    );
    assert_eq!(r.status(), 200);
    let create_trace = trace_id(&r);
    let cache: Value = r.json().unwrap();
    let name = cache["name"].as_str().unwrap().to_owned();
    let tokens = cache["usageMetadata"]["totalTokenCount"].as_i64().unwrap();
    let created = nanos(&cache["createTime"]);
    assert_eq!(nanos(&cache["expireTime"]) - created, 3_600_000_000_000);

    // The create is billed as input tokens, priced by the served model.
    let (model, input, _, cost, unpriced) = trace_row(&gw, &create_trace);
    assert_eq!(model.as_deref(), Some("gemini-3.8-flash"));
    assert_eq!((input, unpriced), (Some(tokens), false));
    let creation = tokens as f64 * util::flash_38_rates().0 / 1e6;
    assert!(close(cost.unwrap(), creation), "{cost:?} vs {creation}");
    let llm = llm_span(&gw, &create_trace);
    assert_eq!(llm["gateway.cache.event"], "create");
    assert_eq!(llm["gateway.cache.tokens"], tokens);
    assert_eq!(llm["gateway.cache.storage_usd_per_mtok_hour"], STORAGE_RATE);

    // A call naming the cache reports its tokens as cached.
    let ask = json!({"cachedContent": name, "contents": [{"parts": [{"text": "and then?"}]}]});
    let r = send(
        reqwest::Method::POST,
        &gw.url("/v1beta/models/gemini-3.8-flash:generateContent"),
        Some(&ask),
    );
    assert_eq!(r.status(), 200);
    let t = trace_id(&r);
    let answer: Value = r.json().unwrap();
    assert_eq!(answer["usageMetadata"]["cachedContentTokenCount"], tokens);
    assert_eq!(
        llm_span(&gw, &t)["gen_ai.usage.cache_read.input_tokens"],
        tokens
    );
    // Its cost, from the answer: the uncached prompt at the input rate, the cached part at the
    // cache-read rate (once, not also at the input rate), thoughts as output.
    let u = &answer["usageMetadata"];
    let n = |k: &str| u[k].as_f64().unwrap_or(0.0);
    assert!(n("cachedContentTokenCount") > 0.0);
    let gen_cost = util::flash_38_cost(u);
    let stored = trace_row(&gw, &t).3.unwrap();
    assert!(close(stored, gen_cost), "{stored} vs {gen_cost}");

    // A new TTL closes the first interval at updateTime and opens the next.
    let r = send(
        reqwest::Method::PATCH,
        &gw.url(&format!("/v1beta/{name}")),
        Some(&json!({"ttl": "7200s"})),
    );
    assert_eq!(r.status(), 200);
    let patch_trace = trace_id(&r);
    let patched: Value = r.json().unwrap();
    let updated = nanos(&patched["updateTime"]);
    assert_eq!(nanos(&patched["expireTime"]) - updated, 7_200_000_000_000);
    let (_, _, _, cost, _) = trace_row(&gw, &patch_trace);
    assert_eq!(cost, Some(0.0), "the PATCH call itself is free");

    let before_delete = now_ns();
    let r = send(
        reqwest::Method::DELETE,
        &gw.url(&format!("/v1beta/{name}")),
        None,
    );
    assert_eq!(r.status(), 200);
    let after_delete = now_ns();

    let got = rows(&gw, &name, 2, |r| {
        r.last().is_some_and(|x| x.ended_by.is_some())
    });
    assert_eq!(got.len(), 2, "{got:?}");
    let (first, second) = (&got[0], &got[1]);
    assert_eq!((first.start, first.end), (created, Some(updated)));
    assert_eq!(first.ended_by.as_deref(), Some("ttl_update"));
    assert_eq!(second.start, updated);
    assert_eq!(second.ended_by.as_deref(), Some("delete"));
    let deleted = second.end.unwrap();
    assert!(
        (before_delete..=after_delete).contains(&deleted),
        "{deleted}"
    );
    for row in &got {
        assert_eq!(row.tokens, Some(tokens));
        assert_eq!(row.rate, Some(STORAGE_RATE));
        assert_eq!(row.model.as_deref(), Some("gemini-3.8-flash"));
        assert!(row.create_seen && row.reason.is_none(), "{row:?}");
    }

    // Storage: tokens x hours x rate, a line of its own, not in the token cost.
    let expected = tokens as f64 * (deleted - created) as f64 / HOUR_NS * STORAGE_RATE / 1e6;
    let report = storage(&gw, since);
    let line = &report["cache_storage"];
    assert!(
        close(line["usd"].as_f64().unwrap(), expected),
        "{line} vs {expected}"
    );
    assert_eq!(line["caches"], 1);
    assert_eq!(
        (line["unpriced"].as_u64(), line["unseen_creates"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(line["models"][0]["model"], "gemini-3.8-flash");
    assert!(
        close(report["total_usd"].as_f64().unwrap(), creation + gen_cost),
        "{report}"
    );
}

#[test]
fn a_cache_left_to_expire_is_billed_to_its_expire_time() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", API);
    let since = now_ns() - 1_000_000_000;
    let r = send(
        reqwest::Method::POST,
        &gw.url("/v1beta/cachedContents"),
        Some(&create_body("1.5s")),
    );
    assert_eq!(r.status(), 200);
    let cache: Value = r.json().unwrap();
    let name = cache["name"].as_str().unwrap().to_owned();
    let tokens = cache["usageMetadata"]["totalTokenCount"].as_i64().unwrap();
    let expire = nanos(&cache["expireTime"]);
    // Wait (bounded) until the upstream has let it expire.
    let deadline = Instant::now() + Duration::from_secs(20);
    while send(
        reqwest::Method::GET,
        &format!("{}/v1beta/{name}", fake.base_url()),
        None,
    )
    .status()
        == 200
    {
        assert!(Instant::now() < deadline, "the cache never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(now_ns() >= expire);
    let got = rows(&gw, &name, 1, |_| true);
    assert_eq!(got[0].end, Some(expire));
    assert_eq!(got[0].ended_by, None, "ended by expiry: no close");
    let expected = tokens as f64 * 1.5 / 3600.0 * STORAGE_RATE / 1e6;
    let line = storage(&gw, since)["cache_storage"].clone();
    assert!(
        close(line["usd"].as_f64().unwrap(), expected),
        "{line} vs {expected}"
    );
    // A window that ends before the cache was created sees none of it.
    let r = client()
        .get(gw.api_url(&format!(
            "/api/metrics/cost?since={}&until={}",
            since - 3_600_000_000_000,
            since
        )))
        .send()
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["cache_storage"]["usd"], 0.0);
}

#[test]
fn updates_and_deletes_of_caches_created_elsewhere_are_flagged() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", API);
    let since = now_ns() - 1_000_000_000;
    // Two caches created straight at the upstream: the gateway never sees their creates.
    let direct = |ttl: &str| -> Value {
        let r = send(
            reqwest::Method::POST,
            &format!("{}/v1beta/cachedContents", fake.base_url()),
            Some(&create_body(ttl)),
        );
        assert_eq!(r.status(), 200);
        r.json().unwrap()
    };
    let (a, b) = (direct("3600s"), direct("3600s"));
    let (a_name, b_name) = (a["name"].as_str().unwrap(), b["name"].as_str().unwrap());
    let tokens = a["usageMetadata"]["totalTokenCount"].as_i64().unwrap();

    let r = send(
        reqwest::Method::PATCH,
        &gw.url(&format!("/v1beta/{a_name}")),
        Some(&json!({"ttl": "60s"})),
    );
    assert_eq!(r.status(), 200);
    let updated = nanos(&r.json::<Value>().unwrap()["updateTime"]);
    let got = rows(&gw, a_name, 2, |_| true);
    // The time before the PATCH is known from createTime: priced, flagged as unseen.
    assert!(!got[0].create_seen, "{got:?}");
    assert_eq!(
        (got[0].start, got[0].end),
        (nanos(&a["createTime"]), Some(updated))
    );
    assert_eq!(
        (got[0].tokens, got[0].rate),
        (Some(tokens), Some(STORAGE_RATE))
    );
    assert!(!got[1].create_seen);
    assert_eq!(got[1].start, updated);

    let r = send(
        reqwest::Method::DELETE,
        &gw.url(&format!("/v1beta/{b_name}")),
        None,
    );
    assert_eq!(r.status(), 200);
    let got = rows(&gw, b_name, 1, |_| true);
    assert_eq!(got.len(), 1);
    assert!(!got[0].create_seen);
    assert_eq!(
        got[0].tokens, None,
        "a DELETE answer says nothing of the cache"
    );
    assert!(
        got[0].reason.as_deref().unwrap().contains("never saw"),
        "{got:?}"
    );

    let line = storage(&gw, since)["cache_storage"].clone();
    assert_eq!(line["unseen_creates"], 2, "{line}");
    assert_eq!(
        line["unpriced"], 1,
        "the deleted cache is unpriced, not $0: {line}"
    );
    assert!(line["usd"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_ttls_are_refused_and_a_ttl_of_years_accrues_only_elapsed_time() {
    let fake = spawn_in_thread(FakeConfig::default());
    let gw = Gateway::start(&fake.base_url(), "", API);
    let since = now_ns() - 1_000_000_000;
    for ttl in ["-5s", "abc", "1e9s"] {
        let r = send(
            reqwest::Method::POST,
            &gw.url("/v1beta/cachedContents"),
            Some(&create_body(ttl)),
        );
        assert_eq!(r.status(), 400, "{ttl}");
        let t = trace_id(&r);
        let (_, input, _, cost, unpriced) = trace_row(&gw, &t);
        assert_eq!((input, cost, unpriced), (None, Some(0.0), false), "{ttl}");
        assert!(llm_span(&gw, &t).get("gateway.cache.event").is_none());
    }
    // Ten years.
    let r = send(
        reqwest::Method::POST,
        &gw.url("/v1beta/cachedContents"),
        Some(&create_body("315360000s")),
    );
    assert_eq!(r.status(), 200);
    let cache: Value = r.json().unwrap();
    let name = cache["name"].as_str().unwrap().to_owned();
    let tokens = cache["usageMetadata"]["totalTokenCount"].as_i64().unwrap();
    let created = nanos(&cache["createTime"]);
    let got = rows(&gw, &name, 1, |_| true);
    assert_eq!(got[0].end, Some(nanos(&cache["expireTime"])));
    let usd = storage(&gw, since)["cache_storage"]["usd"]
        .as_f64()
        .unwrap();
    let elapsed_bound = tokens as f64 * (now_ns() - created) as f64 / HOUR_NS * STORAGE_RATE / 1e6;
    assert!(
        usd > 0.0 && usd <= elapsed_bound * (1.0 + 1e-9),
        "{usd} vs at most {elapsed_bound}"
    );
    // A PATCH with a garbage TTL is refused and closes nothing.
    let r = send(
        reqwest::Method::PATCH,
        &gw.url(&format!("/v1beta/{name}")),
        Some(&json!({"ttl": "-1s"})),
    );
    assert_eq!(r.status(), 400);
    trace_row(&gw, &trace_id(&r));
    let got = rows(&gw, &name, 1, |_| true);
    assert_eq!((got.len(), got[0].ended_by.as_deref()), (1, None));
}
