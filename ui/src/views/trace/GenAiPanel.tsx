// The GenAI summary above the waterfall: model, tokens, cost (or an unpriced warning), TTFT,
// finish reasons, errors, and captured prompt/answer content rendered as plain text.

import type { GenAiSummary } from '../../lib/genai'
import { formatDuration, formatTokens } from '../../lib/format'
import { Cost } from '../../components/Cost'

export function GenAiPanel({ s }: { s: GenAiSummary }) {
  return (
    <section className="panel genai" aria-label="GenAI summary" data-testid="genai-summary">
      <dl className="genai-grid">
        <div>
          <dt>Model</dt>
          <dd data-testid="genai-model">
            {s.model ?? '—'}
            {s.responseModel && s.responseModel !== s.model ? (
              <span className="muted small" data-testid="genai-served-model" title={s.routed ? 'Auto-routed: priced by the model that served' : undefined}>
                {' → '}
                {s.responseModel}
                {s.routed ? ' (routed)' : ''}
              </span>
            ) : null}
          </dd>
        </div>
        <div>
          <dt>Tier</dt>
          <dd data-testid="genai-tier">
            {s.serviceTier ?? 'standard'}
            {s.tierDowngraded ? <span className="muted small"> (priority requested, downgraded)</span> : null}
          </dd>
        </div>
        <div>
          <dt>Tokens in</dt>
          <dd data-testid="genai-input-tokens">{formatTokens(s.inputTokens)}</dd>
        </div>
        <div>
          <dt>Tokens out</dt>
          <dd data-testid="genai-output-tokens">{formatTokens(s.outputTokens)}</dd>
        </div>
        <div>
          <dt>Cached</dt>
          <dd>{formatTokens(s.cachedTokens)}</dd>
        </div>
        <div>
          <dt>Reasoning</dt>
          <dd>{formatTokens(s.reasoningTokens)}</dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd data-testid="genai-cost">
            <Cost usd={s.unpriced ? null : s.costUsd} unpriced={s.unpriced} />
          </dd>
        </div>
        <div>
          <dt>TTFT</dt>
          <dd data-testid="genai-ttft">{formatDuration(s.ttftMs)}</dd>
        </div>
        <div>
          <dt>Finish</dt>
          <dd data-testid="genai-finish">{s.finishReasons.length ? s.finishReasons.join(', ') : '—'}</dd>
        </div>
      </dl>
      {s.errorType && (
        <p className="note note-bad">
          Error: <span className="mono">{s.errorType}</span>
        </p>
      )}
      {s.pluginErrors.map((e, i) => (
        <p key={i} className="note note-warn">
          Plugin error in {e.span}: <span className="mono">{e.error}</span>
        </p>
      ))}
      {s.content.length > 0 ? (
        <div className="content">
          {s.content.map((c) => (
            <details key={c.label} open={c.label !== 'System instructions'}>
              <summary>{c.label}</summary>
              <pre className="captured" data-testid="captured-content">
                {c.text}
              </pre>
            </details>
          ))}
        </div>
      ) : (
        <p className="muted small">Prompt and answer content not captured (enable [capture] content in the gateway config).</p>
      )}
    </section>
  )
}
