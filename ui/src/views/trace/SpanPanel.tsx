// The selected span's details: timing, status, every attribute and every event (values as text).

import { formatDuration, formatTime, formatValue } from '../../lib/format'
import type { Span, SpanEvent } from '../../lib/types'

export function SpanPanel({ span }: { span: Span | null }) {
  if (!span) {
    return (
      <aside className="panel span-panel" aria-label="Span details">
        <p className="muted">Select a span to see its attributes and events.</p>
      </aside>
    )
  }
  const attrs = Object.entries(span.attributes ?? {}).sort(([a], [b]) => a.localeCompare(b))
  const events = span.events ?? []
  return (
    <aside className="panel span-panel" aria-label="Span details" data-testid="span-panel">
      <h3>{span.name}</h3>
      <dl className="kv">
        <dt>Span id</dt>
        <dd className="mono">{span.span_id}</dd>
        <dt>Parent</dt>
        <dd className="mono">{span.parent_span_id ?? '—'}</dd>
        <dt>Kind</dt>
        <dd>{span.kind ?? '—'}</dd>
        <dt>Start</dt>
        <dd>
          {formatTime(span.start_time_unix_nano)} (+{formatDuration(span.offset_ms ?? 0)})
        </dd>
        <dt>Duration</dt>
        <dd>{formatDuration(span.duration_ms)}</dd>
        <dt>Status</dt>
        <dd>
          {span.status_code ?? 'unset'}
          {span.status_message ? `: ${span.status_message}` : ''}
        </dd>
      </dl>
      <h4>Attributes ({attrs.length})</h4>
      <table className="simple attrs">
        <tbody>
          {attrs.map(([k, v]) => (
            <tr key={k}>
              <th scope="row" className="mono">
                {k}
              </th>
              <td className="mono pre">{formatValue(v)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>Events ({events.length})</h4>
      {events.length === 0 ? (
        <p className="muted small">No events.</p>
      ) : (
        <ol className="events">
          {events.map(readEvent).map((e, i) => (
            <li key={i}>
              <strong>{e.name}</strong> <span className="muted small">{formatTime(e.time)}</span>
              {e.attributes.length > 0 && (
                <table className="simple attrs">
                  <tbody>
                    {e.attributes.map(([k, v]) => (
                      <tr key={k}>
                        <th scope="row" className="mono">
                          {k}
                        </th>
                        <td className="mono pre">{formatValue(v)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </li>
          ))}
        </ol>
      )}
    </aside>
  )
}

/** An event's `{name, time_unix_nano, attributes}` (untyped in the API document), as text. */
function readEvent(e: SpanEvent): { name: string; time: number | null; attributes: Array<[string, unknown]> } {
  const attrs = e.attributes
  return {
    name: typeof e.name === 'string' ? e.name : formatValue(e.name ?? '(unnamed event)'),
    time: typeof e.time_unix_nano === 'number' ? e.time_unix_nano : null,
    attributes: attrs && typeof attrs === 'object' && !Array.isArray(attrs) ? Object.entries(attrs) : [],
  }
}
