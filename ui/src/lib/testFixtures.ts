// Test fixtures: complete API objects (every field the OpenAPI document requires), with
// overrides, so unit tests type-check against the generated types. Used by *.test.ts only.

import type { LiveStats, Span, TraceSummary } from './types'

export function traceSummary(over: Partial<TraceSummary> & Pick<TraceSummary, 'trace_id'>): TraceSummary {
  const start = over.start_time_unix_nano ?? 0
  const duration = over.duration_ms ?? 1
  return {
    start_time_unix_nano: start,
    end_time_unix_nano: start + duration * 1e6,
    duration_ms: duration,
    stream: false,
    status: 'ok',
    unpriced: false,
    request_count: 1,
    breached: false,
    ...over,
  }
}

export function waterfallSpan(over: Partial<Span> & Pick<Span, 'span_id'>): Span {
  return {
    name: over.span_id,
    kind: 'internal',
    start_time_unix_nano: 0,
    end_time_unix_nano: 0,
    duration_ms: 0,
    offset_ms: 0,
    depth: 0,
    status_code: 'unset',
    attributes: {},
    events: [],
    ...over,
  }
}

export function liveStats(over: Partial<LiveStats> = {}): LiveStats {
  return {
    at_unix_nano: 1,
    requests_last_hour: 0,
    errors_last_hour: 0,
    requests_today: 0,
    cost_last_hour_usd: 0,
    cost_today_usd: 0,
    unpriced_last_hour: 0,
    unpriced_today: 0,
    ...over,
  }
}
