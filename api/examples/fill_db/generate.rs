//! Realistic synthetic gateway data: traces with 3-6 spans, several models, users and
//! sessions, log-normal durations, TTFT on streams, token counts, costs (some unpriced), and
//! metric snapshots (some breached). Shared by the `fill_db` example and the `queries` bench.

use gateway_store::query::seed::{NewMetricSnapshot, insert_metric_snapshots};
use gateway_store::{SpanRow, Store, StoreOptions, TraceRow};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::Instant;

/// Input and output price in USD per 1M tokens; `None` = unpriced.
type Price = Option<(f64, f64)>;

/// (model, operation, median duration ms, price).
const MODELS: [(&str, &str, f64, Price); 6] = [
    (
        "gemini-2.5-flash",
        "generate_content",
        1400.0,
        Some((0.30, 2.50)),
    ),
    (
        "gemini-2.5-pro",
        "generate_content",
        4200.0,
        Some((1.25, 10.0)),
    ),
    (
        "gemini-2.5-flash-lite",
        "generate_content",
        700.0,
        Some((0.10, 0.40)),
    ),
    ("gemini-2.0-flash", "chat", 900.0, Some((0.10, 0.40))),
    (
        "gemini-embedding-001",
        "embeddings",
        180.0,
        Some((0.15, 0.0)),
    ),
    ("gemini-exp-preview", "generate_content", 2500.0, None),
];
/// Relative traffic of each model.
const WEIGHTS: [u32; 6] = [45, 15, 15, 10, 10, 5];

/// What to generate.
pub struct FillOptions {
    /// Traces to write.
    pub traces: u64,
    /// Days the traces span, ending now.
    pub days: u64,
    /// Random seed.
    pub seed: u64,
    /// Traces per write transaction.
    pub batch: usize,
}

