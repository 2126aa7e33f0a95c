// The trace page: GenAI summary, the span waterfall, the selected span's attributes and events,
// and the trace's metric snapshots.

import { useEffect, useMemo, useState } from 'react'
import { getJson } from '../lib/api'
import { genAiSummary } from '../lib/genai'
import { KIND_LABELS, sessionLinksOf } from '../lib/session'
import { formatDuration, formatMetric, formatTime } from '../lib/format'
import { usePoll } from '../hooks/usePoll'
import { ErrorNote } from '../components/ErrorNote'
import { StatusBadge } from '../components/Cost'
import { GenAiPanel } from './trace/GenAiPanel'
import { Waterfall } from './trace/Waterfall'
import { SpanPanel } from './trace/SpanPanel'

export function TraceDetail({ id, backHref = '#/traces' }: { id: string; backHref?: string }) {
  const detail = usePoll((signal) => getJson('/api/traces/{trace_id}', { path: { trace_id: id }, signal }), 0, id)
  const [selected, setSelected] = useState<string | null>(null)
  useEffect(() => setSelected(null), [id])
  const d = detail.data
  const summary = useMemo(() => (d ? genAiSummary(d.trace, d.spans) : null), [d])
  const span = d?.spans.find((s) => s.span_id === selected) ?? null
  const sessions = useMemo(() => (d ? sessionLinksOf(d.trace, d.spans) : []), [d])

  return (
    <div className="trace-detail">
      <p>
        <a href={backHref} data-testid="back-to-traces">
          ← Traces
        </a>
      </p>
      <ErrorNote error={detail.error} onRetry={detail.reload} />
      {!d && !detail.error && <p className="muted">Loading trace…</p>}
      {d && summary && (
        <>
          <header className="trace-head">
            <h2>
              Trace <span className="mono">{d.trace.trace_id}</span>
            </h2>
            <div className="trace-meta">
              <StatusBadge status={d.trace.status} />
              {d.trace.http_status != null && <span>HTTP {d.trace.http_status}</span>}
              <span>{d.trace.operation ?? ''}</span>
              {d.trace.stream && <span className="tag">stream</span>}
              <span>{formatTime(d.trace.start_time_unix_nano)}</span>
              <span data-testid="trace-duration">{formatDuration(d.trace.duration_ms)}</span>
              {d.trace.user_id && (
                <span>
                  user <span data-testid="trace-user">{d.trace.user_id}</span>
                </span>
              )}
              {sessions.map((l) => (
                <a key={`${l.kind}:${l.id}`} href={l.href} data-testid={`trace-${l.kind}-link`}>
                  {KIND_LABELS[l.kind].toLowerCase()} {l.kind === 'interaction' ? '' : l.id}
                </a>
              ))}
            </div>
          </header>
          <GenAiPanel s={summary} />
          <div className="waterfall-layout">
            <Waterfall spans={d.spans} selected={selected} onSelect={setSelected} />
            <SpanPanel span={span} />
          </div>
          {d.metric_snapshots.length > 0 && (
            <section className="panel">
              <h3>Metric snapshots</h3>
              <table className="simple">
                <thead>
                  <tr>
                    <th scope="col">Metric</th>
                    <th scope="col" className="num">Value</th>
                    <th scope="col" className="num">Threshold</th>
                    <th scope="col">Breached</th>
                  </tr>
                </thead>
                <tbody>
                  {d.metric_snapshots.map((m) => (
                    <tr key={m.id}>
                      <td>{m.metric}</td>
                      <td className="num">{formatMetric(m.metric, m.value)}</td>
                      <td className="num">{formatMetric(m.metric, m.threshold)}</td>
                      <td>{m.breached ? <span className="badge badge-bad">breached</span> : 'no'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          )}
        </>
      )}
    </div>
  )
}
