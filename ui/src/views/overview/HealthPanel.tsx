// Span-writer health from /metrics: spans dropped (queue full, export error), writer queue
// depth and spans exported. Each shows "n/a" when the server does not expose it.

import type { GatewayHealth } from '../../lib/prom'
import { formatCount } from '../../lib/format'
import { Card } from '../../components/Card'

export function HealthPanel({ health, error }: { health: GatewayHealth | null; error: Error | null }) {
  const v = (n: number | null | undefined) => (n === null || n === undefined ? 'n/a' : formatCount(n))
  const h = health
  return (
    <section className="panel" aria-labelledby="health-h">
      <h3 id="health-h">Span pipeline health</h3>
      {error && <p className="muted small">/metrics unavailable: {error.message}</p>}
      <div className="cards">
        <Card testId="card-dropped-queue-full" label="Dropped (queue full)" value={v(h?.droppedQueueFull)} raw={h?.droppedQueueFull} tone={h?.droppedQueueFull ? 'bad' : 'normal'} />
        <Card testId="card-dropped-export-error" label="Dropped (export error)" value={v(h?.droppedExportError)} raw={h?.droppedExportError} tone={h?.droppedExportError ? 'bad' : 'normal'} />
        <Card testId="card-queue-depth" label="Writer queue depth" value={v(h?.queueDepth)} raw={h?.queueDepth} />
        <Card testId="card-exported" label="Spans exported" value={v(h?.exported)} raw={h?.exported} />
      </div>
    </section>
  )
}
