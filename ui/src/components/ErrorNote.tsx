// The one way a view shows a failed request: what went wrong, the HTTP status, the API's own
// message verbatim and what to do (lib/errors.ts). On 401 it offers a field to set the token the
// dashboard sends (kept in localStorage). `compact` drops the advice and the token form, for
// panels next to a full note of the same page.

import { useState } from 'react'
import { getToken, setToken } from '../lib/api'
import { describeError } from '../lib/errors'

interface Props {
  error: unknown
  onRetry?: () => void
  compact?: boolean
}

export function ErrorNote({ error, onRetry, compact = false }: Props) {
  const [token, setTok] = useState('')
  if (error === null || error === undefined) return null
  const tokenSet = getToken() !== null
  const e = describeError(error, { tokenSet })
  return (
    <div className={`note note-bad error-note${compact ? ' error-compact' : ''}`} role="alert" data-testid="api-error" data-status={e.status ?? ''} data-kind={e.kind}>
      <div className="error-head">
        <strong>{e.title}</strong>
        {e.status !== null && <span className="badge badge-bad" data-testid="error-status">HTTP {e.status}</span>}
      </div>
      <p className="error-message mono" data-testid="error-message">
        {e.message}
      </p>
      {!compact && (
        <p className="error-hint" data-testid="error-hint">
          {e.hint}
        </p>
      )}
      {!compact && e.kind === 'unauthorized' && (
        <form
          className="error-token"
          onSubmit={(ev) => {
            ev.preventDefault()
            setToken(token.trim() || null)
            window.location.reload()
          }}
        >
          <label>
            Token{' '}
            <input type="password" value={token} onChange={(ev) => setTok(ev.target.value)} autoComplete="off" data-testid="token-input" />
          </label>
          <button type="submit">Use token</button>
          {tokenSet && (
            <button
              type="button"
              onClick={() => {
                setToken(null)
                window.location.reload()
              }}
            >
              Forget stored token
            </button>
          )}
        </form>
      )}
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  )
}
