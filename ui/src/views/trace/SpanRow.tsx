// One waterfall row: indented name with a collapse toggle, and the span's bar on the time track.
// Memoised on what it draws, so collapsing or selecting re-renders only the rows that change.

import { memo } from 'react'
import { appService, type WaterfallRow } from '../../lib/waterfall'
import { formatDuration } from '../../lib/format'

interface Props {
  row: WaterfallRow
  selected: boolean
  onSelect: (id: string) => void
  onToggle: (id: string) => void
}

function SpanRowImpl({ row: r, selected, onSelect, onToggle }: Props) {
  return (
    <div
      role="treeitem"
      aria-level={r.depth + 1}
      aria-expanded={r.hasChildren ? !r.collapsed : undefined}
      aria-selected={selected}
      className={`wf-row${selected ? ' wf-selected' : ''}${r.span.status_code === 'error' ? ' wf-error' : ''}`}
      data-testid="span-row"
      data-span-id={r.id}
      data-depth={r.depth}
    >
      <div className="wf-label" style={{ paddingLeft: `${r.depth * 16 + 4}px` }}>
        {r.hasChildren ? (
          <button
            type="button"
            className="wf-toggle"
            aria-label={`${r.collapsed ? 'Expand' : 'Collapse'} ${r.span.name}`}
            aria-expanded={!r.collapsed}
            data-testid="span-toggle"
            onClick={() => onToggle(r.id)}
          >
            {r.collapsed ? '▸' : '▾'}
          </button>
        ) : (
          <span className="wf-toggle-space" />
        )}
        <button type="button" className="wf-name" onClick={() => onSelect(r.id)} title={r.span.name}>
          {r.span.name}
          {r.step === 'app' && (
            <span className="tag tag-app" data-testid="app-span" title="Sent by the application to POST /v1/traces">
              {appService(r.span) ?? 'app'}
            </span>
          )}
          {r.collapsed && <span className="muted small"> (+{r.descendantCount})</span>}
        </button>
      </div>
      <div className="wf-track" onClick={() => onSelect(r.id)}>
        <div
          className={`wf-bar step-${r.step}`}
          data-testid="span-bar"
          data-step={r.step}
          data-span-id={r.id}
          data-min-width={r.minWidth ? 'true' : 'false'}
          style={{ left: `${r.leftPct}%`, width: `${r.widthPct}%` }}
          title={`${r.span.name}: ${formatDuration(r.durationMs)} at +${formatDuration(r.startMs)}`}
        />
        <span className="wf-dur small" style={{ left: `calc(${r.leftPct + r.widthPct}% + 4px)` }}>
          {formatDuration(r.durationMs)}
        </span>
      </div>
    </div>
  )
}

export const SpanRow = memo(
  SpanRowImpl,
  (a, b) =>
    a.selected === b.selected &&
    a.onSelect === b.onSelect &&
    a.onToggle === b.onToggle &&
    a.row.span === b.row.span &&
    a.row.leftPct === b.row.leftPct &&
    a.row.widthPct === b.row.widthPct &&
    a.row.depth === b.row.depth &&
    a.row.collapsed === b.row.collapsed &&
    a.row.hasChildren === b.row.hasChildren,
)
