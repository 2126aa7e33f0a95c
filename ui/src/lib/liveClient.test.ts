// Unit tests of the live client with a fake WebSocket: status transitions, batching, and
// reconnecting with backoff after a drop.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { LiveClient, type LiveStatus, type TraceBatch } from './liveClient'
import { liveStats, traceSummary } from './testFixtures'

class FakeSocket {
  static all: FakeSocket[] = []
  onmessage: ((e: { data: unknown }) => void) | null = null
  onclose: ((e: { code: number; reason: string }) => void) | null = null
  onerror: (() => void) | null = null
  closed = false
  readonly url: string
  constructor(url: string) {
    this.url = url
    FakeSocket.all.push(this)
  }
  send(data: unknown) {
    this.onmessage?.({ data: JSON.stringify(data) })
  }
  close() {
    if (this.closed) return
    this.closed = true
    this.onclose?.({ code: 1006, reason: '' })
  }
}

const trace = (id: string, t: number) => traceSummary({ trace_id: id, start_time_unix_nano: t })

describe('LiveClient', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    FakeSocket.all = []
    vi.stubGlobal('WebSocket', FakeSocket)
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  it('goes live on the snapshot, batches traces, and reconnects after a drop', () => {
    const c = new LiveClient(() => 'ws://x/api/live')
    const states: LiveStatus['state'][] = []
    const batches: TraceBatch[] = []
    c.onStatus((s) => states.push(s.state))
    c.onTraces((b) => batches.push(b))
    c.start()
    expect(c.status.state).toBe('connecting')
    const ws = FakeSocket.all[0]
    ws.send({ type: 'snapshot', traces: [trace('a', 1)], stats: liveStats({ p50_ms: 1 }) })
    expect(c.status.state).toBe('live')
    expect(c.stats?.p50_ms).toBe(1)
    expect(batches).toEqual([{ traces: [trace('a', 1)], snapshot: true }])
    ws.send({ type: 'trace', ...trace('b', 2) })
    ws.send({ type: 'trace', ...trace('c', 3) })
    expect(batches).toHaveLength(1) // batched until the flush timer
    vi.advanceTimersByTime(200)
    expect(batches[1].traces).toEqual([trace('b', 2), trace('c', 3)])
    expect(c.recent.map((t) => t.trace_id)).toEqual(['c', 'b', 'a'])

    c.drop()
    expect(c.status.state).toBe('reconnecting')
    expect(c.status.attempt).toBe(1)
    expect(c.status.retryAt).not.toBeNull()
    expect(FakeSocket.all).toHaveLength(1)
    vi.advanceTimersByTime(600) // first backoff is at most 500 ms
    expect(FakeSocket.all).toHaveLength(2)
    FakeSocket.all[1].send({ type: 'snapshot', traces: [trace('c', 3), trace('d', 4)], stats: null })
    expect(c.status.state).toBe('live')
    expect(c.status.attempt).toBe(0)
    expect(c.status.snapshots).toBe(2)
    expect(c.recent.map((t) => t.trace_id)).toEqual(['d', 'c', 'b', 'a'])
    c.stop()
    expect(states).toContain('reconnecting')
  })

  it('backs off longer after repeated failures, and retryNow skips the wait', () => {
    const c = new LiveClient(() => 'ws://x/api/live')
    c.start()
    FakeSocket.all[0].close()
    vi.advanceTimersByTime(600)
    FakeSocket.all[1].close()
    expect(c.status.attempt).toBe(2)
    vi.advanceTimersByTime(400) // second wait is 500–1000 ms
    expect(FakeSocket.all).toHaveLength(2)
    c.retryNow()
    expect(FakeSocket.all).toHaveLength(3)
    c.stop()
    vi.advanceTimersByTime(60_000)
    expect(FakeSocket.all).toHaveLength(3)
  })
})
