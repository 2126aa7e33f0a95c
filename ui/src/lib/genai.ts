// Extracts the GenAI summary of a trace (model, tokens, cost, TTFT, finish reasons, captured
// content) from its summary row and its spans' semantic-convention attributes.

import type { Span, TraceSummary } from './types'

export interface GenAiSummary {
  model: string | null
  responseModel: string | null
  /** The served model differs from the requested one (auto-routing). */
  routed: boolean
  /** The service tier that served the call (standard, flex, priority, batch). */
  serviceTier: string | null
  /** A priority request served (and priced) at standard. */
  tierDowngraded: boolean
  inputTokens: number | null
  outputTokens: number | null
  cachedTokens: number | null
  reasoningTokens: number | null
  /** null = unpriced. */
  costUsd: number | null
  unpriced: boolean
  ttftMs: number | null
  finishReasons: string[]
  errorType: string | null
  pluginErrors: Array<{ span: string; error: string }>
  /** Captured content (only with capture on), as display text. */
  content: Array<{ label: string; text: string }>
}

const CONTENT_KEYS: Array<[string, string]> = [
  ['gen_ai.system_instructions', 'System instructions'],
  ['gen_ai.input.messages', 'Input messages'],
  ['gen_ai.output.messages', 'Output messages'],
]

function first<T>(spans: Span[], key: string, pick: (v: unknown) => T | undefined): T | undefined {
  for (const s of spans) {
    const v = s.attributes?.[key]
    if (v === undefined || v === null) continue
    const p = pick(v)
    if (p !== undefined) return p
  }
  return undefined
}

const asNum = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined)
const asStr = (v: unknown) => (typeof v === 'string' ? v : undefined)

/** Captured content as readable text: JSON (or a JSON string) pretty-printed, other text verbatim. */
export function contentText(v: unknown): string {
  if (typeof v === 'string') {
    try {
      const parsed: unknown = JSON.parse(v)
      if (parsed && typeof parsed === 'object') return JSON.stringify(parsed, null, 2)
    } catch {
      // plain text
    }
    return v
  }
  return JSON.stringify(v, null, 2) ?? ''
}

export function genAiSummary(trace: TraceSummary, spans: Span[]): GenAiSummary {
  // The LLM call span is the best source; then the rest in order.
  const ordered = [...spans.filter((s) => s.attributes?.['gateway.step'] === 'llm_call'), ...spans]
  const finish = first(ordered, 'gen_ai.response.finish_reasons', (v) =>
    Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : undefined,
  )
  let ttft: number | null | undefined = trace.ttft_ms ?? first(ordered, 'gateway.ttft_ms', asNum)
  if (ttft === undefined || ttft === null) {
    const s = first(ordered, 'gen_ai.response.time_to_first_chunk', asNum)
    ttft = s === undefined ? null : s * 1000
  }
  const unpricedAttr = first(ordered, 'gateway.cost.unpriced', (v) => (typeof v === 'boolean' ? v : undefined))
  const cost = trace.cost_usd ?? first(ordered, 'gateway.cost.usd', asNum) ?? null
  const content: GenAiSummary['content'] = []
  for (const [key, label] of CONTENT_KEYS) {
    for (const s of ordered) {
      const v = s.attributes?.[key]
      if (v !== undefined && v !== null) {
        content.push({ label, text: contentText(v) })
        break
      }
    }
  }
  const pluginErrors: GenAiSummary['pluginErrors'] = []
  for (const s of spans) {
    const e = s.attributes?.['gateway.plugin.error']
    if (e !== undefined && e !== null) pluginErrors.push({ span: s.name, error: typeof e === 'string' ? e : JSON.stringify(e) })
  }
  return {
    model: trace.model ?? first(ordered, 'gen_ai.request.model', asStr) ?? null,
    responseModel: first(ordered, 'gen_ai.response.model', asStr) ?? null,
    routed: first(ordered, 'gateway.model.routed', (v) => (typeof v === 'boolean' ? v : undefined)) ?? false,
    serviceTier: first(ordered, 'gateway.service_tier', asStr) ?? null,
    tierDowngraded: first(ordered, 'gateway.service_tier.downgraded', (v) => (typeof v === 'boolean' ? v : undefined)) ?? false,
    inputTokens: trace.input_tokens ?? first(ordered, 'gen_ai.usage.input_tokens', asNum) ?? null,
    outputTokens: trace.output_tokens ?? first(ordered, 'gen_ai.usage.output_tokens', asNum) ?? null,
    cachedTokens: trace.cached_tokens ?? first(ordered, 'gen_ai.usage.cache_read.input_tokens', asNum) ?? null,
    reasoningTokens: trace.reasoning_tokens ?? first(ordered, 'gen_ai.usage.reasoning.output_tokens', asNum) ?? null,
    costUsd: cost,
    // The stored rule (docs/schema.md, Unpriced); the span flag only where no trace row says.
    unpriced: trace.unpriced ?? unpricedAttr === true,
    ttftMs: ttft ?? null,
    finishReasons: finish ?? [],
    errorType: trace.error_type ?? first(ordered, 'error.type', asStr) ?? null,
    pluginErrors,
    content,
  }
}
