// The session page: every trace of a session (x-gateway-session-id, a conversation id, or an
// Interactions chain) on one time line, the session's totals, and per trace the running
// tokens, cost and latency; a trace opens in place to its waterfall (application spans
// included). Pages load oldest first; "Load more" appends the next.

import { useCallback, useEffect, useRef, useState } from 'react'
import { getJson } from '../lib/api'
import { toError } from '../lib/errors'
import { formatCost, formatCount, formatDuration, formatTime } from '../lib/format'
import { KIND_LABELS, mergeSessionPages, type SessionKind, type SessionPage, type SessionTrace } from '../lib/session'
import { tracesHref } from '../lib/route'
import { Card } from '../components/Card'
import { ErrorNote } from '../components/ErrorNote'
import { SessionTimeline } from './SessionTimeline'

const PAGE_SIZE = 100

export function Session({ id, kind }: { id: string; kind: SessionKind }) {
  const [head, setHead] = useState<SessionPage | null>(null)
  const [traces, setTraces] = useState<SessionTrace[]>([])
  const [next, setNext] = useState<string | null>(null)
  const [error, setError] = useState<Error | null>(null)
  const [loading, setLoading] = useState(false)
  const ctl = useRef<AbortController | null>(null)

  const load = useCallback(
    async (after: string | null) => {
      ctl.current?.abort()
      const c = new AbortController()
      ctl.current = c
      setLoading(true)
      try {
        const page = await getJson('/api/sessions/{id}', {
          path: { id },
          query: { kind, limit: PAGE_SIZE, after: after ?? undefined },
          signal: c.signal,
        })
        if (c.signal.aborted) return
        setHead(page)
        setTraces((cur) => (after === null ? page.traces : mergeSessionPages(cur, page.traces)))
        setNext(page.next ?? null)
        setError(null)
      } catch (e) {
        if (!c.signal.aborted) setError(toError(e))
      } finally {
        if (!c.signal.aborted) setLoading(false)
      }
    },
    [id, kind],
  )
  useEffect(() => {
    setHead(null)
    setTraces([])
    setNext(null)
    void load(null)
    return () => ctl.current?.abort()
  }, [load])

  const t = head?.totals
  return (
    <div className="session-view" data-testid="session-view">
      <p>
        <a href={tracesHref(kind === 'session' ? new URLSearchParams({ session_id: id }) : undefined)}>← Traces</a>
      </p>
      <header className="trace-head">
        <h2>
          {KIND_LABELS[kind]} <span className="mono" data-testid="session-id">{id}</span>
        </h2>
        {head && (
          <div className="trace-meta">
            <span>{formatTime(head.start_time_unix_nano)}</span>
            <span>→ {formatTime(head.end_time_unix_nano)}</span>
            {head.truncated && (
              <span className="badge badge-warn" title="More traces than one answer reads: the totals cover the first ones">
                truncated
              </span>
            )}
          </div>
        )}
      </header>
      <ErrorNote error={error} onRetry={() => void load(null)} />
      {!head && !error && <p className="muted">Loading session…</p>}
      {t && (
        <section className="cards" aria-label="Session totals">
          <Card testId="session-traces" label="Traces" value={formatCount(t.traces)} raw={t.traces} />
          <Card testId="session-input-tokens" label="Input tokens" value={formatCount(t.input_tokens)} raw={t.input_tokens} hint={`${formatCount(t.cached_tokens)} cached`} />
          <Card testId="session-output-tokens" label="Output tokens" value={formatCount(t.output_tokens)} raw={t.output_tokens} hint={`${formatCount(t.reasoning_tokens)} reasoning`} />
          <Card
            testId="session-cost"
            label="Cost"
            value={formatCost(t.cost_usd, t.unpriced > 0)}
            raw={t.cost_usd}
            tone={t.unpriced ? 'warn' : 'normal'}
            hint={t.unpriced ? `+ ${formatCount(t.unpriced)} unpriced trace(s), not included` : undefined}
          />
          <Card testId="session-latency" label="Latency (sum)" value={formatDuration(t.duration_ms)} raw={t.duration_ms} hint={`${formatDuration(t.elapsed_ms)} wall time`} />
        </section>
      )}
      {head && <SessionTimeline traces={traces} start={head.start_time_unix_nano} end={head.end_time_unix_nano} />}
      {head && (
        <div className="load-more">
          <button type="button" onClick={() => next !== null && void load(next)} disabled={next === null || loading} data-testid="session-load-more">
            {next === null ? `${formatCount(traces.length)} of ${formatCount(head.totals.traces)} traces` : `Load ${PAGE_SIZE} more`}
          </button>
        </div>
      )}
    </div>
  )
}
