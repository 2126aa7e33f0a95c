// Client-side latency time series: per-bucket nearest-rank percentiles computed from a list of
// trace summaries (the API serves percentiles for a window, not a series). Honest about its
// input: the caller says which traces it used.

import type { TraceSummary } from './types'
import { toEpochMs } from './format'

/** Nearest-rank percentile of ascending `sorted` values (p in 0–100); null when empty. */
export function nearestRank(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[Math.min(rank, sorted.length) - 1]
}

export interface LatencySeries {
  /** Bucket starts, unix seconds (uPlot's x unit). */
  t: number[]
  p50: Array<number | null>
  p95: Array<number | null>
  p99: Array<number | null>
  count: number[]
}

/** Buckets traces by start time into `bucketMs` slots over [fromMs, toMs) and computes
 *  p50/p95/p99 of `value` (duration_ms by default; traces without a value are skipped) in
 *  each. Empty buckets have null percentiles. */
export function latencySeries(
  traces: TraceSummary[],
  fromMs: number,
  toMs: number,
  bucketMs: number,
  value: (t: TraceSummary) => number | null | undefined = (t) => t.duration_ms,
): LatencySeries {
  const first = Math.floor(fromMs / bucketMs) * bucketMs
  const n = Math.max(0, Math.ceil((toMs - first) / bucketMs))
  const values: number[][] = Array.from({ length: n }, () => [])
  for (const t of traces) {
    const at = toEpochMs(t.start_time_unix_nano)
    const v = value(t)
    if (at < fromMs || at >= toMs || v === null || v === undefined || !Number.isFinite(v)) continue
    const i = Math.floor((at - first) / bucketMs)
    if (i >= 0 && i < n) values[i].push(v)
  }
  const out: LatencySeries = { t: [], p50: [], p95: [], p99: [], count: [] }
  values.forEach((v, i) => {
    v.sort((a, b) => a - b)
    out.t.push((first + i * bucketMs) / 1000)
    out.p50.push(nearestRank(v, 50))
    out.p95.push(nearestRank(v, 95))
    out.p99.push(nearestRank(v, 99))
    out.count.push(v.length)
  })
  return out
}
