// The trace filters as a form; applying writes them to the hash (`#/traces?model=…`), so a
// filtered list can be bookmarked and shared.

import { useEffect, useState } from 'react'
import { filtersToParams, type TraceFilters } from '../../lib/filters'
import { tracesHref } from '../../lib/route'

export function FilterBar({ filters }: { filters: TraceFilters }) {
  const [f, setF] = useState<TraceFilters>(filters)
  const key = filtersToParams(filters).toString()
  useEffect(() => setF(filters), [key]) // `filters` is identified by `key`
  const set = (k: keyof TraceFilters) => (e: { target: { value: string } }) => setF((cur) => ({ ...cur, [k]: e.target.value }))
  const apply = (next: TraceFilters) => {
    window.location.hash = tracesHref(filtersToParams(next)).slice(1)
  }
  return (
    <form
      className="filters"
      aria-label="Trace filters"
      onSubmit={(e) => {
        e.preventDefault()
        apply(f)
      }}
    >
      <label>
        Model
        <input value={f.model ?? ''} onChange={set('model')} placeholder="any" />
      </label>
      <label>
        Status
        <select value={f.status ?? ''} onChange={set('status')}>
          <option value="">any</option>
          <option value="ok">ok</option>
          <option value="error">error</option>
          <option value="cancelled">cancelled</option>
        </select>
      </label>
      <label>
        User
        <input value={f.user_id ?? ''} onChange={set('user_id')} />
      </label>
      <label>
        Session
        <input value={f.session_id ?? ''} onChange={set('session_id')} />
      </label>
      <label>
        Min duration (ms)
        <input type="number" min="0" step="any" value={f.min_duration_ms ?? ''} onChange={set('min_duration_ms')} className="narrow" />
      </label>
      <label>
        Min cost ($)
        <input type="number" min="0" step="any" value={f.min_cost_usd ?? ''} onChange={set('min_cost_usd')} className="narrow" />
      </label>
      <label>
        Breached
        <select value={f.breached ?? ''} onChange={set('breached')}>
          <option value="">any</option>
          <option value="true">yes</option>
          <option value="false">no</option>
        </select>
      </label>
      <button type="submit">Apply</button>
      <button
        type="button"
        onClick={() => {
          setF({})
          apply({})
        }}
      >
        Clear
      </button>
    </form>
  )
}
