// The `/api/live` WebSocket client: connects, reconnects with capped exponential backoff and
// jitter, batches incoming traces, and tells subscribers. Framework-free; React binds to it
// through hooks/useLive.ts.

import type { LiveStats, TraceSummary } from './types'
import { backoffDelay, mergeTraces, parseLiveMessage } from './live'

export type LiveState = 'connecting' | 'live' | 'reconnecting'

export interface LiveStatus {
  state: LiveState
  /** Failed attempts since the last successful connection. */
  attempt: number
  /** When the next attempt starts (epoch ms), while reconnecting. */
  retryAt: number | null
  /** Snapshots received on this page (1 after the first connect; more after reconnects). */
  snapshots: number
  lastError: string | null
}

export interface TraceBatch {
  traces: TraceSummary[]
  /** True when the batch is a connect snapshot (first or after a reconnect). */
  snapshot: boolean
}

type Listener<T> = (v: T) => void

/** Most recent traces kept by the client for views that want them. */
const RECENT_CAP = 2000
/** Incoming traces are delivered at most this often, as one batch. */
const FLUSH_MS = 150

export class LiveClient {
  private ws: WebSocket | null = null
  private timer: ReturnType<typeof setTimeout> | null = null
  private flushTimer: ReturnType<typeof setTimeout> | null = null
  private pending: TraceSummary[] = []
  private stopped = true
  private statusListeners = new Set<Listener<LiveStatus>>()
  private traceListeners = new Set<Listener<TraceBatch>>()
  private statsListeners = new Set<Listener<LiveStats>>()
  status: LiveStatus = { state: 'connecting', attempt: 0, retryAt: null, snapshots: 0, lastError: null }
  recent: TraceSummary[] = []
  stats: LiveStats | null = null
  private readonly url: () => string

  constructor(url: () => string) {
    this.url = url
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.connect()
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    if (this.flushTimer) clearTimeout(this.flushTimer)
    this.timer = this.flushTimer = null
    const ws = this.ws
    this.ws = null
    ws?.close()
  }

  /** Closes the socket as if the network dropped it (the client then reconnects). */
  drop(): void {
    this.ws?.close()
  }

  /** Skips the rest of the backoff wait and reconnects now. */
  retryNow(): void {
    if (this.stopped || this.ws || !this.timer) return
    clearTimeout(this.timer)
    this.timer = null
    this.connect()
  }

  onStatus(l: Listener<LiveStatus>): () => void {
    this.statusListeners.add(l)
    return () => this.statusListeners.delete(l)
  }

  onTraces(l: Listener<TraceBatch>): () => void {
    this.traceListeners.add(l)
    return () => this.traceListeners.delete(l)
  }

  onStats(l: Listener<LiveStats>): () => void {
    this.statsListeners.add(l)
    return () => this.statsListeners.delete(l)
  }

  private setStatus(patch: Partial<LiveStatus>): void {
    this.status = { ...this.status, ...patch }
    this.statusListeners.forEach((l) => l(this.status))
  }

  private connect(): void {
    if (this.stopped) return
    let ws: WebSocket
    try {
      ws = new WebSocket(this.url())
    } catch (e) {
      this.scheduleRetry(String(e))
      return
    }
    this.ws = ws
    this.setStatus({ state: this.status.snapshots > 0 || this.status.attempt > 0 ? 'reconnecting' : 'connecting', retryAt: null })
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return
      const msg = parseLiveMessage(ev.data)
      switch (msg.type) {
        case 'snapshot':
          this.flush()
          this.setStatus({ state: 'live', attempt: 0, retryAt: null, snapshots: this.status.snapshots + 1, lastError: null })
          this.deliver(msg.traces, true)
          if (msg.stats) this.emitStats(msg.stats)
          break
        case 'trace':
          if (this.status.state !== 'live') this.setStatus({ state: 'live', attempt: 0 })
          this.pending.push(msg.trace)
          if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), FLUSH_MS)
          break
        case 'stats':
          this.emitStats(msg.stats)
          break
        default:
          break
      }
    }
    ws.onclose = (ev) => {
      if (this.ws !== ws) return
      this.ws = null
      this.flush()
      this.scheduleRetry(ev.reason || (ev.code ? `closed (${ev.code})` : 'closed'))
    }
    ws.onerror = () => {
      // onclose follows and schedules the retry.
    }
  }

  private scheduleRetry(reason: string): void {
    if (this.stopped) return
    const delay = backoffDelay(this.status.attempt)
    this.setStatus({ state: 'reconnecting', attempt: this.status.attempt + 1, retryAt: Date.now() + delay, lastError: reason })
    this.timer = setTimeout(() => {
      this.timer = null
      this.connect()
    }, delay)
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer)
    this.flushTimer = null
    if (this.pending.length === 0) return
    const batch = this.pending
    this.pending = []
    this.deliver(batch, false)
  }

  private deliver(traces: TraceSummary[], snapshot: boolean): void {
    this.recent = mergeTraces(this.recent, traces)
    if (this.recent.length > RECENT_CAP) this.recent = this.recent.slice(0, RECENT_CAP)
    const batch = { traces, snapshot }
    this.traceListeners.forEach((l) => l(batch))
  }

  private emitStats(stats: LiveStats): void {
    this.stats = stats
    this.statsListeners.forEach((l) => l(stats))
  }
}
