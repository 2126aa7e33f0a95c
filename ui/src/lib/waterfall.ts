// Waterfall layout maths: turns a trace's spans into display rows (tree order, depth, bar
// position and width in % of the trace range), hides the descendants of collapsed spans, and
// computes the time ruler's ticks. Pure: no DOM, no React.

import type { Span } from './types'
import { formatDuration } from './format'

/** Narrowest bar drawn, in % of the range. A bar whose true width is smaller is widened to
 *  exactly this (and flagged `minWidth`); wider bars are exactly proportional to duration. */
export const MIN_BAR_PCT = 0.4

export type Step = 'root' | 'prompt_construction' | 'llm_call' | 'post_processing' | 'plugin' | 'app' | 'other'

export interface WaterfallRow {
  span: Span
  id: string
  depth: number
  /** Start relative to the range start, ms. */
  startMs: number
  durationMs: number
  /** Left edge, % of the range (0–100). */
  leftPct: number
  /** Drawn width, % of the range (≥ MIN_BAR_PCT, left + width ≤ 100). */
  widthPct: number
  /** Width before widening to MIN_BAR_PCT. */
  trueWidthPct: number
  /** True when the bar was widened to the minimum. */
  minWidth: boolean
  step: Step
  hasChildren: boolean
  collapsed: boolean
  /** Spans below this one (all depths), whether shown or not. */
  descendantCount: number
}

export interface WaterfallLayout {
  /** Visible rows in display order (children of collapsed spans omitted). */
  rows: WaterfallRow[]
  /** All spans, including hidden ones. */
  total: number
  /** Range start: earliest span start, ms (relative to offset_ms origin). */
  startMs: number
  /** Range length in ms (0 when every span is instantaneous at the same time). */
  rangeMs: number
  ticks: Tick[]
}

export interface Tick {
  ms: number
  pct: number
  label: string
}

/** A span the application sent to `POST /v1/traces` (the receiver marks them
 *  `gateway.span.source = otlp`), not one of the gateway's own. */
export function isAppSpan(span: Span): boolean {
  return span.attributes?.['gateway.span.source'] === 'otlp'
}

/** The `service.name` of an application span (from its OTLP resource), if any. */
export function appService(span: Span): string | null {
  const s = span.attributes?.['service.name']
  return isAppSpan(span) && typeof s === 'string' && s ? s : null
}

/** Classifies a span: the application's own spans are `app`; the gateway's by their
 *  `gateway.step` attribute, its request span (SERVER, with `gateway.status`) is the root even
 *  under an application span; any other span without a parent in the trace is a root. */
