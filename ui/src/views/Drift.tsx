// The drift page: the drift detector's windows, a page at a time (oldest first, as the API pages
// them), each with the LLM calls (spans) on which a metric breached inside the window and the
// slowest and costliest traces of that window (linking to the trace). Nothing is cut silently:
// a window whose calls exceed the per-window cap says how many it has.

import { useState } from 'react'
import { getJson } from '../lib/api'
import { formatDuration, formatMetric, formatTime, formatTokens, shortId } from '../lib/format'
import { traceHref } from '../lib/route'
import type { DriftCorrelation, WorstTrace } from '../lib/types'
import { usePoll } from '../hooks/usePoll'
import { ErrorNote } from '../components/ErrorNote'
import { Cost, StatusBadge } from '../components/Cost'

/** An LLM call of a window on which at least one metric breached. */
export type BreachedSpan = DriftCorrelation['breached_spans'][number]

export function Drift() {
  // `after` is the cursor of the page shown (null: the first page); `back` the cursors of the
  // pages before it, for "Previous".
  const [after, setAfter] = useState<string | null>(null)
  const [back, setBack] = useState<(string | null)[]>([])
  const drift = usePoll(
    (signal) => getJson('/api/correlations/drift', { query: { after }, signal }),
    15_000,
    `drift:${after ?? ''}`,
  )
  const items = drift.data?.correlations ?? []
  const table = drift.data?.table ?? 'drift_snapshots'
  const next = drift.data?.has_more ? (drift.data.next ?? null) : null
  return (
    <div className="drift">
      <h2>Drift</h2>
      <p className="muted">
        Drifted rows of a drift detector&apos;s table (<span className="mono">{table}</span>, read only, mapped by{' '}
        <span className="mono">[drift]</span> in gateway.toml), oldest window first, each with the LLM calls that
        breached a threshold inside its window.
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
        <p className="muted">{after === null ? 'No drifted rows recorded.' : 'No windows after the previous page.'}</p>
      )}
      {items.map((item, i) => (
        <DriftCard key={item.drift.id ?? `row-${i}`} item={item} />
      ))}
      {drift.data?.table_found && (back.length > 0 || next !== null) && (
        <p className="note" data-testid="drift-pager">
          <button
            type="button"
            disabled={back.length === 0}
            onClick={() => {
              setAfter(back[back.length - 1] ?? null)
              setBack(back.slice(0, -1))
            }}
          >
            ← Previous windows
          </button>
          <span className="muted small">
            page {back.length + 1} · up to {drift.data.limit} windows a page
          </span>
          <button
            type="button"
            disabled={next === null}
            data-testid="drift-next"
            onClick={() => {
              if (next === null) return
              setBack([...back, after])
              setAfter(next)
            }}
          >
            Next windows →
          </button>
        </p>
      )}
    </div>
  )
}

export function DriftCard({ item }: { item: DriftCorrelation }) {
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
        <BreachedSpans item={item} />
        <TraceList title="Slowest traces" traces={item.slowest_traces} />
        <TraceList title="Costliest traces" traces={item.costliest_traces} />
      </div>
    </section>
  )
}

function BreachedSpans({ item }: { item: DriftCorrelation }) {
  const spans = item.breached_spans
  return (
    <div data-testid="drift-spans">
      <h4>
        Breached LLM calls ({item.spans_truncated ? `${spans.length} of ${item.spans_total}` : item.spans_total})
      </h4>
      {spans.length === 0 ? (
        <p className="muted small">None in this window.</p>
      ) : (
        <ul className="plain">
          {spans.map((sp) => (
            <SpanItem key={sp.span_id} span={sp} />
          ))}
        </ul>
      )}
      {item.spans_truncated && (
        <p className="muted small" data-testid="drift-spans-truncated">
          Showing the first {spans.length} of {item.spans_total} calls (by start time).
        </p>
      )}
      {item.unattributed_breaches > 0 && (
        <p className="muted small" data-testid="drift-unattributed">
          + {item.unattributed_breaches} breached row{item.unattributed_breaches === 1 ? '' : 's'} naming no stored LLM
          call.
        </p>
      )}
    </div>
  )
}

function SpanItem({ span }: { span: BreachedSpan }) {
  return (
    <li>
      <a href={traceHref(span.trace_id)} className="mono" title={`span ${span.span_id}`}>
        {shortId(span.trace_id)}
      </a>{' '}
      {span.model ?? ''} · {formatDuration(span.duration_ms)} · {formatTokens(span.input_tokens)} in /{' '}
      {formatTokens(span.output_tokens)} out · <Cost usd={span.cost_usd} unpriced={span.unpriced} />
      <br />
      {span.breaches.map((b) => (
        <span key={b.snapshot_id} className="badge badge-bad">
          {b.metric} = {formatMetric(b.metric, b.value)}
          {b.threshold != null && <> &gt; {formatMetric(b.metric, b.threshold)}</>}
        </span>
      ))}
    </li>
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
              {t.model ?? ''} · {formatDuration(t.duration_ms)} · <Cost usd={t.cost_usd} unpriced={t.unpriced} /> <StatusBadge status={t.status} />
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}
