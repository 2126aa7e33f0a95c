// The most recent breached metric snapshots, each linking to its trace.

import { getJson } from '../../lib/api'
import { formatMetric, formatTime, shortId } from '../../lib/format'
import { traceHref } from '../../lib/route'
import { usePoll } from '../../hooks/usePoll'
import { ErrorNote } from '../../components/ErrorNote'

export function BreachedList() {
  const snaps = usePoll(
    (signal) => getJson('/api/metric-snapshots', { query: { breached: 'true', limit: 15 }, signal }),
    5000,
    'breached',
  )
  const rows = snaps.data?.snapshots ?? []
  return (
    <section className="panel" aria-labelledby="breached-h" data-testid="breached-list">
      <h3 id="breached-h">Recent threshold breaches</h3>
      <ErrorNote error={snaps.error} compact />
      {rows.length === 0 ? (
        <p className="muted">{snaps.data ? 'No breached metric snapshots.' : 'Loading…'}</p>
      ) : (
        <table className="simple">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Metric</th>
              <th scope="col" className="num">Value</th>
              <th scope="col" className="num">Threshold</th>
              <th scope="col">Model</th>
              <th scope="col">Trace</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((s) => (
              <tr key={s.id}>
                <td>{formatTime(s.created_at_unix_nano)}</td>
                <td>{s.metric}</td>
                <td className="num bad">{formatMetric(s.metric, s.value)}</td>
                <td className="num">{formatMetric(s.metric, s.threshold)}</td>
                <td>{s.model ?? '—'}</td>
                <td>
                  <a href={traceHref(s.trace_id)} className="mono">
                    {shortId(s.trace_id)}
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}