export function stepOf(span: Span, isRoot: boolean): Step {
  if (isAppSpan(span)) return 'app'
  const step = span.attributes?.['gateway.step']
  if (step === 'prompt_construction' || step === 'llm_call' || step === 'post_processing' || step === 'plugin') {
    return step
  }
  if (typeof step === 'string' && step.startsWith('plugin')) return 'plugin'
  if (span.kind === 'server' && span.attributes?.['gateway.status'] !== undefined) return 'root'
  return isRoot ? 'root' : 'other'
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/** Earliest start_time_unix_nano (0 when no span has one): the origin for derived offsets. */
function originNs(spans: Span[]): number {
  let min = Infinity
  for (const s of spans) {
    const t = num(s.start_time_unix_nano)
    if (t !== undefined && t < min) min = t
  }
  return Number.isFinite(min) ? min : 0
}

/** Start (ms, relative to an arbitrary origin) and duration (ms ≥ 0) of a span: the API's
 *  offset_ms/duration_ms when present, else derived from the unix-nano timestamps. */
function timesOf(span: Span, originNs: number): { start: number; dur: number } {
  const startNs = num(span.start_time_unix_nano)
  const endNs = num(span.end_time_unix_nano)
  const start = num(span.offset_ms) ?? (startNs !== undefined ? (startNs - originNs) / 1e6 : 0)
  let dur = num(span.duration_ms)
  if (dur === undefined) dur = startNs !== undefined && endNs !== undefined ? (endNs - startNs) / 1e6 : 0
  return { start, dur: Math.max(0, dur) }
}

/**
 * Orders spans parent-before-children, siblings by start (then id), whatever the input order.
 * A span whose parent is missing (or that sits in a parent cycle) becomes a root.
 */
export function treeOrder(spans: Span[]): Array<{ span: Span; depth: number; parent: number; index: number }> {
  const origin = originNs(spans)
  const starts = spans.map((s) => timesOf(s, origin).start)
  const byId = new Map<string, number>()
  spans.forEach((s, i) => {
    if (!byId.has(s.span_id)) byId.set(s.span_id, i)
  })
  const children: number[][] = spans.map(() => [])
  const roots: number[] = []
  spans.forEach((s, i) => {
    const p = s.parent_span_id ? byId.get(s.parent_span_id) : undefined
    if (p !== undefined && p !== i) children[p].push(i)
    else roots.push(i)
  })
  const cmp = (a: number, b: number) =>
    starts[a] - starts[b] || (spans[a].span_id < spans[b].span_id ? -1 : spans[a].span_id > spans[b].span_id ? 1 : a - b)
  roots.sort(cmp)
  children.forEach((c) => c.sort(cmp))
  const out: Array<{ span: Span; depth: number; parent: number; index: number }> = []
  const seen = new Array<boolean>(spans.length).fill(false)
  const visit = (start: number, parentPos: number) => {
    const stack: Array<[number, number, number]> = [[start, 0, parentPos]]
    while (stack.length) {
      const [i, depth, parent] = stack.pop()!
      if (seen[i]) continue
      seen[i] = true
      const pos = out.length
      out.push({ span: spans[i], depth, parent, index: i })
      for (let k = children[i].length - 1; k >= 0; k--) stack.push([children[i][k], depth + 1, pos])
    }
  }
  roots.forEach((r) => visit(r, -1))
  // Spans only reachable through a cycle: show them as roots rather than lose them.
  spans.forEach((_, i) => visit(i, -1))
  return out
}

/**
 * Lays out a trace. `collapsed` holds the ids of spans whose subtrees are hidden. The range
 * covers every span (so a child running past its root still fits). Bars are proportional to
 * duration, except that bars narrower than MIN_BAR_PCT are widened to it and shifted left if
 * they would overflow 100%.
 */
export function layoutWaterfall(spans: Span[], collapsed: ReadonlySet<string> = new Set()): WaterfallLayout {
  if (spans.length === 0) return { rows: [], total: 0, startMs: 0, rangeMs: 0, ticks: rulerTicks(0) }
  const ordered = treeOrder(spans)
  const origin = originNs(spans)
  const times = ordered.map((o) => timesOf(o.span, origin))
  let t0 = Infinity
  let t1 = -Infinity
  for (const t of times) {
    t0 = Math.min(t0, t.start)
    t1 = Math.max(t1, t.start + t.dur)
  }
  const rangeMs = t1 - t0
  const scale = rangeMs > 0 ? 100 / rangeMs : 0

  // Descendant counts: ordered is a pre-order, so walk it backwards adding to parents.
  const desc = new Array<number>(ordered.length).fill(0)
  for (let k = ordered.length - 1; k >= 0; k--) {
    const p = ordered[k].parent
    if (p >= 0) desc[p] += desc[k] + 1
  }

  const rows: WaterfallRow[] = []
  for (let k = 0; k < ordered.length; k++) {
    const { span, depth, parent } = ordered[k]
    const { start, dur } = times[k]
    const trueLeft = (start - t0) * scale
    const trueWidth = dur * scale
    const minWidth = trueWidth < MIN_BAR_PCT
    const width = minWidth ? MIN_BAR_PCT : trueWidth
    const left = Math.max(0, Math.min(trueLeft, 100 - width))
    const isCollapsed = collapsed.has(span.span_id) && desc[k] > 0
    rows.push({
      span,
      id: span.span_id,
      depth,
      startMs: start - t0,
      durationMs: dur,
      leftPct: left,
      widthPct: width,
      trueWidthPct: trueWidth,
      minWidth,
      step: stepOf(span, parent < 0),
      hasChildren: desc[k] > 0,
      collapsed: isCollapsed,
      descendantCount: desc[k],
    })
    if (isCollapsed) k += desc[k] // skip the whole subtree (contiguous in pre-order)
  }
  return { rows, total: spans.length, startMs: t0, rangeMs, ticks: rulerTicks(rangeMs) }
}

/** A "nice" step (1, 2 or 5 × 10^k) giving at most `maxTicks` intervals over `rangeMs`. */
export function niceStep(rangeMs: number, maxTicks = 6): number {
  if (!(rangeMs > 0)) return 0
  const raw = rangeMs / maxTicks
  const pow = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 5, 10]) {
    if (m * pow >= raw) return m * pow
  }
  return 10 * pow
}

/** Ruler ticks from 0 to the range end at a nice step, each with its % position and label. */
export function rulerTicks(rangeMs: number, maxTicks = 6): Tick[] {
  const step = niceStep(rangeMs, maxTicks)
  if (step === 0) return [{ ms: 0, pct: 0, label: formatDuration(0) }]
  const ticks: Tick[] = []
  for (let i = 0; ; i++) {
    const ms = i * step
    if (ms > rangeMs * (1 + 1e-9)) break
    ticks.push({ ms, pct: (ms / rangeMs) * 100, label: formatDuration(ms) })
  }
  return ticks
}
