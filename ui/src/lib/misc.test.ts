// Unit tests of the small parsers: filters, routes, Prometheus text, stats, series, GenAI summary.
import { describe, expect, it } from 'vitest'
import { filtersFromParams, filtersToParams, matchesFilters } from './filters'
import { parseRoute } from './route'
import { gatewayHealth, queueFill } from './prom'
import { formatPercent } from './format'
import { headlineFromStats, utcMidnightNanos } from './stats'
import { latencySeries, nearestRank } from './series'
import { contentText, genAiSummary } from './genai'
import type { TraceSummary } from './types'
import { liveStats, traceSummary, waterfallSpan } from './testFixtures'

const trace: TraceSummary = traceSummary({ trace_id: 'a', start_time_unix_nano: 1, duration_ms: 50, model: 'm', cost_usd: null })

describe('filters', () => {
  it('round-trip through URL parameters, dropping empties', () => {
    const f = filtersFromParams(new URLSearchParams('model=m&status=&user_id=u&junk=1'))
    expect(f).toEqual({ model: 'm', user_id: 'u' })
    expect(filtersToParams(f).toString()).toBe('model=m&user_id=u')
  })
  it('match like the server', () => {
    expect(matchesFilters(trace, { model: 'm' })).toBe(true)
    expect(matchesFilters(trace, { model: 'x' })).toBe(false)
    expect(matchesFilters(trace, { min_duration_ms: '50' })).toBe(true)
    expect(matchesFilters(trace, { min_duration_ms: '51' })).toBe(false)
    expect(matchesFilters(trace, { min_cost_usd: '0' })).toBe(false) // unpriced never matches a cost filter
    expect(matchesFilters({ ...trace, cost_usd: 0.1 }, { min_cost_usd: '0.05' })).toBe(true)
    expect(matchesFilters(trace, { breached: 'true' })).toBe(false)
    expect(matchesFilters(trace, { breached: 'false' })).toBe(true)
  })
})

describe('routes', () => {
  it('parse hash routes', () => {
    expect(parseRoute('').view).toBe('overview')
    expect(parseRoute('#/drift').view).toBe('drift')
    expect(parseRoute('#/traces/abc')).toEqual({ view: 'trace', id: 'abc' })
    const r = parseRoute('#/traces?model=x')
    expect(r.view === 'traces' && r.params.get('model')).toBe('x')
  })
})

describe('prometheus', () => {
  it('reads the writer health metrics, n/a when absent', () => {
    const text = [
      '# TYPE gateway_spans_dropped_total counter',
      'gateway_spans_dropped_total{reason="queue_full"} 3',
      'gateway_spans_dropped_total{reason="export_error"} 0',
      'gateway_writer_queue_depth 17',
      'gateway_writer_queue_bytes 16777216',
      'gateway_writer_queue_bytes_limit 67108864',
      'gateway_spans_exported_total 1.2e3',
      '# EOF',
    ].join('\n')
    const h = gatewayHealth(text)
    expect(h).toMatchObject({ droppedQueueFull: 3, droppedExportError: 0, queueDepth: 17, queueBytes: 16777216, queueBytesLimit: 67108864, exported: 1200 })
    expect(queueFill(h)).toBe(0.25)
    const none = gatewayHealth('gateway_requests_total 1\n')
    expect(none).toMatchObject({ droppedQueueFull: null, droppedExportError: null, queueDepth: null, queueBytes: null, queueBytesLimit: null, exported: null })
    expect(queueFill(none)).toBeNull()
    // A bound of 0 (no queue) says nothing about fill.
    expect(queueFill(gatewayHealth('gateway_writer_queue_bytes 5\ngateway_writer_queue_bytes_limit 0\n'))).toBeNull()
  })
  it('formats a fraction as a whole percentage', () => {
    expect([0, 0.004, 0.25, 0.996, 1.5].map(formatPercent)).toEqual(['0%', '<1%', '25%', '100%', '150%'])
    expect(formatPercent(null)).toBe('—')
  })
  it('reads the loss and metering counters, null when absent', () => {
    const text = [
      '# TYPE gateway_unmetered_usage_total counter',
      'gateway_unmetered_usage_total 2',
      'gateway_unpriced_calls_total 0',
      'gateway_response_decode_errors_total 1',
      'gateway_metric_label_overflow_total 5',
      'gateway_traces_dropped_total 4',
      'gateway_metric_snapshots_dropped_total 9',
      'gateway_breached_snapshots_dropped_total 3',
    ].join('\n')
    expect(gatewayHealth(text).counters).toEqual({
      gateway_traces_dropped_total: 4,
      gateway_metric_snapshots_dropped_total: 9,
      gateway_breached_snapshots_dropped_total: 3,
      gateway_span_write_retries_total: null,
      gateway_unmetered_usage_total: 2,
      gateway_unpriced_calls_total: 0,
      gateway_service_tier_downgrades_total: null,
      gateway_response_decode_errors_total: 1,
      gateway_metric_label_overflow_total: 5,
    })
  })
})

