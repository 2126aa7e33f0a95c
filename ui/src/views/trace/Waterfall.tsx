// The Jaeger-style waterfall: a time ruler, then one row per span indented by depth, with a bar
// placed by offset and sized by duration (layout from lib/waterfall), coloured by gateway step.
// Subtrees collapse and expand; selecting a row shows its details beside.

import { useCallback, useMemo, useState } from 'react'
import { layoutWaterfall, type Step } from '../../lib/waterfall'
import { formatDuration } from '../../lib/format'
import type { Span } from '../../lib/types'
import { SpanRow } from './SpanRow'

const STEP_LABELS: Record<Step, string> = {
  root: 'Request (root)',
  prompt_construction: 'Prompt construction',
  llm_call: 'LLM call',
  post_processing: 'Post-processing',
  plugin: 'Plugin',
  app: 'Application (OTLP)',
  other: 'Other',
}

interface Props {
  spans: Span[]
  selected: string | null
  onSelect: (id: string) => void
}

export function Waterfall({ spans, selected, onSelect }: Props) {
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(() => new Set())
  const layout = useMemo(() => layoutWaterfall(spans, collapsed), [spans, collapsed])
  const toggle = useCallback(
    (id: string) =>
      setCollapsed((cur) => {
        const next = new Set(cur)
        if (next.has(id)) next.delete(id)
        else next.add(id)
        return next
      }),
    [],
  )
  const steps = useMemo(() => [...new Set(layout.rows.map((r) => r.step))], [layout])

  return (
    <section className="panel waterfall" aria-label="Span waterfall" data-testid="waterfall">
      <div className="wf-legend">
        {steps.map((s) => (
          <span key={s} className="wf-legend-item">
            <span className={`wf-swatch step-${s}`} aria-hidden="true" />
            {STEP_LABELS[s]}
          </span>
        ))}
        <span className="muted small">
          {layout.total} spans · {formatDuration(layout.rangeMs)}
        </span>
      </div>
      <div className="wf-row wf-ruler" aria-hidden="true">
        <div className="wf-label muted small">Span</div>
        <div className="wf-track" data-testid="ruler">
          {layout.ticks.map((t) => (
            <span key={t.ms} className="wf-tick" style={{ left: `${t.pct}%` }} data-testid="ruler-tick">
              <span className="wf-tick-label">{t.label}</span>
            </span>
          ))}
        </div>
      </div>
      <div className="wf-body">
        {/* Tick gridlines drawn once behind every row, aligned with the rows' track column. */}
        <div className="wf-row wf-grid" aria-hidden="true">
          <div />
          <div className="wf-track">
            {layout.ticks.map((t) => (
              <span key={t.ms} className="wf-gridline" style={{ left: `${t.pct}%` }} />
            ))}
          </div>
        </div>
        <div role="tree" aria-label="Spans">
          {layout.rows.map((r) => (
            <SpanRow key={r.id} row={r} selected={selected === r.id} onSelect={onSelect} onToggle={toggle} />
          ))}
        </div>
      </div>
    </section>
  )
}
