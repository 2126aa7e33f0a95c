// A headline figure: label, formatted value (data-testid `card-…`), optional hint and warning tone.

import type { ReactNode } from 'react'

interface Props {
  testId: string
  label: string
  value: string
  /** Raw number behind the value, exposed as data-value for tests and tooltips. */
  raw?: number | null
  hint?: ReactNode
  tone?: 'normal' | 'warn' | 'bad'
}

export function Card({ testId, label, value, raw, hint, tone = 'normal' }: Props) {
  return (
    <div className={`card card-${tone}`} data-testid={testId} data-value={raw ?? ''}>
      <div className="card-label">{label}</div>
      <div className="card-value" title={raw !== null && raw !== undefined ? String(raw) : undefined}>
        {value}
      </div>
      {hint && <div className="card-hint">{hint}</div>}
    </div>
  )
}
