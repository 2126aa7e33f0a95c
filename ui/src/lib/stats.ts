// The overview's headline numbers and where they come from: the live feed's `stats` messages
// (field names read tolerantly) and the REST endpoints polled as a fallback.

import type { CostReport, LatencyReport } from './types'

export interface Headline {
  p50: number | null
  p95: number | null
  p99: number | null
  ttftP50: number | null
  ttftP95: number | null
  ttftP99: number | null
  costToday: number | null
  costHour: number | null
  unpricedToday: number | null
  requestsHour: number | null
  errorsHour: number | null
  requestsToday: number | null
}

export const EMPTY_HEADLINE: Headline = {
  p50: null,
  p95: null,
  p99: null,
  ttftP50: null,
  ttftP95: null,
  ttftP99: null,
  costToday: null,
  costHour: null,
  unpricedToday: null,
  requestsHour: null,
  errorsHour: null,
  requestsToday: null,
}

function pick(o: Record<string, unknown>, names: string[]): number | null | undefined {
  for (const n of names) {
    if (n in o) {
      const v = o[n]
      if (v === null) return null
      if (typeof v === 'number' && Number.isFinite(v)) return v
    }
  }
  return undefined
}

/** Reads a `stats` message; fields it lacks stay undefined (so they do not erase known values). */
export function headlineFromStats(s: Record<string, unknown>): Partial<Headline> {
  const lat = (s.latency && typeof s.latency === 'object' ? s.latency : s) as Record<string, unknown>
  const entries: Array<[keyof Headline, string[], Record<string, unknown>]> = [
    ['p50', ['p50_ms', 'latency_p50_ms', 'p50'], lat],
    ['p95', ['p95_ms', 'latency_p95_ms', 'p95'], lat],
    ['p99', ['p99_ms', 'latency_p99_ms', 'p99'], lat],
    ['ttftP50', ['ttft_p50_ms'], lat],
    ['ttftP95', ['ttft_p95_ms'], lat],
    ['ttftP99', ['ttft_p99_ms'], lat],
    ['costToday', ['cost_today_usd', 'cost_today', 'today_usd'], s],
    ['costHour', ['cost_last_hour_usd', 'cost_hour_usd', 'last_hour_usd'], s],
    ['unpricedToday', ['unpriced_today', 'unpriced_count_today'], s],
    ['requestsHour', ['requests_last_hour', 'requests_hour'], s],
    ['errorsHour', ['errors_last_hour'], s],
    ['requestsToday', ['requests_today'], s],
  ]
  const out: Partial<Headline> = {}
  for (const [key, names, src] of entries) {
    const v = pick(src, names)
    if (v !== undefined) out[key] = v
  }
  return out
}

export function headlineFromLatency(r: LatencyReport): Partial<Headline> {
  return {
    p50: r.p50_ms ?? null,
    p95: r.p95_ms ?? null,
    p99: r.p99_ms ?? null,
    ttftP50: r.ttft_p50_ms ?? null,
    ttftP95: r.ttft_p95_ms ?? null,
    ttftP99: r.ttft_p99_ms ?? null,
  }
}

export function headlineFromCostToday(r: CostReport): Partial<Headline> {
  return { costToday: r.total_usd ?? null, unpricedToday: r.unpriced_count ?? null, requestsToday: r.requests ?? null }
}

export function headlineFromCostHour(r: CostReport): Partial<Headline> {
  return { costHour: r.total_usd ?? null }
}

/** Midnight UTC of the day containing `nowMs`, as unix nanoseconds (the API's "today"). */
export function utcMidnightNanos(nowMs: number = Date.now()): string {
  const day = 86_400_000
  const ms = Math.floor(nowMs / day) * day
  return `${ms}000000`
}
