// Unit tests of a drift window's card, rendered to HTML: one entry per breached LLM call with
// each metric that breached on it, a link to the call's trace, an unpriced call shown as such,
// a window cut at the per-window cap saying how many calls it has, and the worst traces telling
// an unpriced trace from one with no cost of its own.
import { describe, expect, it } from 'vitest'
import { renderToStaticMarkup } from 'react-dom/server'
import { DriftCard, type BreachedSpan } from './Drift'
import type { DriftCorrelation, WorstTrace } from '../lib/types'

const span = (n: number, cost: number | null, metrics: string[]): BreachedSpan => ({
  span_id: n.toString(16).padStart(16, '0'),
  trace_id: (1000 + n).toString(16).padStart(32, '0'),
  name: 'generate_content gemini-2.5-flash',
  operation: 'generate_content',
  model: 'gemini-2.5-flash',
  request_index: 1,
  start_time_unix_nano: 1_700_000_000_000_000_000 + n,
  duration_ms: 100 * n,
  status_code: 'unset',
  input_tokens: 10 * n,
  output_tokens: 7 * n,
  cached_tokens: null,
  reasoning_tokens: null,
  cost_usd: cost,
  unpriced: cost === null,
  breaches: metrics.map((metric, i) => ({
    snapshot_id: 10 * n + i,
    metric,
    value: 500 + i,
    threshold: 250,
    created_at_unix_nano: 1_700_000_000_000_000_000 + n,
  })),
})

const correlation = (spans: BreachedSpan[], total: number, unattributed: number): DriftCorrelation => ({
  drift: {
    id: 7,
    feature: 'prompt_length',
    model: 'gemini-2.5-flash',
    score: 0.31,
    threshold: 0.2,
    drifted: true,
    window_start_unix_nano: 1_700_000_000_000_000_000,
    window_end_unix_nano: 1_700_000_010_000_000_000,
  },
  breached_spans: spans,
  spans_total: total,
  spans_truncated: total > spans.length,
  unattributed_breaches: unattributed,
  slowest_traces: [],
  costliest_traces: [],
})

const worst = (n: number, cost: number | null, unpriced: boolean): WorstTrace => ({
  trace_id: (2000 + n).toString(16).padStart(32, '0'),
  start_time_unix_nano: 1_700_000_000_000_000_000 + n,
  duration_ms: 100 * n,
  cost_usd: cost,
  unpriced,
  model: 'gemini-2.5-flash',
  status: 'ok',
})

const count = (html: string, needle: string) => html.split(needle).length - 1
/** The card's HTML without React's separators between adjacent text nodes. */
const render = (item: DriftCorrelation) => renderToStaticMarkup(<DriftCard item={item} />).replace(/<!-- -->/g, '')

describe('DriftCard', () => {
  const spans = [span(1, 0.02, ['latency_ms', 'cost_usd']), span(2, null, ['ttft_ms'])]

  it('lists each breached call once, with its metrics and a link to its trace', () => {
    const html = render(correlation(spans, spans.length, 0))
    expect(count(html, '<li>')).toBe(spans.length)
    for (const s of spans) {
      expect(html).toContain(`href="#/traces/${s.trace_id}"`)
      for (const b of s.breaches) expect(html).toContain(`${b.metric} = `)
    }
    expect(count(html, '⚠ unpriced')).toBe(spans.filter((s) => s.cost_usd === null).length)
    expect(html).toContain(`Breached LLM calls (${spans.length})`)
    expect(html).not.toContain('data-testid="drift-spans-truncated"')
    expect(html).not.toContain('data-testid="drift-unattributed"')
  })

  it('says how many calls a window cut at the cap has, and counts rows naming no call', () => {
    const total = spans.length + 3
    const html = render(correlation(spans, total, 4))
    expect(html).toContain(`Breached LLM calls (${spans.length} of ${total})`)
    expect(html).toContain('data-testid="drift-spans-truncated"')
    expect(html).toContain(`first ${spans.length} of ${total} calls`)
    expect(html).toMatch(/data-testid="drift-unattributed">[^<]*4 breached rows/)
  })

  it('shows a breached call with no cost of its own as — and an unpriced one as unpriced', () => {
    const deferred = { ...span(3, null, ['ttft_ms']), unpriced: false }
    const html = render(correlation([span(2, null, ['ttft_ms']), deferred], 2, 0))
    expect(count(html, '⚠ unpriced')).toBe(1)
    expect(html).toContain('title="No cost: metered on a later call')
  })

  it('shows an unpriced worst trace as unpriced and one with no cost of its own as —', () => {
    const item = { ...correlation([], 0, 0), slowest_traces: [worst(1, null, true), worst(2, null, false), worst(3, 0.5, false)] }
    const html = render(item)
    expect(count(html, '⚠ unpriced')).toBe(1)
    expect(html).toContain('title="No cost: metered on a later call')
    expect(html).toContain('$0.50')
  })
})
