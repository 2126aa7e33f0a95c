// Reads the few gateway health metrics the dashboard shows out of Prometheus/OpenMetrics text.

export interface GatewayHealth {
  droppedQueueFull: number | null
  droppedExportError: number | null
  queueDepth: number | null
  exported: number | null
}

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
    exported: find('gateway_spans_exported_total'),
  }
}
