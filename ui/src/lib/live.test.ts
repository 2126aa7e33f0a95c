// Unit tests of live merging (no duplicate trace ids), message parsing and reconnect backoff.
import { describe, expect, it } from 'vitest'
import { backoffDelay, finished, isRunning, mergeTraces, parseLiveMessage, RUNNING } from './live'
import type { TraceSummary } from './types'
import { liveStats, traceSummary } from './testFixtures'

const t = (id: string, start: number, extra: Partial<TraceSummary> = {}): TraceSummary =>
  traceSummary({ trace_id: id, start_time_unix_nano: start, ...extra })
const ids = (rows: TraceSummary[]) => rows.map((r) => r.trace_id)

describe('mergeTraces', () => {
  it('prepends newer traces', () => {
    const rows = [t('b', 2), t('a', 1)]
    expect(ids(mergeTraces(rows, [t('c', 3)]))).toEqual(['c', 'b', 'a'])
  })
  it('never duplicates: snapshot overlapping existing rows and live traces', () => {
    let rows = mergeTraces([], [t('c', 3), t('b', 2), t('a', 1)]) // REST page
    rows = mergeTraces(rows, [t('d', 4), t('c', 3), t('b', 2)]) // WS snapshot
    rows = mergeTraces(rows, [t('d', 4)]) // the same trace live
    rows = mergeTraces(rows, [t('e', 5), t('e', 5)]) // duplicated in one batch
    rows = mergeTraces(rows, [t('e', 5), t('d', 4), t('c', 3)]) // snapshot after a reconnect
    expect(ids(rows)).toEqual(['e', 'd', 'c', 'b', 'a'])
  })
  it('returns the same array when nothing changes', () => {
    const rows = [t('b', 2), t('a', 1)]
    expect(mergeTraces(rows, [t('a', 1)])).toBe(rows)
    expect(mergeTraces(rows, [])).toBe(rows)
  })
  it('replaces an updated copy in place', () => {
    const rows = [t('b', 2), t('a', 1)]
    const out = mergeTraces(rows, [t('a', 1, { breached: true })])
    expect(out).not.toBe(rows)
    expect(out[1].breached).toBe(true)
    expect(rows[1].breached).toBe(false)
  })
  it('interleaves older traces (load more) in order', () => {
    const rows = [t('e', 5), t('c', 3)]
    expect(ids(mergeTraces(rows, [t('d', 4), t('a', 1)]))).toEqual(['e', 'd', 'c', 'a'])
  })
  it('breaks start-time ties by trace id, descending', () => {
    expect(ids(mergeTraces([t('a', 1)], [t('b', 1)]))).toEqual(['b', 'a'])
  })
  it('keeps 10k rows unique', () => {
    let rows: TraceSummary[] = []
    for (let i = 0; i < 10_000; i += 100) {
      const batch = Array.from({ length: 150 }, (_, k) => t(`id${i + k}`, i + k))
      rows = mergeTraces(rows, batch)
    }
    expect(new Set(ids(rows)).size).toBe(rows.length)
    expect(rows.length).toBe(10_050)
    expect(rows[0].trace_id).toBe('id10049')
  })
})

describe('a running Live session', () => {
  it('is replaced turn by turn, then by its final row, never duplicated', () => {
    const other = t('a', 1)
    let rows = mergeTraces([other], [t('s', 5, { status: RUNNING, input_tokens: 10, output_tokens: 4, cost_usd: 0.1 })])
    expect(ids(rows)).toEqual(['s', 'a'])
    expect(isRunning(rows[0])).toBe(true)
    // The second turn: the same id, more input (the output may be equal).
    rows = mergeTraces(rows, [t('s', 5, { status: RUNNING, input_tokens: 30, output_tokens: 4, cost_usd: 0.1 })])
    expect(rows[0].input_tokens).toBe(30)
    // The final row starts earlier (the session opened before its first turn): it moves.
    rows = mergeTraces(rows, [t('s', 0, { status: 'ok', input_tokens: 30, output_tokens: 4, cost_usd: 0.1 })])
    expect(ids(rows)).toEqual(['a', 's'])
    expect(isRunning(rows[1])).toBe(false)
  })
  it('is left out of finished traces', () => {
    const done = [t('b', 2), t('a', 1)]
    expect(finished(done)).toBe(done)
    expect(ids(finished([t('s', 3, { status: RUNNING }), ...done]))).toEqual(['b', 'a'])
  })
  it('arrives as a trace message', () => {
    const m = parseLiveMessage(JSON.stringify({ type: 'trace', ...t('s', 3, { status: 'running' }) }))
    expect(m.type === 'trace' && isRunning(m.trace)).toBe(true)
  })
})

describe('parseLiveMessage', () => {
  it('reads snapshots, flattened trace messages and flattened stats, as the server sends them', () => {
    const s = parseLiveMessage(JSON.stringify({ type: 'snapshot', traces: [t('a', 1), { nope: 1 }], stats: liveStats({ p50_ms: 3 }) }))
    expect(s.type === 'snapshot' && ids(s.traces)).toEqual(['a'])
    expect(s.type === 'snapshot' && s.stats?.p50_ms).toBe(3)
    const m = parseLiveMessage(JSON.stringify({ type: 'trace', ...t('x', 9) }))
    expect(m).toEqual({ type: 'trace', trace: t('x', 9) })
    const st = parseLiveMessage(JSON.stringify({ type: 'stats', ...liveStats({ cost_today_usd: 1 }) }))
    expect(st).toEqual({ type: 'stats', stats: liveStats({ cost_today_usd: 1 }) })
    const none = parseLiveMessage(JSON.stringify({ type: 'snapshot', traces: [], stats: null }))
    expect(none.type === 'snapshot' && none.stats).toBeNull()
  })
  it('ignores garbage', () => {
    expect(parseLiveMessage('not json').type).toBe('other')
    expect(parseLiveMessage('{"type":"trace"}').type).toBe('other')
    expect(parseLiveMessage('null').type).toBe('other')
  })
})

describe('backoffDelay', () => {
  const opts = { baseMs: 500, capMs: 30_000 }
  it('grows exponentially within [ceiling/2, ceiling]', () => {
    for (let a = 0; a < 6; a++) {
      const ceiling = 500 * 2 ** a
      expect(backoffDelay(a, opts, () => 0)).toBe(ceiling / 2)
      expect(backoffDelay(a, opts, () => 0.999999)).toBeLessThanOrEqual(ceiling)
      expect(backoffDelay(a, opts, () => 0.999999)).toBeGreaterThan(ceiling * 0.99)
    }
  })
  it('is capped', () => {
    expect(backoffDelay(50, opts, () => 1)).toBe(30_000)
    expect(backoffDelay(1000, opts, () => 0)).toBe(15_000)
  })
  it('jitters', () => {
    const seen = new Set(Array.from({ length: 20 }, () => backoffDelay(3, opts)))
    expect(seen.size).toBeGreaterThan(1)
  })
})
