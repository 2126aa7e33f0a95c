// Shows an API error; on 401 offers a field to enter the API token (kept in localStorage).

import { useState } from 'react'
import { ApiError, setToken } from '../lib/api'

export function ErrorNote({ error, onRetry }: { error: Error | null; onRetry?: () => void }) {
  const [token, setTok] = useState('')
  if (!error) return null
  if (error instanceof ApiError && error.status === 401) {
    return (
      <form
        className="note note-bad"
        onSubmit={(e) => {
          e.preventDefault()
          setToken(token.trim() || null)
          window.location.reload()
        }}
      >
        <span>The API needs a token.</span>
        <label>
          Token{' '}
          <input type="password" value={token} onChange={(e) => setTok(e.target.value)} autoComplete="off" />
        </label>
        <button type="submit">Use token</button>
      </form>
    )
  }
  return (
    <div className="note note-bad" role="alert">
      <span>{error.message}</span>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  )
}