describe('stats', () => {
  it('reads the fields the server sends', () => {
    const h = headlineFromStats(liveStats({ p50_ms: 10, p95_ms: null, cost_today_usd: 1.5, unpriced_today: 2, requests_last_hour: 7 }))
    expect(h).toMatchObject({ p50: 10, p95: null, p99: null, costToday: 1.5, unpricedToday: 2, requestsHour: 7, errorsHour: 0 })
  })
  it('computes UTC midnight in nanoseconds', () => {
    expect(utcMidnightNanos(Date.UTC(2024, 0, 2, 13, 5))).toBe(`${Date.UTC(2024, 0, 2)}000000`)
  })
})

describe('latency series', () => {
  it('nearest rank', () => {
    expect(nearestRank([], 50)).toBeNull()
    expect(nearestRank([1, 2, 3, 4], 50)).toBe(2)
    expect(nearestRank([1, 2, 3, 4], 95)).toBe(4)
    expect(nearestRank([7], 99)).toBe(7)
  })
  it('buckets by start time', () => {
    const base = Date.UTC(2024, 0, 1)
    const at = (ms: number, d: number): TraceSummary => ({ ...trace, start_time_unix_nano: (base + ms) * 1e6, duration_ms: d })
    const s = latencySeries([at(0, 1), at(10, 3), at(65_000, 9), at(200_000, 1), at(-1, 5)], base, base + 120_000, 60_000)
    expect(s.t).toEqual([base / 1000, base / 1000 + 60])
    expect(s.count).toEqual([2, 1])
    expect(s.p50).toEqual([1, 9])
    expect(s.p99).toEqual([3, 9])
    const ttft = latencySeries([{ ...at(0, 1), ttft_ms: 4 }, at(10, 3)], base, base + 60_000, 60_000, (t) => t.ttft_ms)
    expect(ttft.count).toEqual([1])
    expect(ttft.p50).toEqual([4])
  })
})

describe('genai summary', () => {
  it('prefers the trace row, falls back to span attributes, keeps content as text', () => {
    const s = genAiSummary({ ...trace, ttft_ms: null, cost_usd: null }, [
      waterfallSpan({ span_id: 'r', name: 'root' }),
      waterfallSpan({
        span_id: 'l',
        name: 'llm',
        parent_span_id: 'r',
        attributes: {
          'gateway.step': 'llm_call',
          'gen_ai.response.finish_reasons': ['STOP'],
          'gen_ai.response.time_to_first_chunk': 0.25,
          'gen_ai.usage.input_tokens': 7,
          'gen_ai.output.messages': '[{"role":"model","parts":[{"text":"<script>x</script>"}]}]',
          'gateway.cost.unpriced': true,
        },
      }),
    ])
    expect(s.ttftMs).toBe(250)
    expect(s.finishReasons).toEqual(['STOP'])
    expect(s.inputTokens).toBe(7)
    // The stored column decides (docs/schema.md, Unpriced): this row says priced-or-not-applicable.
    expect(s.unpriced).toBe(false)
    expect(genAiSummary({ ...trace, cost_usd: null, unpriced: true }, []).unpriced).toBe(true)
    expect(s.content).toHaveLength(1)
    expect(s.content[0].text).toContain('<script>x</script>')
    expect(contentText('plain <b>')).toBe('plain <b>')
    expect(s.routed).toBe(false)
    expect(s.serviceTier).toBeNull()
    const routed = genAiSummary({ ...trace, model: 'gemini-3.7-flash' }, [
      waterfallSpan({
        span_id: 'l',
        name: 'generate_content gemini-3.7-flash',
        attributes: {
          'gateway.step': 'llm_call',
          'gen_ai.response.model': 'gemini-3.8-flash',
          'gateway.model.routed': true,
          'gateway.service_tier': 'standard',
          'gateway.service_tier.downgraded': true,
        },
      }),
    ])
    expect([routed.responseModel, routed.routed, routed.serviceTier, routed.tierDowngraded]).toEqual([
      'gemini-3.8-flash',
      true,
      'standard',
      true,
    ])
  })
})
