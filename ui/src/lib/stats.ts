// The overview's headline numbers and where they come from: the live feed's `stats` messages
// and the REST endpoints polled as a fallback (field names as the OpenAPI document has them).

import type { CostReport, LatencyReport, LiveStats } from './types'

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

/** The headline figures of a live `stats` message (every field is sent; see LiveStats). */
export function headlineFromStats(s: LiveStats): Partial<Headline> {
  return {
    p50: s.p50_ms ?? null,
    p95: s.p95_ms ?? null,
    p99: s.p99_ms ?? null,
    ttftP50: s.ttft_p50_ms ?? null,
    ttftP95: s.ttft_p95_ms ?? null,
    ttftP99: s.ttft_p99_ms ?? null,
    costToday: s.cost_today_usd,
    costHour: s.cost_last_hour_usd,
    unpricedToday: s.unpriced_today,
    requestsHour: s.requests_last_hour,
    errorsHour: s.errors_last_hour,
    requestsToday: s.requests_today,
  }
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
  return { costToday: r.total_usd, unpricedToday: r.unpriced_count, requestsToday: r.requests }
}

export function headlineFromCostHour(r: CostReport): Partial<Headline> {
  return { costHour: r.total_usd }
}

/** Midnight UTC of the day containing `nowMs`, as unix nanoseconds (the API's "today"). */
export function utcMidnightNanos(nowMs: number = Date.now()): string {
  const day = 86_400_000
  const ms = Math.floor(nowMs / day) * day
  return `${ms}000000`
}
