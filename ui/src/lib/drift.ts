// Normalises `/api/correlations/drift` into one shape. The server sends
// `{correlations:[{drift, breached_snapshots, slowest_traces, costliest_traces}]}`; an older draft
// used `{drift:[{snapshot, breached, worst_by_latency, worst_by_cost}]}`. Both (and a bare
// array) are accepted; missing parts become empty.

import type { MetricSnapshot } from './types'

export interface DriftSnapshot {
  id: number | string
  feature: string | null
  score: number | null
  threshold: number | null
  drifted: boolean
  window_start_unix_nano: number | null
  window_end_unix_nano: number | null
  created_at_unix_nano: number | null
}

export interface WorstTrace {
  trace_id: string
  start_time_unix_nano?: number
  duration_ms?: number
  cost_usd?: number | null
  model?: string | null
  status?: string
}

export interface DriftItem {
  snapshot: DriftSnapshot
  breached: MetricSnapshot[]
  slowest: WorstTrace[]
  costliest: WorstTrace[]
}

type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v)
const arr = (...vs: unknown[]): unknown[] => (vs.find(Array.isArray) as unknown[] | undefined) ?? []
const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)

function snapshotOf(o: Obj): DriftSnapshot {
  return {
    id: typeof o.id === 'number' || typeof o.id === 'string' ? o.id : '?',
    feature: typeof o.feature === 'string' ? o.feature : null,
    score: numOrNull(o.score),
    threshold: numOrNull(o.threshold),
    drifted: o.drifted === true || o.drifted === 1,
    window_start_unix_nano: numOrNull(o.window_start_unix_nano),
    window_end_unix_nano: numOrNull(o.window_end_unix_nano),
    created_at_unix_nano: numOrNull(o.created_at_unix_nano),
  }
}

function traces(list: unknown[]): WorstTrace[] {
  return list.filter((t): t is WorstTrace => isObj(t) && typeof t.trace_id === 'string')
}

export function normaliseDrift(body: unknown): DriftItem[] {
  const list = Array.isArray(body) ? body : isObj(body) ? arr(body.correlations, body.drift, body.items) : []
  return list.filter(isObj).map((item) => {
    const snap = isObj(item.drift) ? item.drift : isObj(item.snapshot) ? item.snapshot : item
    return {
      snapshot: snapshotOf(snap),
      breached: arr(item.breached_snapshots, item.breached).filter(isObj) as unknown as MetricSnapshot[],
      slowest: traces(arr(item.slowest_traces, item.worst_by_latency)),
      costliest: traces(arr(item.costliest_traces, item.worst_by_cost)),
    }
  })
}
