// One trace of a session, opened in place: its waterfall (the application's spans marked) and
// the selected span's details.

import { useState } from 'react'
import { getJson } from '../lib/api'
import { usePoll } from '../hooks/usePoll'
import { ErrorNote } from '../components/ErrorNote'
import { Waterfall } from './trace/Waterfall'
import { SpanPanel } from './trace/SpanPanel'

export function SessionTraceWaterfall({ traceId }: { traceId: string }) {
  const detail = usePoll((signal) => getJson('/api/traces/{trace_id}', { path: { trace_id: traceId }, signal }), 0, traceId)
  const [selected, setSelected] = useState<string | null>(null)
  const d = detail.data
  const span = d?.spans.find((s) => s.span_id === selected) ?? null
  return (
    <div className="st-detail" data-testid="session-trace-detail" data-trace-id={traceId}>
      <ErrorNote error={detail.error} onRetry={detail.reload} />
      {!d && !detail.error && <p className="muted">Loading trace…</p>}
      {d && (
        <div className="waterfall-layout">
          <Waterfall spans={d.spans} selected={selected} onSelect={setSelected} />
          <SpanPanel span={span} />
        </div>
      )}
    </div>
  )
}
