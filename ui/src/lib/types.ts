// API types: the JSON shapes served by the gateway API (/api/*). Fields the dashboard does not
// strictly need are optional so that older or newer servers still render.

export type TraceStatus = 'ok' | 'error' | 'cancelled' | string

export interface TraceSummary {
  trace_id: string
  start_time_unix_nano: number
  end_time_unix_nano?: number
  duration_ms: number
  model?: string | null
  operation?: string | null
  stream?: boolean
  status: TraceStatus
  http_status?: number | null
  error_type?: string | null
  input_tokens?: number | null
  output_tokens?: number | null
  cached_tokens?: number | null
  reasoning_tokens?: number | null
  ttft_ms?: number | null
  /** null = unpriced (never $0). */
  cost_usd?: number | null
  unpriced?: boolean
  user_id?: string | null
  session_id?: string | null
  request_count?: number
  breached?: boolean
}

export interface TracePage {
  traces: TraceSummary[]
  next: string | null
}

export interface SpanEvent {
  name: string
  time_unix_nano?: number
  attributes?: Record<string, unknown>
}

export interface Span {
  span_id: string
  parent_span_id?: string | null
  name: string
  kind?: string
  start_time_unix_nano?: number
  end_time_unix_nano?: number
  duration_ms?: number
  offset_ms?: number
  depth?: number
  status_code?: string
  status_message?: string | null
  attributes?: Record<string, unknown>
  events?: SpanEvent[]
}

export interface MetricSnapshot {
  id: number
  trace_id: string
  metric: string
  value: number
  threshold?: number | null
  breached: boolean
  model?: string | null
  created_at_unix_nano: number
}

export interface TraceDetail {
  trace: TraceSummary
  spans: Span[]
  metric_snapshots: MetricSnapshot[]
}

export interface LatencyReport {
  count: number
  p50_ms: number | null
  p95_ms: number | null
  p99_ms: number | null
  ttft_count?: number
  ttft_p50_ms: number | null
  ttft_p95_ms: number | null
  ttft_p99_ms: number | null
  groups: Array<{ key: string | null; count: number; p50_ms: number | null; p95_ms: number | null; p99_ms: number | null }>
}

export interface CostGroup {
  key: string | null
  usd: number | null
  requests: number
  unpriced?: number
  input_tokens?: number
  output_tokens?: number
}

export interface CostReport {
  total_usd: number
  requests?: number
  unpriced_count: number
  input_tokens?: number
  output_tokens?: number
  groups: CostGroup[]
  series: Array<{ t: number; usd: number; requests?: number; unpriced?: number }>
}
