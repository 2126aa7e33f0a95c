// The drift page: each drift snapshot with the metric snapshots breached in its window and the
// slowest and costliest traces of that window (linking to the trace).

import { getJson } from '../lib/api'
import { formatDuration, formatMetric, formatTime, shortId } from '../lib/format'
import { traceHref } from '../lib/route'
import type { DriftCorrelation, WorstTrace } from '../lib/types'
import { usePoll } from '../hooks/usePoll'
import { ErrorNote } from '../components/ErrorNote'
import { Cost, StatusBadge } from '../components/Cost'

export function Drift() {
  const drift = usePoll((signal) => getJson('/api/correlations/drift', { signal }), 15_000, 'drift')
  const items = drift.data?.correlations ?? []
  return (
    <div className="drift">
      <h2>Drift</h2>
      <p className="muted">
        Drift snapshots (written by a drift detector into <span className="mono">drift_snapshots</span>), each with what
        happened in its window.
      </p>
      <ErrorNote error={drift.error} onRetry={drift.reload} />
      {drift.data && items.length === 0 && <p className="muted">No drift snapshots recorded.</p>}
      {items.map((item) => (
        <DriftCard key={item.drift.id} item={item} />
      ))}
    </div>
  )
}

function DriftCard({ item }: { item: DriftCorrelation }) {
  const s = item.drift
  return (
    <section className="panel" data-testid="drift-item">
      <h3>
        {s.feature ?? '(feature)'}{' '}
        {s.drifted ? <span className="badge badge-bad">drifted</span> : <span className="badge">stable</span>}
      </h3>
      <p>
        score <strong>{s.score ?? '—'}</strong>
        {s.threshold != null && <> / threshold {s.threshold}</>} · window {formatTime(s.window_start_unix_nano)} →{' '}
        {formatTime(s.window_end_unix_nano)}
      </p>
      <div className="grid3">
        <div>
          <h4>Breached snapshots ({item.breached_snapshots.length})</h4>
          {item.breached_snapshots.length === 0 ? (
            <p className="muted small">None in this window.</p>
          ) : (
            <ul className="plain">
              {item.breached_snapshots.map((b) => (
                <li key={b.id}>
                  {b.metric} = {formatMetric(b.metric, b.value)}
                  {b.threshold != null && <> &gt; {formatMetric(b.metric, b.threshold)}</>}{' '}
                  <a href={traceHref(b.trace_id)} className="mono">
                    {shortId(b.trace_id)}
                  </a>
                </li>
              ))}
            </ul>
          )}
        </div>
        <TraceList title="Slowest traces" traces={item.slowest_traces} />
        <TraceList title="Costliest traces" traces={item.costliest_traces} />
      </div>
    </section>
  )
}

function TraceList({ title, traces }: { title: string; traces: WorstTrace[] }) {
  return (
    <div>
      <h4>{title}</h4>
      {traces.length === 0 ? (
        <p className="muted small">None.</p>
      ) : (
        <ul className="plain">
          {traces.map((t) => (
            <li key={t.trace_id}>
              <a href={traceHref(t.trace_id)} className="mono">
                {shortId(t.trace_id)}
              </a>{' '}
              {t.model ?? ''} · {formatDuration(t.duration_ms)} · <Cost usd={t.cost_usd} /> <StatusBadge status={t.status} />
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}
