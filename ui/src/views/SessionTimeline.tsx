// The session's time line: a ruler over the whole session, then one row per trace with its bar
// on the shared axis and its running totals (tokens, cost, latency up to and including it).
// A row's toggle opens the trace's waterfall below it.

import { Fragment, useMemo, useState } from 'react'
import { formatCost, formatCount, formatDuration, formatMoney, formatTime, shortId } from '../lib/format'
import { layoutTimeline, modelsLabel, type SessionTrace } from '../lib/session'
import { traceHref } from '../lib/route'
import { Cost, StatusBadge } from '../components/Cost'
import { SessionTraceWaterfall } from './SessionTraceWaterfall'

interface Props {
  traces: SessionTrace[]
  start?: number | null
  end?: number | null
}

export function SessionTimeline({ traces, start, end }: Props) {
  const layout = useMemo(() => layoutTimeline(traces, { start, end }), [traces, start, end])
  const [open, setOpen] = useState<ReadonlySet<string>>(() => new Set())
  const toggle = (id: string) =>
    setOpen((cur) => {
      const n = new Set(cur)
      if (n.has(id)) n.delete(id)
      else n.add(id)
      return n
    })
  return (
    <section className="panel session-timeline" aria-label="Session timeline" data-testid="session-timeline">
      <div className="st-row st-ruler" aria-hidden="true">
        <div className="st-label muted small">Trace</div>
        <div className="wf-track">
          {layout.ticks.map((t) => (
            <span key={t.ms} className="wf-tick" style={{ left: `${t.pct}%` }}>
              <span className="wf-tick-label">{t.label}</span>
            </span>
          ))}
        </div>
        <div className="st-cum muted small">Running in / out · cost · latency</div>
      </div>
      {layout.bars.map((b) => {
        const t = b.trace
        const c = t.cumulative
        const isOpen = open.has(t.trace_id)
        return (
          <Fragment key={t.trace_id}>
            <div className={`st-row${t.status !== 'ok' ? ' wf-error' : ''}`} data-testid="session-trace" data-trace-id={t.trace_id}>
              <div className="st-label">
                <button
                  type="button"
                  className="wf-toggle"
                  aria-expanded={isOpen}
                  aria-label={`${isOpen ? 'Hide' : 'Show'} the waterfall of trace ${t.trace_id}`}
                  data-testid="session-trace-toggle"
                  onClick={() => toggle(t.trace_id)}
                >
                  {isOpen ? '▾' : '▸'}
                </button>
                <span className="mono small">{formatTime(t.start_time_unix_nano)}</span>
                <a className="mono small" href={traceHref(t.trace_id)} title={t.trace_id}>
                  {shortId(t.trace_id)}
                </a>
                <span className="ellipsis small" title={modelsLabel(t)}>
                  {modelsLabel(t)}
                </span>
                {t.app_span_count > 0 && (
                  <span className="tag tag-app" title={`${t.app_span_count} span(s) sent by the application`}>
                    agent
                  </span>
                )}
                {t.status !== 'ok' && <StatusBadge status={t.status} />}
              </div>
              <div className="wf-track" onClick={() => toggle(t.trace_id)}>
                <div
                  className={`wf-bar ${t.app_span_count > 0 ? 'step-app' : 'step-llm_call'}`}
                  data-testid="session-bar"
                  style={{ left: `${b.leftPct}%`, width: `${b.widthPct}%` }}
                  title={`${formatDuration(b.durationMs)} at +${formatDuration(b.offsetMs)} · ${formatCount(t.input_tokens)} in / ${formatCount(t.output_tokens)} out · ${formatCost(t.cost_usd, t.unpriced)}`}
                />
              </div>
              <div className="st-cum small num" data-testid="session-cumulative" data-input={c.input_tokens} data-output={c.output_tokens} data-cost={c.cost_usd ?? ''} data-duration={c.duration_ms}>
                {formatCount(c.input_tokens)} / {formatCount(c.output_tokens)} · {c.cost_usd === null ? <Cost usd={null} unpriced={c.unpriced > 0} /> : formatMoney(c.cost_usd)}
                {c.unpriced > 0 && c.cost_usd !== null && <span className="badge badge-warn" title={`${c.unpriced} unpriced trace(s) so far, not in the cost`}>+{c.unpriced}</span>} ·{' '}
                {formatDuration(c.duration_ms)}
              </div>
            </div>
            {isOpen && <SessionTraceWaterfall traceId={t.trace_id} />}
          </Fragment>
        )
      })}
    </section>
  )
}