fn normal(rng: &mut StdRng) -> f64 {
    // Box-Muller.
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn pick_model(rng: &mut StdRng) -> usize {
    let total: u32 = WEIGHTS.iter().sum();
    let mut x = rng.random_range(0..total);
    for (i, w) in WEIGHTS.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    0
}

fn hex16(rng: &mut StdRng) -> String {
    format!("{:016x}", rng.random::<u64>())
}

/// One trace, its spans and maybe a metric snapshot.
fn one(rng: &mut StdRng, start: i64) -> (TraceRow, Vec<SpanRow>, Option<NewMetricSnapshot>) {
    let m = pick_model(rng);
    let (model, op, median, price) = MODELS[m];
    let ms = (start / 1_000_000) as u64 & 0xffff_ffff_ffff;
    let trace_id = format!(
        "{ms:012x}{:020x}",
        rng.random::<u128>() & ((1u128 << 80) - 1)
    );
    let dur_ms = (median * (0.6 * normal(rng)).exp()).clamp(20.0, 120_000.0);
    let stream = op != "embeddings" && rng.random_bool(0.6);
    let roll: f64 = rng.random();
    let (status, http) = match roll {
        r if r < 0.015 => ("error", 429),
        r if r < 0.025 => ("error", 500),
        r if r < 0.03 => ("cancelled", 499),
        _ => ("ok", 200),
    };
    let ok = status == "ok";
    let input = rng.random_range(20..4000i64);
    let output = if op == "embeddings" || !ok {
        0
    } else {
        rng.random_range(5..2000i64)
    };
    let cost = price
        .filter(|_| ok)
        .map(|(i, o)| (input as f64 * i + output as f64 * o) / 1e6);
    let end = start + (dur_ms * 1e6) as i64;
    let ttft = (stream && ok).then(|| dur_ms * rng.random_range(0.08..0.45));
    let user = rng.random_range(0..500u32);
    let session = user * 40 + rng.random_range(0..40u32);
    let trace = TraceRow {
        trace_id: trace_id.clone(),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        model: Some(model.into()),
        operation: Some(op.into()),
        stream,
        http_status: Some(http),
        status: status.into(),
        error_type: (!ok).then(|| http.to_string()),
        input_tokens: Some(input),
        output_tokens: ok.then_some(output),
        cached_tokens: Some(input / 4),
        reasoning_tokens: (m == 1).then_some(output / 3),
        ttft_ms: ttft,
        cost_usd: cost,
        unpriced: price.is_none() && ok,
        user_id: Some(format!("user-{user}")),
        session_id: Some(format!("session-{session}")),
    };
    let root = hex16(rng);
    let llm = hex16(rng);
    let post = hex16(rng);
    let prompt_end = start + rng.random_range(50_000..900_000i64);
    let llm_end = end
        - rng
            .random_range(100_000..2_000_000i64)
            .min((end - prompt_end) / 2);
    let attrs = |step: &str| {
        format!(
            r#"{{"gateway.step":"{step}","gen_ai.operation.name":"{op}","gen_ai.request.model":"{model}","gen_ai.request.stream":{stream}}}"#
        )
    };
    let mk =
        |id: &str, parent: Option<&str>, name: String, kind, s: i64, e: i64, a: String| SpanRow {
            span_id: id.into(),
            trace_id: trace_id.clone(),
            parent_span_id: parent.map(Into::into),
            name,
            kind,
            start_time_unix_nano: s,
            end_time_unix_nano: e.max(s),
            status_code: if ok { "unset" } else { "error" },
            status_message: (!ok).then(|| format!("HTTP {http}")),
            attributes_json: a,
            events_json: "[]".into(),
        };
    let mut spans = vec![
        mk(
            &root,
            None,
            format!("POST /v1beta/models/{{model}}:{op}"),
            "server",
            start,
            end,
            format!(
                r#"{{"gateway.status":"{status}","http.response.status_code":{http},"user.id":"user-{user}"}}"#
            ),
        ),
        mk(
            &hex16(rng),
            Some(&root),
            "prompt_construction".into(),
            "internal",
            start,
            prompt_end,
            attrs("prompt_construction"),
        ),
        mk(
            &llm,
            Some(&root),
            format!("{op} {model}"),
            "client",
            prompt_end,
            llm_end,
            attrs("llm_call"),
        ),
        mk(
            &post,
            Some(&root),
            "post_processing".into(),
            "internal",
            llm_end,
            end,
            format!(
                r#"{{"gateway.step":"post_processing","gen_ai.usage.input_tokens":{input},"gen_ai.usage.output_tokens":{output}}}"#
            ),
        ),
    ];
    for k in 0..rng.random_range(0..3) {
        let s = llm_end + k * 10_000;
        spans.push(mk(
            &hex16(rng),
            Some(&post),
            format!("plugin {}", ["token_cost", "pii_tagger"][k as usize]),
            "internal",
            s,
            s + 40_000,
            "{}".into(),
        ));
    }
    let snapshot = rng.random_bool(0.1).then(|| NewMetricSnapshot {
        trace_id: trace_id.clone(),
        metric: "latency_ms".into(),
        value: dur_ms,
        threshold: Some(8000.0),
        breached: dur_ms > 8000.0,
        model: Some(model.into()),
        created_at_unix_nano: end,
    });
    (trace, spans, snapshot)
}

/// Fills `path` (created and migrated by the store) and returns the number of spans written.
pub fn fill(path: &Path, opts: &FillOptions) -> Result<u64, gateway_store::StoreError> {
    let mut store = Store::open(path, &StoreOptions::default())?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let span_ns = (opts.days * 86_400) as i64 * 1_000_000_000;
    let step = span_ns / opts.traces.max(1) as i64;
    let first = now - span_ns;
    let (mut traces, mut spans, mut snaps) = (Vec::new(), Vec::new(), Vec::new());
    let mut n_spans = 0u64;
    let started = Instant::now();
    for i in 0..opts.traces {
        let start = first + i as i64 * step + rng.random_range(0..step.max(1));
        let (t, s, m) = one(&mut rng, start);
        traces.push(t);
        n_spans += s.len() as u64;
        spans.extend(s);
        snaps.extend(m);
        if traces.len() >= opts.batch || i + 1 == opts.traces {
            store.write_batch(&spans, &traces)?;
            insert_metric_snapshots(&store, &snaps)?;
            traces.clear();
            spans.clear();
            snaps.clear();
            if (i + 1) % 100_000 < opts.batch as u64 {
                eprintln!("{} traces in {:.1?}", i + 1, started.elapsed());
            }
        }
    }
    Ok(n_spans)
}
