// Synthetic data for the benchmarks: trace summaries and a 500-span trace shaped like the
// gateway's (root → prompt_construction, llm_call (with nested plugin spans), post_processing).
// Deterministic (seeded) so runs compare.

function rng(seed) {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

const MODELS = ['gemini-2.5-flash', 'gemini-2.5-pro', 'gemini-2.0-flash', 'my-unpriced-model']

export function makeTraces(n, nowMs = Date.UTC(2026, 0, 1, 12)) {
  const r = rng(42)
  const out = []
  for (let i = 0; i < n; i++) {
    const model = MODELS[Math.floor(r() * MODELS.length)]
    const start = (nowMs - i * 250) * 1e6
    const dur = 20 + r() * 3000
    out.push({
      trace_id: (0x10000000 + i).toString(16).padStart(16, '0') + Math.floor(r() * 2 ** 52).toString(16).padStart(16, '0'),
      start_time_unix_nano: start,
      end_time_unix_nano: start + dur * 1e6,
      duration_ms: dur,
      model,
      operation: 'generate_content',
      stream: r() < 0.3,
      status: r() < 0.05 ? 'error' : 'ok',
      http_status: 200,
      input_tokens: Math.floor(r() * 4000),
      output_tokens: Math.floor(r() * 800),
      ttft_ms: dur * 0.4,
      cost_usd: model === 'my-unpriced-model' ? null : r() * 0.01,
      unpriced: model === 'my-unpriced-model',
      user_id: `user-${Math.floor(r() * 50)}`,
      session_id: `session-${Math.floor(r() * 200)}`,
      breached: r() < 0.02,
    })
  }
  return out
}

/** A trace of `n` spans: a root, the three steps, and the rest as nested plugin spans. */
export function makeSpans(n = 500) {
  const r = rng(7)
  const spans = [
    { span_id: 's0', parent_span_id: null, name: 'POST /v1beta/models/{model}:generateContent', offset_ms: 0, duration_ms: 1000, attributes: {} },
    { span_id: 's1', parent_span_id: 's0', name: 'prompt_construction', offset_ms: 0, duration_ms: 0.2, attributes: { 'gateway.step': 'prompt_construction' } },
    { span_id: 's2', parent_span_id: 's0', name: 'generate_content', offset_ms: 0.2, duration_ms: 980, attributes: { 'gateway.step': 'llm_call' } },
    { span_id: 's3', parent_span_id: 's0', name: 'post_processing', offset_ms: 980.2, duration_ms: 19.8, attributes: { 'gateway.step': 'post_processing' } },
  ]
  for (let i = spans.length; i < n; i++) {
    const parent = spans[Math.max(2, Math.floor(r() * i))]
    const offset = parent.offset_ms + r() * parent.duration_ms * 0.5
    const dur = Math.max(0, r() * (parent.offset_ms + parent.duration_ms - offset))
    spans.push({ span_id: `s${i}`, parent_span_id: parent.span_id, name: `plugin ${i}`, offset_ms: offset, duration_ms: dur, attributes: { 'gateway.step': 'plugin', k: i } })
  }
  return spans
}
