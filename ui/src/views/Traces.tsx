// The traces page: filters, a virtualised newest-first list fed by REST pages ("load more")
// and by live traces from the WebSocket (deduplicated by trace_id); rows open the trace.

import { useCallback, useEffect, useRef, useState } from 'react'
import { getJson } from '../lib/api'
import { filtersFromParams, filtersToParams, matchesFilters } from '../lib/filters'
import { mergeTraces } from '../lib/live'
import { formatCount } from '../lib/format'
import type { TraceSummary } from '../lib/types'
import { toError } from '../lib/errors'
import { useLiveTraces } from '../hooks/useLive'
import { ErrorNote } from '../components/ErrorNote'
import { FilterBar } from './traces/FilterBar'
import { TraceTable } from './traces/TraceTable'

export const PAGE_SIZE = 500

export function Traces({ params }: { params: URLSearchParams }) {
  // Canonical query string of the filters: the identity of the list.
  const query = filtersToParams(filtersFromParams(params)).toString()
  const [rows, setRows] = useState<TraceSummary[]>([])
  const [next, setNext] = useState<string | null>(null)
  const [loading, setLoading] = useState(false)
  const [error, setError] = useState<Error | null>(null)
  // Bumped on each filter change so that answers for old filters are ignored.
  const generation = useRef(0)

  const request = useCallback(
    (before: string | null) =>
      getJson('/api/traces', {
        query: {
          ...Object.fromEntries(new URLSearchParams(query)),
          limit: PAGE_SIZE,
          before: before ?? undefined,
        },
      }),
    [query],
  )

  /** Loads the first page (before = null) or the page after the cursor; moves the cursor. */
  const loadPage = useCallback(
    async (before: string | null) => {
      const gen = generation.current
      setLoading(true)
      try {
        const page = await request(before)
        if (gen !== generation.current) return
        setRows((cur) => mergeTraces(cur, page.traces))
        setNext(page.next ?? null)
        setError(null)
      } catch (e) {
        if (gen === generation.current) setError(toError(e))
      } finally {
        if (gen === generation.current) setLoading(false)
      }
    },
    [request],
  )

  useEffect(() => {
    generation.current++
    setRows([])
    setNext(null)
    void loadPage(null)
  }, [loadPage])

  useLiveTraces((batch) => {
    const f = filtersFromParams(new URLSearchParams(query))
    const keep = batch.traces.filter((t) => matchesFilters(t, f))
    if (keep.length) setRows((cur) => mergeTraces(cur, keep))
    if (batch.snapshot) {
      // After a reconnect, traces may have arrived while offline: re-read the newest page
      // (merged, so nothing is duplicated; the "load more" cursor is left as it is).
      const gen = generation.current
      request(null)
        .then((page) => {
          if (gen === generation.current) setRows((cur) => mergeTraces(cur, page.traces))
        })
        .catch(() => {})
    }
  })

  return (
    <div className="traces">
      <FilterBar filters={filtersFromParams(params)} />
      <ErrorNote error={error} onRetry={() => void loadPage(null)} />
      <div className="table-meta">
        <span data-testid="trace-count" data-count={rows.length}>
          {formatCount(rows.length)} traces loaded
        </span>
        {loading && <span className="muted"> · loading…</span>}
      </div>
      <TraceTable rows={rows} />
      <div className="load-more">
        <button type="button" onClick={() => next !== null && void loadPage(next)} disabled={next === null || loading} data-testid="load-more">
          {next === null ? (loading ? 'Loading…' : 'No more traces') : `Load ${PAGE_SIZE} more`}
        </button>
      </div>
    </div>
  )
}
