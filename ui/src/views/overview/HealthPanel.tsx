// Pipeline health from /metrics: spans dropped (queue full, export error), writer queue depth and
// spans exported, then the loss and metering counters (traces and alert-feed rows lost, write
// retries, unmetered usage, unpriced calls, tier downgrades, decode errors, label overflow),
// each explained in one line and highlighted when non-zero. A figure the server does not
// expose shows "n/a".

import { COUNTERS, type GatewayHealth } from '../../lib/prom'
import { formatCount } from '../../lib/format'
import { Card } from '../../components/Card'
import { ErrorNote } from '../../components/ErrorNote'

export function HealthPanel({ health, error }: { health: GatewayHealth | null; error: Error | null }) {
  const v = (n: number | null | undefined) => (n === null || n === undefined ? 'n/a' : formatCount(n))
  const h = health
  return (
    <section className="panel" aria-labelledby="health-h">
      <h3 id="health-h">Span pipeline health</h3>
      <ErrorNote error={error} compact />
      <div className="cards">
        <Card testId="card-dropped-queue-full" label="Dropped (queue full)" value={v(h?.droppedQueueFull)} raw={h?.droppedQueueFull} tone={h?.droppedQueueFull ? 'bad' : 'normal'} />
        <Card testId="card-dropped-export-error" label="Dropped (export error)" value={v(h?.droppedExportError)} raw={h?.droppedExportError} tone={h?.droppedExportError ? 'bad' : 'normal'} />
        <Card testId="card-queue-depth" label="Writer queue depth" value={v(h?.queueDepth)} raw={h?.queueDepth} />
        <Card testId="card-exported" label="Spans exported" value={v(h?.exported)} raw={h?.exported} />
      </div>
      <h4>Loss and metering (since the gateway started)</h4>
      <table className="counters" data-testid="loss-counters">
        <tbody>
          {COUNTERS.map((c) => {
            const n = h?.counters[c.name] ?? null
            return (
              <tr key={c.name} className={n ? 'counter-warn' : undefined} data-testid={`counter-${c.name}`} data-value={n ?? ''}>
                <th scope="row" title={c.name}>
                  {c.label}
                </th>
                <td className="num counter-value">{v(n)}</td>
                <td className={n ? 'counter-explain' : 'counter-explain muted small'}>{n === null ? `${c.name} is not exposed by this server.` : c.explain}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </section>
  )
}
