// Live-feed logic without I/O: merging trace summaries into a newest-first list with no
// duplicate trace_id (a running Live session's provisional summary is replaced by the next,
// then by its final row), parsing WebSocket messages, and the reconnect backoff schedule.

import type { LiveStats, TraceSummary } from './types'

/** Newest first: by start time descending, then trace_id descending (the API's order). */
export function compareTraces(a: TraceSummary, b: TraceSummary): number {
  const d = (b.start_time_unix_nano ?? 0) - (a.start_time_unix_nano ?? 0)
  if (d !== 0) return d
  return a.trace_id < b.trace_id ? 1 : a.trace_id > b.trace_id ? -1 : 0
}

/**
 * Merges `incoming` into `existing` (newest first, unique ids) and returns a new array with
 * unique trace ids, newest first. A trace already present is replaced by the incoming copy,
 * in place. Returns `existing` itself when nothing changed, so React can skip a render.
 * Cost: O(n) for the usual case (new traces newer than the head), O(n log n) otherwise.
 */
export function mergeTraces(existing: TraceSummary[], incoming: readonly TraceSummary[]): TraceSummary[] {
  if (incoming.length === 0) return existing
  // Deduplicate the incoming batch itself (last copy wins).
  const fresh = new Map<string, TraceSummary>()
  for (const t of incoming) {
    if (t && typeof t.trace_id === 'string') fresh.set(t.trace_id, t)
  }
  if (fresh.size === 0) return existing
  let changed = false
  let out: TraceSummary[] = existing
  if (fresh.size > 0 && existing.length > 0) {
    // Replace copies of traces we already have.
    for (let i = 0; i < existing.length && fresh.size > 0; i++) {
      const t = fresh.get(existing[i].trace_id)
      if (t === undefined) continue
      fresh.delete(existing[i].trace_id)
      if (!sameSummary(t, existing[i])) {
        if (out === existing) out = existing.slice()
        out[i] = t
        changed = true
      }
    }
  }
  if (fresh.size === 0) {
    // A replaced copy may have moved in time (rare): keep the order right.
    return changed ? out.sort(compareTraces) : existing
  }
  const added = [...fresh.values()].sort(compareTraces)
  const head = out[0]
  if (head === undefined || compareTraces(added[added.length - 1], head) < 0) {
    const result = added.concat(out)
    return changed ? result.sort(compareTraces) : result
  }
  return out.concat(added).sort(compareTraces)
}

function sameSummary(a: TraceSummary, b: TraceSummary): boolean {
  return (
    a.duration_ms === b.duration_ms &&
    a.status === b.status &&
    a.cost_usd === b.cost_usd &&
    a.breached === b.breached &&
    a.input_tokens === b.input_tokens &&
    a.output_tokens === b.output_tokens &&
    a.start_time_unix_nano === b.start_time_unix_nano
  )
}

/** The status of a provisional summary: a Live API session still open, the sum of its turns
 *  so far. The feed sends it again after each turn, then the final row under the same id. */
export const RUNNING = 'running'

/** Whether `t` is a Live session still running (its numbers are provisional). */
export function isRunning(t: Pick<TraceSummary, 'status'>): boolean {
  return t.status === RUNNING
}

/** Traces whose numbers are final: running Live sessions left out (for latency series). */
export function finished(traces: TraceSummary[]): TraceSummary[] {
  return traces.some(isRunning) ? traces.filter((t) => !isRunning(t)) : traces
}

/** Messages of `/api/live` (see api/src/live): `snapshot` {traces, stats}, `trace` (a flattened
 *  TraceSummary; status `running` for a Live session still open), `stats` (a flattened
 *  LiveStats), `lagged` {skipped}. Others are `other`. */
export type LiveMessage =
  | { type: 'snapshot'; traces: TraceSummary[]; stats: LiveStats | null }
  | { type: 'trace'; trace: TraceSummary }
  | { type: 'stats'; stats: LiveStats }
  | { type: 'lagged'; skipped: number }
  | { type: 'other' }

export function parseLiveMessage(text: string): LiveMessage {
  let m: unknown
  try {
    m = JSON.parse(text)
  } catch {
    return { type: 'other' }
  }
  if (!m || typeof m !== 'object') return { type: 'other' }
  const o = m as Record<string, unknown>
  switch (o.type) {
    case 'snapshot': {
      const traces = Array.isArray(o.traces) ? (o.traces as unknown[]).filter(isTrace) : []
      return { type: 'snapshot', traces, stats: isStats(o.stats) ? o.stats : null }
    }
    case 'trace':
      return isTrace(o) ? { type: 'trace', trace: withoutType(o) } : { type: 'other' }
    case 'stats':
      return isStats(o) ? { type: 'stats', stats: withoutType(o) } : { type: 'other' }
    case 'lagged':
      return { type: 'lagged', skipped: typeof o.skipped === 'number' ? o.skipped : 0 }
    default:
      return { type: 'other' }
  }
}

function withoutType<T>(o: T & { type?: unknown }): T {
  const { type: _type, ...rest } = o
  return rest as T
}

function isTrace(t: unknown): t is TraceSummary {
  return !!t && typeof t === 'object' && typeof (t as TraceSummary).trace_id === 'string'
}

function isStats(s: unknown): s is LiveStats {
  return !!s && typeof s === 'object' && typeof (s as LiveStats).at_unix_nano === 'number'
}

export interface BackoffOptions {
  baseMs: number
  capMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000 }

/**
 * Delay before reconnect attempt `attempt` (0 for the first retry): exponential growth
 * base·2^attempt capped at capMs, with "equal jitter" — uniformly in [ceiling/2, ceiling] —
 * so clients do not reconnect in lockstep. `random` returns [0, 1).
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const a = Math.max(0, Math.floor(attempt))
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(a, 30))
  const r = Math.min(Math.max(random(), 0), 1)
  return Math.round(ceiling / 2 + (ceiling / 2) * r)
}
