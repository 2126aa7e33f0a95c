// Formatting of money, durations, token counts and timestamps for display. Pure functions;
// an unpriced cost (null/undefined) is always "unpriced", never "$0".

/** Smallest amount shown as a number; anything positive below it is "<$0.000001". */
export const MIN_MONEY = 0.000001

/**
 * USD for display: `$1.23`, `$1,234.50`, `$0.0500`→`$0.05`, `$0.000123`, `<$0.000001`.
 * Below $1, three significant digits (at most six decimals, at least two).
 * `null`/`undefined` means unpriced and gives "unpriced".
 */
/** A cost as text, told apart when there is none: `unpriced` when a trace counted has no price
 * (`unpriced`), `—` when there is simply no cost yet (a deferred call, a free one), never $0. */
export function formatCost(usd: number | null | undefined, unpriced: boolean): string {
  if (usd === null || usd === undefined) return unpriced ? 'unpriced' : '—'
  return formatMoney(usd)
}

export function formatMoney(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return 'unpriced'
  if (!Number.isFinite(usd)) return '—'
  if (usd < 0) return '-' + formatMoney(-usd)
  if (usd === 0) return '$0.00'
  if (usd < MIN_MONEY) return '<$0.000001'
  if (usd >= 1) {
    return '$' + usd.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
  }
  const rounded = Number(usd.toPrecision(3))
  if (rounded >= 1) return '$1.00'
  // Decimals needed to show three significant digits, bounded to [2, 6].
  const decimals = Math.min(6, Math.max(2, 2 - Math.floor(Math.log10(rounded))))
  const fixed = rounded.toFixed(decimals)
  // Trim zeros beyond the second decimal ("0.0500" → "0.05").
  return '$' + fixed.replace(/(\.\d\d\d*?)0+$/, '$1')
}

/** Rate in USD per hour, e.g. `$0.42/h`; unpriced-safe like formatMoney. */
export function formatBurnRate(usdPerHour: number | null | undefined): string {
  const m = formatMoney(usdPerHour)
  return m === 'unpriced' || m === '—' ? m : `${m}/h`
}

function sig3(v: number): string {
  // Decide the decimals on the rounded value, so 9.996 gives "10.0", not "10.00".
  if (Number(v.toFixed(1)) >= 100) return v.toFixed(0)
  if (Number(v.toFixed(2)) >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

/**
 * A duration given in milliseconds: `850 µs`, `12.3 ms`, `1.25 s`, `2m 03s`, `1h 02m`.
 * Three significant digits below a minute; rounding never shows "1000 ms" or "60.0 s".
 */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—'
  if (ms < 0) return '-' + formatDuration(-ms)
  if (ms === 0) return '0 µs'
  const us = ms * 1000
  if (Math.round(us) < 1000) return `${Math.round(us)} µs`
  if (Number(sig3(ms)) < 1000) return `${sig3(ms)} ms`
  const s = ms / 1000
  if (Number(sig3(s)) < 60) return `${sig3(s)} s`
  const totalS = Math.round(s)
  if (totalS < 3600) {
    const m = Math.floor(totalS / 60)
    return `${m}m ${String(totalS % 60).padStart(2, '0')}s`
  }
  const totalM = Math.round(s / 60)
  const h = Math.floor(totalM / 60)
  return `${h}h ${String(totalM % 60).padStart(2, '0')}m`
}

/** A count with thousands separators; `—` when absent. */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—'
  return Math.round(n).toLocaleString('en-US')
}

/** A fraction as a whole percentage: `0%`, `<1%` (above 0), `37%`; `—` when absent. */
export function formatPercent(f: number | null | undefined): string {
  if (f === null || f === undefined || !Number.isFinite(f)) return '—'
  if (f > 0 && f < 0.01) return '<1%'
  return `${Math.round(f * 100)}%`
}

/** Tokens, compact above 10k: `1,234`, `12.3k`, `1.2M`. */
export function formatTokens(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—'
  if (Math.abs(n) < 10_000) return formatCount(n)
  if (Math.abs(n) < 1_000_000) return `${(n / 1000).toFixed(1)}k`
  return `${(n / 1_000_000).toFixed(1)}M`
}

/**
 * Converts a timestamp of unknown unit (unix seconds, ms, µs or ns) to milliseconds, judging by
 * magnitude: values after 1973 in ns are > 1e17, in µs > 1e14, in ms > 1e11.
 */
export function toEpochMs(t: number): number {
  const a = Math.abs(t)
  if (a > 1e17) return t / 1e6
  if (a > 1e14) return t / 1e3
  if (a > 1e11) return t
  return t * 1000
}

/** Local wall-clock time of a timestamp (any unit), `HH:MM:SS.mmm`; with the date when not today. */
export function formatTime(t: number | null | undefined, now: Date = new Date()): string {
  if (t === null || t === undefined || !Number.isFinite(t)) return '—'
  const d = new Date(toEpochMs(t))
  const p2 = (n: number) => String(n).padStart(2, '0')
  const hms = `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`
  const ms = String(d.getMilliseconds()).padStart(3, '0')
  const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate()
  const date = sameDay ? '' : `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} `
  return `${date}${hms}.${ms}`
}

/** Attribute or event value as display text (strings verbatim, the rest as JSON). */
export function formatValue(v: unknown): string {
  if (typeof v === 'string') return v
  if (v === undefined) return ''
  try {
    return JSON.stringify(v)
  } catch {
    return String(v)
  }
}

/** A metric snapshot value in its unit: `*_ms` as a duration, `*_usd` as money, else a number. */
export function formatMetric(metric: string, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—'
  if (metric.endsWith('_ms')) return formatDuration(v)
  if (metric.endsWith('_usd')) return formatMoney(v)
  return Number.isInteger(v) ? formatCount(v) : String(Number(v.toPrecision(4)))
}

/** A short form of a trace or span id for tables. Gateway trace ids are time-ordered (their
 *  head is a timestamp), so the tail is what tells them apart. */
export function shortId(id: string, n = 8): string {
  return id.length <= n ? id : '…' + id.slice(-n)
}
