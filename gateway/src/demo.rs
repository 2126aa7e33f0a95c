//! Demo mode: a simulated Gemini upstream in-process and synthetic traffic through the gateway,
//! so that a newcomer sees traces at once. Nothing here runs unless `--demo` is given.

use crate::config::Config;
use fake_gemini::{FakeConfig, FakeGemini};
use rand::Rng;
use rand::seq::IndexedRandom;
use std::time::Duration;

/// Keeps the demo's upstream alive.
pub struct Demo {
    _upstream: FakeGemini,
}

const MODELS: &[&str] = &[
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-2.0-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "my-unpriced-model",
];
const USERS: &[&str] = &["alice", "bob", "carol", "dave"];
const PROMPTS: &[&str] = &[
    "Summarise the incident report for the on-call channel",
    "Write a haiku about write-ahead logs",
    "Extract the invoice total and due date from this text",
    "Plan the next three steps for the research agent",
    "Translate the release notes into French",
];

/// Starts the simulated upstream, points `config` at it, and starts the traffic thread.
pub fn start(config: &mut Config) -> anyhow::Result<Demo> {
    let upstream = fake_gemini::spawn_in_thread(FakeConfig {
        latency_ms: 120,
        chunk_gap_ms: 60,
        chunks: 5,
    });
    config.proxy.upstream = upstream.base_url();
    let gateway = format!("http://{}", config.proxy.listen);
    tracing::info!(upstream = %config.proxy.upstream, "Demo: simulated Gemini upstream started.");
    std::thread::Builder::new()
        .name("demo-traffic".into())
        .spawn(move || traffic(&gateway))?;
    Ok(Demo {
        _upstream: upstream,
    })
}

fn traffic(gateway: &str) {
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
        let model = MODELS
            .choose(&mut rng)
            .copied()
            .unwrap_or("gemini-2.5-flash");
        let user = USERS.choose(&mut rng).copied().unwrap_or("alice");
        let prompt = PROMPTS.choose(&mut rng).copied().unwrap_or("hello");
        let session = format!("{user}-session-{}", rng.random_range(1..4));
        let roll: u32 = rng.random_range(0..100);
        let (method, query) = match roll {
            0..=44 => ("streamGenerateContent", "?alt=sse"),
            45..=84 => ("generateContent", ""),
            85..=92 => ("countTokens", ""),
            _ => ("streamGenerateContent", ""),
        };
        let url = format!("{gateway}/v1beta/models/{model}:{method}{query}");
        let body = serde_json::json!({
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {"temperature": 0.7, "maxOutputTokens": 256},
        });
        let mut req = client
            .post(url)
            .header("x-goog-api-key", "demo-key")
            .header("x-gateway-user-id", user)
            .header("x-gateway-session-id", session)
            .header("x-gateway-property-env", "demo")
            .body(body.to_string());
        if rng.random_range(0..100) < 4 {
            req = req.header("x-fake-status", "429");
        }
        match req.send().and_then(|r| r.bytes()) {
            Ok(_) => sent += 1,
            Err(error) => tracing::debug!(%error, "Demo request failed."),
        }
        if sent > 0 && sent.is_multiple_of(100) {
            tracing::info!(sent, "Demo: synthetic requests sent.");
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(150..600)));
    }
}
