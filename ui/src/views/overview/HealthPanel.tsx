// Pipeline health from /metrics: spans dropped (queue full, export error), writer queue depth,
// how full the queue is against its byte bound, and spans exported, then the loss and metering
// counters (traces and alert-feed rows lost, write retries, unmetered usage, unpriced calls,
// tier downgrades, decode errors, label overflow), each explained in one line and highlighted
// when non-zero. A figure the server does not expose shows "n/a".

import { COUNTERS, queueFill, type GatewayHealth } from '../../lib/prom'
import { formatCount, formatPercent } from '../../lib/format'
import { Card } from '../../components/Card'
import { ErrorNote } from '../../components/ErrorNote'

export function HealthPanel({ health, error }: { health: GatewayHealth | null; error: Error | null }) {
  const v = (n: number | null | undefined) => (n === null || n === undefined ? 'n/a' : formatCount(n))
  const h = health
  const fill = queueFill(h)
  const mib = (n: number | null) => ((n ?? 0) / 2 ** 20).toFixed(1)
  return (
    <section className="panel" aria-labelledby="health-h">
      <h3 id="health-h">Span pipeline health</h3>
      <ErrorNote error={error} compact />
      <div className="cards">
        <Card testId="card-dropped-queue-full" label="Dropped (queue full)" value={v(h?.droppedQueueFull)} raw={h?.droppedQueueFull} tone={h?.droppedQueueFull ? 'bad' : 'normal'} />
        <Card testId="card-dropped-export-error" label="Dropped (export error)" value={v(h?.droppedExportError)} raw={h?.droppedExportError} tone={h?.droppedExportError ? 'bad' : 'normal'} />
        <Card testId="card-queue-depth" label="Writer queue depth" value={v(h?.queueDepth)} raw={h?.queueDepth} />
        <Card
          testId="card-queue-fill"
          label="Writer queue, of its bound"
          value={fill === null ? 'n/a' : formatPercent(fill)}
          raw={h?.queueBytes}
          hint={h?.queueBytesLimit ? `${mib(h.queueBytes)} of ${mib(h.queueBytesLimit)} MiB of span data; spans past it are dropped` : undefined}
          tone={fill !== null && fill >= 0.9 ? 'bad' : fill !== null && fill >= 0.5 ? 'warn' : 'normal'}
        />
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
