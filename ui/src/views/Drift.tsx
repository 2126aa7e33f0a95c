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
  const table = drift.data?.table ?? 'drift_snapshots'
  return (
    <div className="drift">
      <h2>Drift</h2>
      <p className="muted">
        Drifted rows of a drift detector&apos;s table (<span className="mono">{table}</span>, read only, mapped by{' '}
        <span className="mono">[drift]</span> in gateway.toml), each with what happened in its window.
      </p>
      <ErrorNote error={drift.error} onRetry={drift.reload} />
      {drift.data && !drift.data.table_found && (
        <div className="panel" data-testid="drift-not-connected">
          <h3>No drift detector connected</h3>
          <p>{drift.data.explanation}</p>
          <p className="muted small">
            To connect one, let the detector write its table into the gateway&apos;s SQLite file and describe it in{' '}
            <span className="mono">gateway.toml</span>, e.g.:
          </p>
          <pre className="mono small">{`[drift]
table = "drift_snapshots"
window_start_column = "window_start_ms"
window_end_column = "window_end_ms"
time_unit = "ms"          # s | ms | us | ns | iso8601
feature_column = "feature_name"
score_column = "psi"
model_column = "model_name"   # optional
drifted_column = "drifted"    # optional`}</pre>
          <p className="muted small">The gateway never creates or alters that table. See docs/schema.md.</p>
        </div>
      )}
      {drift.data?.warnings.map((w) => (
        <p key={w} className="muted" data-testid="drift-warning">
          ⚠ {w}
        </p>
      ))}
      {drift.data && drift.data.table_found && items.length === 0 && (
        <p className="muted">No drifted rows recorded.</p>
      )}
      {items.map((item, i) => (
        <DriftCard key={item.drift.id ?? `row-${i}`} item={item} />
      ))}
    </div>
  )
}

function DriftCard({ item }: { item: DriftCorrelation }) {
  const s = item.drift
  return (
    <section className="panel" data-testid="drift-item">
      <h3>
        {s.feature ?? '(feature)'}
        {s.model != null && <span className="muted"> · {s.model}</span>}{' '}
        {s.drifted == null ? (
          <span className="badge">no flag</span>
        ) : s.drifted ? (
          <span className="badge badge-bad">drifted</span>
        ) : (
          <span className="badge">stable</span>
        )}
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
