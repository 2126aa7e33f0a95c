// The trace-list filters: their URL form (hash query and API query) and the client-side
// check applied to live traces so the list shows only what the server filter would return.

import type { TraceSummary } from './types'

export interface TraceFilters {
  model?: string
  status?: string
  user_id?: string
  session_id?: string
  min_duration_ms?: string
  min_cost_usd?: string
  /** 'true' | 'false' | undefined (any). */
  breached?: string
}

export const FILTER_KEYS: Array<keyof TraceFilters> = [
  'model',
  'status',
  'user_id',
  'session_id',
  'min_duration_ms',
  'min_cost_usd',
  'breached',
]

/** Filters from URL parameters; empty values are dropped. */
export function filtersFromParams(p: URLSearchParams): TraceFilters {
  const f: TraceFilters = {}
  for (const k of FILTER_KEYS) {
    const v = p.get(k)?.trim()
    if (v) f[k] = v
  }
  return f
}

/** URL parameters of the non-empty filters (stable key order). */
export function filtersToParams(f: TraceFilters): URLSearchParams {
  const p = new URLSearchParams()
  for (const k of FILTER_KEYS) {
    const v = f[k]?.trim()
    if (v) p.set(k, v)
  }
  return p
}

export function sameFilters(a: TraceFilters, b: TraceFilters): boolean {
  return filtersToParams(a).toString() === filtersToParams(b).toString()
}

/** Whether a trace passes the filters, with the server's semantics (exact matches; minimum
 *  cost only matches priced traces). */
export function matchesFilters(t: TraceSummary, f: TraceFilters): boolean {
  if (f.model && t.model !== f.model) return false
  if (f.status && t.status !== f.status) return false
  if (f.user_id && t.user_id !== f.user_id) return false
  if (f.session_id && t.session_id !== f.session_id) return false
  if (f.min_duration_ms) {
    const min = Number(f.min_duration_ms)
    if (Number.isFinite(min) && !(t.duration_ms >= min)) return false
  }
  if (f.min_cost_usd) {
    const min = Number(f.min_cost_usd)
    if (Number.isFinite(min) && (t.cost_usd === null || t.cost_usd === undefined || !(t.cost_usd >= min))) return false
  }
  if (f.breached === 'true' && !t.breached) return false
  if (f.breached === 'false' && t.breached) return false
  return true
}
