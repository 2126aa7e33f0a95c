import { describe, expect, it } from 'vitest'
import {
  layoutTimeline,
  mergeSessionPages,
  MIN_BAR_PCT,
  modelsLabel,
  sessionHref,
  sessionKindOf,
  sessionLinksOf,
  traceExtent,
  type SessionTrace,
} from './session'
import { parseRoute } from './route'
import { layoutWaterfall, stepOf } from './waterfall'
import { waterfallSpan } from './testFixtures'

const MS = 1e6

function trace(id: string, startMs: number, durMs: number, over: Partial<SessionTrace> = {}): SessionTrace {
  return {
    trace_id: id,
    start_time_unix_nano: startMs * MS,
    end_time_unix_nano: (startMs + durMs) * MS,
    duration_ms: durMs,
    models: [],
    status: 'ok',
    unpriced: false,
    request_count: 1,
    span_count: 4,
    app_span_count: 0,
    cumulative: {
      traces: 1,
      input_tokens: 0,
      output_tokens: 0,
      cached_tokens: 0,
      reasoning_tokens: 0,
      unpriced: 0,
      duration_ms: durMs,
      elapsed_ms: durMs,
    },
    ...over,
  }
}

describe('session routes', () => {
  it('links and parses every kind, with ids that need escaping', () => {
    expect(sessionHref('abc')).toBe('#/sessions/abc')
    expect(sessionHref('a b/c', 'conversation')).toBe('#/sessions/a%20b%2Fc?kind=conversation')
    expect(parseRoute(sessionHref('a b/c', 'conversation'))).toEqual({ view: 'session', id: 'a b/c', kind: 'conversation' })
    expect(parseRoute(sessionHref('v1_x', 'interaction'))).toEqual({ view: 'session', id: 'v1_x', kind: 'interaction' })
    expect(parseRoute('#/sessions/s1')).toEqual({ view: 'session', id: 's1', kind: 'session' })
  })

  it('reads an unknown kind as a plain session', () => {
    expect(sessionKindOf('user')).toBe('session')
    expect(sessionKindOf(null)).toBe('session')
    expect(sessionKindOf('interaction')).toBe('interaction')
  })
})

describe('layoutTimeline', () => {
  it('places bars on one axis from the session start to its end', () => {
    const l = layoutTimeline([trace('a', 1000, 100), trace('b', 1500, 300)], { start: 1000 * MS, end: 2000 * MS })
    expect(l.rangeMs).toBe(1000)
    expect(l.bars.map((b) => [b.leftPct, b.widthPct])).toEqual([
      [0, 10],
      [50, 30],
    ])
    expect(l.ticks[0].ms).toBe(0)
    expect(l.ticks[l.ticks.length - 1].ms).toBeLessThanOrEqual(1000)
  })

  it('widens a trace to its application spans and the axis to every loaded trace', () => {
    const t = trace('a', 1000, 100, { spans_start_unix_nano: 900 * MS, spans_end_unix_nano: 1200 * MS })
    expect(traceExtent(t)).toEqual({ start: 900 * MS, end: 1200 * MS })
    const l = layoutTimeline([t], { start: 1000 * MS, end: 1100 * MS })
    expect(l.startNs).toBe(900 * MS)
    expect(l.rangeMs).toBe(300)
    expect(l.bars[0]).toMatchObject({ leftPct: 0, widthPct: 100, offsetMs: 0, durationMs: 300 })
  })

  it('keeps instantaneous traces visible and inside the track', () => {
    const l = layoutTimeline([trace('a', 0, 1000), trace('z', 1000, 0)])
    const z = l.bars[1]
    expect(z.widthPct).toBe(MIN_BAR_PCT)
    expect(z.leftPct + z.widthPct).toBeLessThanOrEqual(100)
    expect(layoutTimeline([trace('only', 5, 0)]).bars[0].widthPct).toBe(MIN_BAR_PCT)
    expect(layoutTimeline([]).bars).toEqual([])
  })
})

describe('mergeSessionPages', () => {
  it('appends in order and keeps a trace once', () => {
    const a = trace('a', 0, 1)
    const b = trace('b', 1, 1)
    const c = trace('c', 2, 1)
    expect(mergeSessionPages([a, b], [b, c]).map((t) => t.trace_id)).toEqual(['a', 'b', 'c'])
  })
})

describe('modelsLabel', () => {
  it('lists the served models, else the requested one', () => {
    expect(modelsLabel(trace('a', 0, 1, { models: ['m1', 'm2'], model: 'x' }))).toBe('m1, m2')
    expect(modelsLabel(trace('a', 0, 1, { model: 'x' }))).toBe('x')
    expect(modelsLabel(trace('a', 0, 1))).toBe('—')
  })
})

describe('sessionLinksOf', () => {
  it('names the session, another conversation id, and an interaction chain', () => {
    const links = sessionLinksOf({ trace_id: 't1', session_id: 's1' }, [
      { attributes: { 'gen_ai.conversation.id': 's1' } },
      { attributes: { 'gen_ai.conversation.id': 'conv-2', 'gateway.surface': 'interactions', 'gen_ai.response.id': 'v1_a' } },
    ])
    expect(links.map((l) => [l.kind, l.id])).toEqual([
      ['session', 's1'],
      ['conversation', 'conv-2'],
      ['interaction', 't1'],
    ])
    expect(sessionLinksOf({ trace_id: 't2' }, [{ attributes: { 'gen_ai.response.id': 'r' } }])).toEqual([])
  })
})

describe('application spans in the waterfall', () => {
  const app = (id: string, parent: string | null, start: number, dur: number) =>
    waterfallSpan({
      span_id: id,
      parent_span_id: parent,
      offset_ms: start,
      duration_ms: dur,
      attributes: { 'gateway.span.source': 'otlp', 'service.name': 'agent' },
    })
  const gw = (id: string, parent: string | null, start: number, dur: number, step?: string) =>
    waterfallSpan({
      span_id: id,
      parent_span_id: parent,
      kind: step ? 'internal' : 'server',
      offset_ms: start,
      duration_ms: dur,
      attributes: step ? { 'gateway.step': step } : { 'gateway.status': 'ok' },
    })

  it('nests the gateway request under the agent span whose own parent is outside the trace', () => {
    const spans = [
      app('agent', 'ffffffffffffffff', 0, 100),
      app('retrieve', 'agent', 1, 5),
      gw('root', 'agent', 10, 50),
      gw('llm', 'root', 12, 40, 'llm_call'),
      gw('other-root', 'not-sent', 70, 20),
    ]
    const rows = layoutWaterfall(spans).rows
    expect(rows.map((r) => [r.id, r.depth, r.step])).toEqual([
      ['agent', 0, 'app'],
      ['retrieve', 1, 'app'],
      ['root', 1, 'root'],
      ['llm', 2, 'llm_call'],
      ['other-root', 0, 'root'],
    ])
  })

  it('classifies spans by source before their step', () => {
    expect(stepOf(app('a', null, 0, 1), true)).toBe('app')
    expect(stepOf(gw('r', 'p', 0, 1), false)).toBe('root')
    expect(stepOf(waterfallSpan({ span_id: 'x' }), false)).toBe('other')
  })
})
