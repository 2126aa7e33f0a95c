// Reads the few gateway health metrics the dashboard shows out of Prometheus/OpenMetrics text:
// the span writer's figures and the loss and metering counters (COUNTERS says what each means):
// traces and alert-feed rows lost with dropped spans, write retries behind a sibling's lock,
// unmetered usage, unpriced calls, tier downgrades, decode errors, label overflow.

export interface GatewayHealth {
  droppedQueueFull: number | null
  droppedExportError: number | null
  queueDepth: number | null
  /** Span data waiting for the writer and the queue's bound, in the queue's estimated bytes. */
  queueBytes: number | null
  queueBytesLimit: number | null
  exported: number | null
  /** The loss and metering counters by metric name; null when the server does not expose one. */
  counters: Record<CounterName, number | null>
}

/** The gateway's loss and metering counters, each with a one-line explanation. */
export const COUNTERS = [
  {
    name: 'gateway_traces_dropped_total',
    label: 'Traces lost',
    explain: 'Requests whose trace summary was never written (their spans were dropped): missing from traces, cost and latency.',
  },
  {
    name: 'gateway_metric_snapshots_dropped_total',
    label: 'Alert-feed rows lost',
    explain: 'metric_snapshots rows lost with their spans: the alert feed never had them.',
  },
  {
    name: 'gateway_breached_snapshots_dropped_total',
    label: 'Alerts lost',
    explain: 'Breached metric_snapshots rows among them: alerts an alerting engine will never see.',
  },
  {
    name: 'gateway_span_write_retries_total',
    label: 'Write retries',
    explain: 'Batches written again because another program held the database write lock past busy_timeout_ms (kept, not lost).',
  },
  {
    name: 'gateway_unmetered_usage_total',
    label: 'Unmetered usage',
    explain: 'Answers with token usage on a path no Gemini surface recognises: traced, but not metered.',
  },
  {
    name: 'gateway_unpriced_calls_total',
    label: 'Unpriced calls',
    explain: 'Model calls with no price in the price table: cost unknown, never counted as $0.',
  },
  {
    name: 'gateway_service_tier_downgrades_total',
    label: 'Tier downgrades',
    explain: 'Priority requests that Gemini served, and the gateway priced, at the standard tier.',
  },
  {
    name: 'gateway_response_decode_errors_total',
    label: 'Decode errors',
    explain: 'Compressed answers the gateway could not decode: clients got them intact, traces may lack usage.',
  },
  {
    name: 'gateway_metric_label_overflow_total',
    label: 'Label overflow',
    explain: 'Label values recorded as _OTHER (too long, malformed or too many): per-label /metrics series are incomplete.',
  },
] as const

export type CounterName = (typeof COUNTERS)[number]['name']

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parses sample lines (`name{a="b"} 12`); comments and malformed lines are skipped. */
export function parseProm(text: string): Sample[] {
  const out: Sample[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line)
    if (!m) continue
    const value = Number(m[4])
    if (Number.isNaN(value)) continue
    const labels: Record<string, string> = {}
    if (m[3]) {
      for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2]
    }
    out.push({ name: m[1], labels, value })
  }
  return out
}

/** The writer health figures; each is null when the metric is absent (e.g. standalone API). */
export function gatewayHealth(text: string): GatewayHealth {
  const samples = parseProm(text)
  const find = (name: string, label?: [string, string]) =>
    samples.find((s) => s.name === name && (!label || s.labels[label[0]] === label[1]))?.value ?? null
  return {
    droppedQueueFull: find('gateway_spans_dropped_total', ['reason', 'queue_full']),
    droppedExportError: find('gateway_spans_dropped_total', ['reason', 'export_error']),
    queueDepth: find('gateway_writer_queue_depth'),
    queueBytes: find('gateway_writer_queue_bytes'),
    queueBytesLimit: find('gateway_writer_queue_bytes_limit'),
    exported: find('gateway_spans_exported_total'),
    counters: Object.fromEntries(COUNTERS.map((c) => [c.name, find(c.name)])) as Record<CounterName, number | null>,
  }
}

/** How full the writer's queue is, as a fraction of its byte bound (past it spans are dropped);
 * null when the server does not say. */
export function queueFill(h: GatewayHealth | null): number | null {
  if (!h || h.queueBytes === null || !h.queueBytesLimit) return null
  return h.queueBytes / h.queueBytesLimit
}
