// Unit tests of the waterfall layout: ordering, depth, bar maths, minimum width, collapsing, ticks.
import { describe, expect, it } from 'vitest'
import { MIN_BAR_PCT, layoutWaterfall, niceStep, rulerTicks, treeOrder } from './waterfall'
import type { Span } from './types'
import { waterfallSpan } from './testFixtures'

function span(id: string, parent: string | null, offset: number, dur: number, step?: string): Span {
  return waterfallSpan({
    span_id: id,
    parent_span_id: parent,
    offset_ms: offset,
    duration_ms: dur,
    attributes: step ? { 'gateway.step': step } : {},
  })
}

const gatewayTrace = [
  span('root', null, 0, 100),
  span('prompt', 'root', 0, 10, 'prompt_construction'),
  span('llm', 'root', 10, 80, 'llm_call'),
  span('post', 'root', 90, 10, 'post_processing'),
]

describe('layoutWaterfall', () => {
  it('places bars by offset and sizes them by duration', () => {
    const l = layoutWaterfall(gatewayTrace)
    expect(l.rangeMs).toBe(100)
    const byId = Object.fromEntries(l.rows.map((r) => [r.id, r]))
    expect(byId.root.leftPct).toBe(0)
    expect(byId.root.widthPct).toBe(100)
    expect(byId.llm.leftPct).toBeCloseTo(10)
    expect(byId.llm.widthPct).toBeCloseTo(80)
    expect(byId.post.leftPct).toBeCloseTo(90)
    expect(byId.post.widthPct).toBeCloseTo(10)
    expect(l.rows.map((r) => r.step)).toEqual(['root', 'prompt_construction', 'llm_call', 'post_processing'])
    expect(l.rows.map((r) => r.depth)).toEqual([0, 1, 1, 1])
  })

  it('orders parents before children and siblings by start, whatever the input order', () => {
    const shuffled = [gatewayTrace[3], gatewayTrace[2], gatewayTrace[0], gatewayTrace[1]]
    expect(layoutWaterfall(shuffled).rows.map((r) => r.id)).toEqual(['root', 'prompt', 'llm', 'post'])
  })

  it('widens zero-duration spans to the minimum and keeps them inside the track', () => {
    const l = layoutWaterfall([span('root', null, 0, 50), span('zero', 'root', 50, 0), span('mid', 'root', 20, 0)])
    const zero = l.rows.find((r) => r.id === 'zero')!
    expect(zero.widthPct).toBe(MIN_BAR_PCT)
    expect(zero.minWidth).toBe(true)
    expect(zero.trueWidthPct).toBe(0)
    expect(zero.leftPct + zero.widthPct).toBeLessThanOrEqual(100)
    const mid = l.rows.find((r) => r.id === 'mid')!
    expect(mid.leftPct).toBeCloseTo(40)
    expect(l.rows[0].minWidth).toBe(false)
  })

  it('lays out a single span across the whole range', () => {
    const l = layoutWaterfall([span('only', null, 0, 7)])
    expect(l.rows).toHaveLength(1)
    expect(l.rows[0].leftPct).toBe(0)
    expect(l.rows[0].widthPct).toBe(100)
    expect(l.rows[0].step).toBe('root')
    expect(l.rows[0].hasChildren).toBe(false)
  })

  it('handles a single zero-duration span (empty range)', () => {
    const l = layoutWaterfall([span('only', null, 0, 0)])
    expect(l.rangeMs).toBe(0)
    expect(l.rows[0].leftPct).toBe(0)
    expect(l.rows[0].widthPct).toBe(MIN_BAR_PCT)
    expect(l.ticks).toHaveLength(1)
  })

  it('widens the range to spans outside the root', () => {
    // A child that starts before and ends after its root.
    const l = layoutWaterfall([span('root', null, 10, 20), span('early', 'root', 0, 5), span('late', 'root', 25, 15)])
    expect(l.startMs).toBe(0)
    expect(l.rangeMs).toBe(40)
    const byId = Object.fromEntries(l.rows.map((r) => [r.id, r]))
    expect(byId.root.leftPct).toBeCloseTo(25)
    expect(byId.root.widthPct).toBeCloseTo(50)
    expect(byId.late.leftPct + byId.late.widthPct).toBeCloseTo(100)
    for (const r of l.rows) {
      expect(r.leftPct).toBeGreaterThanOrEqual(0)
      expect(r.leftPct + r.widthPct).toBeLessThanOrEqual(100 + 1e-9)
    }
  })

  it('nests deep chains with increasing depth', () => {
    const spans: Span[] = [span('s0', null, 0, 200)]
    for (let i = 1; i < 60; i++) spans.push(span(`s${i}`, `s${i - 1}`, i, 200 - 2 * i))
    const l = layoutWaterfall(spans)
    expect(l.rows.map((r) => r.depth)).toEqual(spans.map((_, i) => i))
    expect(l.rows[0].descendantCount).toBe(59)
    expect(l.rows[58].descendantCount).toBe(1)
  })

  it('hides the descendants of a collapsed span, and only them', () => {
    const spans = [
      span('root', null, 0, 100),
      span('a', 'root', 0, 50),
      span('a1', 'a', 0, 20),
      span('a1x', 'a1', 0, 5),
      span('a2', 'a', 20, 20),
      span('b', 'root', 50, 50),
      span('b1', 'b', 50, 10),
    ]
    const open = layoutWaterfall(spans)
    expect(open.rows.map((r) => r.id)).toEqual(['root', 'a', 'a1', 'a1x', 'a2', 'b', 'b1'])
    const closedA = layoutWaterfall(spans, new Set(['a']))
    expect(closedA.rows.map((r) => r.id)).toEqual(['root', 'a', 'b', 'b1'])
    expect(closedA.rows[1].collapsed).toBe(true)
    expect(closedA.rows[1].descendantCount).toBe(3)
    expect(closedA.total).toBe(7)
    const closedRoot = layoutWaterfall(spans, new Set(['root', 'a']))
    expect(closedRoot.rows.map((r) => r.id)).toEqual(['root'])
    // Collapsing a leaf changes nothing.
    const leaf = layoutWaterfall(spans, new Set(['b1']))
    expect(leaf.rows.map((r) => r.id)).toEqual(open.rows.map((r) => r.id))
    expect(leaf.rows.find((r) => r.id === 'b1')!.collapsed).toBe(false)
    // Positions do not depend on what is collapsed.
    expect(closedA.rows.find((r) => r.id === 'b')!.leftPct).toBeCloseTo(50)
  })

  it('treats spans with a missing parent as roots and survives cycles', () => {
    const l = layoutWaterfall([span('orphan', 'gone', 5, 5), span('x', 'y', 0, 1), span('y', 'x', 1, 1)])
    expect(l.rows).toHaveLength(3)
    expect(l.rows[0].id).toBe('orphan')
    expect(new Set(l.rows.map((r) => r.id)).size).toBe(3)
  })

  it('derives times from unix nanos when offsets are missing', () => {
    const base = 1_700_000_000_000_000_000
    // Not what the API sends (it always sends offset_ms and duration_ms): spans built elsewhere.
    const withoutOffsets = (s: Span) => ({ ...s, offset_ms: undefined, duration_ms: undefined }) as unknown as Span
    const spans: Span[] = [
      waterfallSpan({ span_id: 'r', start_time_unix_nano: base, end_time_unix_nano: base + 4_000_000 }),
      waterfallSpan({ span_id: 'c', parent_span_id: 'r', start_time_unix_nano: base + 1_000_000, end_time_unix_nano: base + 3_000_000 }),
    ].map(withoutOffsets)
    const l = layoutWaterfall(spans)
    expect(l.rangeMs).toBeCloseTo(4, 3)
    expect(l.rows[1].leftPct).toBeCloseTo(25, 0)
    expect(l.rows[1].widthPct).toBeCloseTo(50, 0)
  })

  it('returns an empty layout for no spans', () => {
    expect(layoutWaterfall([]).rows).toEqual([])
  })

  it('keeps the input order for 500 spans without loss', () => {
    const spans: Span[] = [span('root', null, 0, 1000)]
    for (let i = 1; i < 500; i++) spans.push(span(`s${i}`, i % 10 === 1 ? 'root' : `s${i - 1}`, i, 5))
    expect(treeOrder(spans)).toHaveLength(500)
  })
})

describe('ruler ticks', () => {
  it('uses 1-2-5 steps', () => {
    expect(niceStep(100, 5)).toBe(20)
    expect(niceStep(305, 6)).toBe(100)
    expect(niceStep(1, 5)).toBe(0.2)
    expect(niceStep(0)).toBe(0)
  })
  it('covers the range from zero with labels', () => {
    const t = rulerTicks(305)
    expect(t.map((x) => x.ms)).toEqual([0, 100, 200, 300])
    expect(t[1].pct).toBeCloseTo((100 / 305) * 100)
    expect(t.map((x) => x.label)).toEqual(['0 µs', '100 ms', '200 ms', '300 ms'])
    expect(rulerTicks(100).at(-1)!.pct).toBeCloseTo(100)
  })
})
