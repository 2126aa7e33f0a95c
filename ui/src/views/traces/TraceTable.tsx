// The virtualised trace table: a real <table> (header cells, rows) of which only the rows in
// view (plus overscan) are in the DOM; spacer rows keep the scroll height. Row click or Enter
// opens the trace.

import { memo, useRef } from 'react'
import { useVirtualizer } from '@tanstack/react-virtual'
import type { TraceSummary } from '../../lib/types'
import { formatDuration, formatTime, formatTokens, shortId } from '../../lib/format'
import { traceHref } from '../../lib/route'
import { sessionHref } from '../../lib/session'
import { isRunning } from '../../lib/live'
import { Cost, StatusBadge } from '../../components/Cost'

export const ROW_HEIGHT = 34
const COLUMNS = 11

export function TraceTable({ rows }: { rows: TraceSummary[] }) {
  const scroller = useRef<HTMLDivElement>(null)
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    getItemKey: (i) => rows[i].trace_id,
    initialRect: { width: 1200, height: 600 },
  })
  const items = virtualizer.getVirtualItems()
  const top = items.length ? items[0].start : 0
  const bottom = items.length ? virtualizer.getTotalSize() - items[items.length - 1].end : 0
  return (
    <div className="table-scroll" ref={scroller} data-testid="trace-table">
      <table className="traces-table">
        <colgroup>
          <col style={{ width: '9.5em' }} />
          <col style={{ width: '7em' }} />
          <col />
          <col style={{ width: '6em' }} />
          <col style={{ width: '6em' }} />
          <col style={{ width: '6em' }} />
          <col style={{ width: '10em' }} />
          <col style={{ width: '8em' }} />
          <col />
          <col />
          <col style={{ width: '5em' }} />
        </colgroup>
        <thead>
          <tr>
            <th scope="col">Start</th>
            <th scope="col">Trace</th>
            <th scope="col">Model</th>
            <th scope="col">Status</th>
            <th scope="col" className="num">Duration</th>
            <th scope="col" className="num">TTFT</th>
            <th scope="col" className="num">Tokens in / out</th>
            <th scope="col" className="num">Cost</th>
            <th scope="col">User</th>
            <th scope="col">Session</th>
            <th scope="col">Breach</th>
          </tr>
        </thead>
        <tbody>
          {top > 0 && (
            <tr aria-hidden="true" className="spacer">
              <td colSpan={COLUMNS} style={{ height: top }} />
            </tr>
          )}
          {items.map((item) => (
            <TraceRow key={item.key} t={rows[item.index]} />
          ))}
          {bottom > 0 && (
            <tr aria-hidden="true" className="spacer">
              <td colSpan={COLUMNS} style={{ height: bottom }} />
            </tr>
          )}
        </tbody>
      </table>
      {rows.length === 0 && <p className="muted empty">No traces yet. Send a request through the gateway.</p>}
    </div>
  )
}

function open(id: string) {
  window.location.hash = traceHref(id).slice(1)
}

/** One row; memoised on the trace object (merging keeps unchanged objects identical). */
const TraceRow = memo(function TraceRow({ t }: { t: TraceSummary }) {
  return (
    <tr
      data-testid="trace-row"
      data-trace-id={t.trace_id}
      className={t.status !== 'ok' && !isRunning(t) ? 'row-bad' : undefined}
      style={{ height: ROW_HEIGHT }}
      onClick={() => open(t.trace_id)}
    >
      <td className="mono">{formatTime(t.start_time_unix_nano)}</td>
      <td className="mono">
        <a href={traceHref(t.trace_id)} onClick={(e) => e.stopPropagation()} title={t.trace_id}>
          {shortId(t.trace_id)}
        </a>
      </td>
      <td className="ellipsis" title={t.model ?? undefined}>
        {t.model ?? '—'}
        {t.stream ? <span className="tag">stream</span> : null}
      </td>
      <td>
        <StatusBadge status={t.status} />
      </td>
      <td className="num">{formatDuration(t.duration_ms)}</td>
      <td className="num">{formatDuration(t.ttft_ms)}</td>
      <td className="num">
        {formatTokens(t.input_tokens)} / {formatTokens(t.output_tokens)}
      </td>
      <td className="num" data-col="cost">
        <Cost usd={t.cost_usd} unpriced={t.unpriced} />
      </td>
      <td className="ellipsis" data-col="user" title={t.user_id ?? undefined}>
        {t.user_id ?? ''}
      </td>
      <td className="ellipsis" title={t.session_id ?? undefined}>
        {t.session_id ? (
          <a href={sessionHref(t.session_id)} onClick={(e) => e.stopPropagation()} data-testid="session-link">
            {t.session_id}
          </a>
        ) : (
          ''
        )}
      </td>
      <td>{t.breached ? <span className="badge badge-bad">breach</span> : null}</td>
    </tr>
  )
})
