// Unit tests of the error component, rendered to HTML: for each status it shows the HTTP status,
// the API's own message and the advice, offers the token field on 401, and never prints
// "[object Object]".
import { describe, expect, it } from 'vitest'
import { renderToStaticMarkup } from 'react-dom/server'
import { ApiError } from '../lib/api'
import { ErrorNote } from './ErrorNote'

const render = (error: unknown, compact = false) => renderToStaticMarkup(<ErrorNote error={error} compact={compact} />)
/** The text of the element with `data-testid=id` (no nested tags in these). */
const textOf = (html: string, id: string) => {
  const m = new RegExp(`data-testid="${id}"[^>]*>([^<]*)<`).exec(html)
  return m ? m[1].replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>') : null
}

const api = (status: number, message: string) => new ApiError(status, message, { fromApi: true, path: '/api/traces' })

describe('ErrorNote', () => {
  const cases: Array<[number, string, RegExp]> = [
    [503, 'database unavailable: database /tmp/x/gateway.db does not exist', /Start the gateway/],
    [503, 'database unavailable: database /tmp/x/gateway.db is busy: database is locked', /another writer holds the database lock/i],
    [401, 'missing or invalid bearer token', /token/],
    [400, "invalid parameter 'since': not a time", /parameter/],
    [404, 'no trace 0000000000000000000000000000000f', /retention/],
    [409, 'table drift_snapshots lacks the columns score', /columns/],
    [500, 'internal error', /log/],
  ]
  for (const [status, message, hint] of cases) {
    it(`HTTP ${status}: "${message}"`, () => {
      const html = render(api(status, message))
      expect(textOf(html, 'error-message')).toBe(message)
      expect(html).toContain(`data-status="${status}"`)
      expect(textOf(html, 'error-status')).toBe(`HTTP ${status}`)
      expect(textOf(html, 'error-hint')).toMatch(hint)
      expect(html).not.toContain('[object Object]')
    })
  }
  it('offers the token field on 401 only', () => {
    expect(render(api(401, 'missing or invalid bearer token'))).toContain('data-testid="token-input"')
    expect(render(api(503, 'database unavailable: x'))).not.toContain('token-input')
  })
  it('compact: status and message, no advice or form', () => {
    const html = render(api(401, 'missing or invalid bearer token'), true)
    expect(textOf(html, 'error-message')).toBe('missing or invalid bearer token')
    expect(html).not.toContain('error-hint')
    expect(html).not.toContain('token-input')
  })
  it('renders thrown non-errors as text and nothing without an error', () => {
    const html = render({ error: { code: 503, message: 'database unavailable: gone' } })
    expect(textOf(html, 'error-message')).toBe('database unavailable: gone')
    expect(render({ some: 'object' })).not.toContain('[object Object]')
    expect(render(new TypeError('Failed to fetch'))).toContain('API not reachable')
    expect(render(null)).toBe('')
  })
})
