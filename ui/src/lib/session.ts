// Session view maths: the kinds of session id, the session route's links, merging pages of a
// session, and the timeline layout (one bar per trace on the session's shared time axis, with
// ruler ticks). Pure: no DOM, no React.

import type { components } from './api.gen'
import { rulerTicks, type Tick } from './waterfall'

type Schemas = components['schemas']
export type SessionPage = Schemas['SessionPage']
export type SessionTrace = Schemas['SessionTrace']
export type SessionTotals = Schemas['SessionTotals']
export type SessionKind = Schemas['SessionKind']

export const SESSION_KINDS: readonly SessionKind[] = ['session', 'conversation', 'interaction']

/** What the id names; anything else (or nothing) is a plain session id. */
export function sessionKindOf(v: string | null | undefined): SessionKind {
  return (SESSION_KINDS as readonly string[]).includes(v ?? '') ? (v as SessionKind) : 'session'
}

/** `#/sessions/<id>` (with `?kind=` unless a plain session). */
export function sessionHref(id: string, kind: SessionKind = 'session'): string {
  const base = `#/sessions/${encodeURIComponent(id)}`
  return kind === 'session' ? base : `${base}?kind=${kind}`
}

export const KIND_LABELS: Record<SessionKind, string> = {
  session: 'Session',
  conversation: 'Conversation',
  interaction: 'Interaction chain',
}

/** Appends a later page to the loaded traces: pages are in time order and keyed by trace id,
 *  so a trace already shown (a page re-read after new rows) is kept once, in order. */
export function mergeSessionPages(loaded: SessionTrace[], page: SessionTrace[]): SessionTrace[] {
  const seen = new Set(loaded.map((t) => t.trace_id))
  const out = loaded.slice()
  for (const t of page) {
    if (!seen.has(t.trace_id)) {
      seen.add(t.trace_id)
      out.push(t)
    }
  }
  return out
}

export interface TimelineBar {
  trace: SessionTrace
  /** Left edge, % of the session range. */
  leftPct: number
  /** Drawn width, % (at least MIN_BAR_PCT, left + width ≤ 100). */
  widthPct: number
  /** Start from the session start, ms. */
  offsetMs: number
  /** Bar length, ms (the trace's span extent, application spans included, when known). */
  durationMs: number
}

export interface Timeline {
  bars: TimelineBar[]
  /** Session start, unix nanos (the earliest of the page's and the session's starts). */
  startNs: number
  rangeMs: number
  ticks: Tick[]
}

export const MIN_BAR_PCT = 0.5

/** A trace's extent: its spans' (application spans included) when known, else its row's. */
export function traceExtent(t: SessionTrace): { start: number; end: number } {
  const start = Math.min(t.start_time_unix_nano, t.spans_start_unix_nano ?? Infinity)
  const end = Math.max(t.end_time_unix_nano, t.spans_end_unix_nano ?? -Infinity)
  return { start, end: Math.max(start, end) }
}

/**
 * Places each trace on the session's time axis: from the session start to the session end
 * (both widened to every loaded trace's extent), so bars of every page share one axis.
 */
export function layoutTimeline(
  traces: SessionTrace[],
  session: { start?: number | null; end?: number | null } = {},
): Timeline {
  let t0 = session.start ?? Infinity
  let t1 = session.end ?? -Infinity
  const ext = traces.map(traceExtent)
  for (const e of ext) {
    t0 = Math.min(t0, e.start)
    t1 = Math.max(t1, e.end)
  }
  if (!Number.isFinite(t0) || !Number.isFinite(t1)) return { bars: [], startNs: 0, rangeMs: 0, ticks: rulerTicks(0) }
  const rangeMs = Math.max(0, (t1 - t0) / 1e6)
  const scale = rangeMs > 0 ? 100 / rangeMs : 0
  const bars = traces.map((trace, i) => {
    const offsetMs = (ext[i].start - t0) / 1e6
    const durationMs = (ext[i].end - ext[i].start) / 1e6
    const width = Math.max(MIN_BAR_PCT, durationMs * scale)
    const left = Math.max(0, Math.min(offsetMs * scale, 100 - width))
    return { trace, leftPct: left, widthPct: Math.min(width, 100), offsetMs, durationMs }
  })
  return { bars, startNs: t0, rangeMs, ticks: rulerTicks(rangeMs) }
}

/** The models of a trace as one label (`a, b`), `—` when none is known. */
export function modelsLabel(t: SessionTrace): string {
  const m = t.models.length ? t.models : t.model ? [t.model] : []
  return m.length ? m.join(', ') : '—'
}

export interface SessionLink {
  kind: SessionKind
  id: string
  href: string
}

/** The sessions a trace belongs to, from its summary and spans: its `x-gateway-session-id`, a
 *  `gen_ai.conversation.id` another than that, and the Interactions chain when a span names an
 *  interaction (`gateway.surface = interactions`) or a previous one. */
export function sessionLinksOf(
  trace: { trace_id: string; session_id?: string | null },
  spans: Array<{ attributes?: Record<string, unknown> | null }>,
): SessionLink[] {
  const out: SessionLink[] = []
  const add = (kind: SessionKind, id: string) => out.push({ kind, id, href: sessionHref(id, kind) })
  if (trace.session_id) add('session', trace.session_id)
  const conversations = new Set<string>()
  let chain = false
  for (const s of spans) {
    const a = s.attributes ?? {}
    const c = a['gen_ai.conversation.id']
    if (typeof c === 'string' && c && c !== trace.session_id) conversations.add(c)
    if (typeof a['gen_ai.request.previous_response.id'] === 'string') chain = true
    if (a['gateway.surface'] === 'interactions' && typeof a['gen_ai.response.id'] === 'string') chain = true
  }
  for (const c of [...conversations].sort()) add('conversation', c)
  if (chain) add('interaction', trace.trace_id)
  return out
}
