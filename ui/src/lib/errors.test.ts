// Unit tests of error reporting: the API's error bodies become ApiErrors carrying the server's
// own message and status, and each status maps to a title and advice; nothing is ever shown as
// "[object Object]".
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError, errorFromResponse, getJson } from './api'
import { describeError, messageOf, toError } from './errors'

/** A response with the API's error body, `{"error":{"code","message"}}` (api/src/error.rs). */
const apiError = (status: number, message: string) =>
  new Response(JSON.stringify({ error: { code: status, message } }), { status, headers: { 'content-type': 'application/json' } })

const MISSING = 'database unavailable: database /tmp/e2e/gateway.db does not exist'
const BUSY = 'database unavailable: database /tmp/e2e/gateway.db is busy: database is locked'
const UNUSABLE = 'database unavailable: database /tmp/e2e/gateway.db is not usable: file is not a database'

async function viewOf(res: Response, tokenSet = false) {
  return describeError(await errorFromResponse(res, '/api/traces'), { tokenSet })
}

describe('errorFromResponse', () => {
  it('takes the message out of the API error body, with the status', async () => {
    const e = await errorFromResponse(apiError(503, MISSING), '/api/traces')
    expect(e).toBeInstanceOf(ApiError)
    expect(e.status).toBe(503)
    expect(e.message).toBe(MISSING)
    expect(e.fromApi).toBe(true)
    expect(e.path).toBe('/api/traces')
  })
  it('reads /healthz bodies and plain text, and falls back to the status line', async () => {
    const health = new Response(JSON.stringify({ status: 'unavailable', message: MISSING }), { status: 503 })
    expect((await errorFromResponse(health)).message).toBe(MISSING)
    expect((await errorFromResponse(new Response('upstream timed out', { status: 504 }))).message).toBe('upstream timed out')
    const html = new Response('<html><body>Bad gateway</body></html>', { status: 502, statusText: 'Bad Gateway' })
    expect((await errorFromResponse(html)).message).toBe('HTTP 502 Bad Gateway')
    expect((await errorFromResponse(new Response('', { status: 502 }))).message).toBe('HTTP 502')
    const odd = new Response(JSON.stringify({ error: { code: 418 } }), { status: 418 })
    expect((await errorFromResponse(odd)).message).not.toContain('[object Object]')
  })
})

describe('getJson', () => {
  afterEach(() => vi.unstubAllGlobals())
  it('rejects with the API message and status (not "[object Object]")', async () => {
    vi.stubGlobal('fetch', async () => apiError(401, 'missing or invalid bearer token'))
    const err = await getJson('/api/traces').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).status).toBe(401)
    expect((err as ApiError).message).toBe('missing or invalid bearer token')
  })
  it('fills path templates and leaves empty query values out', async () => {
    const urls: string[] = []
    vi.stubGlobal('fetch', async (url: string) => {
      urls.push(url)
      return new Response('{}', { status: 200 })
    })
    await getJson('/api/traces/{trace_id}', { path: { trace_id: 'a b' } })
    await getJson('/api/traces', { query: { limit: 5, model: '', before: undefined, since: '1700000000000000000' } })
    expect(urls).toEqual(['/api/traces/a%20b', '/api/traces?limit=5&since=1700000000000000000'])
  })
})

describe('describeError', () => {
  const cases: Array<[string, Response, boolean, string, RegExp]> = [
    ['503 no database', apiError(503, MISSING), false, 'no-database', /start the gateway.*\[storage\] path/i],
    ['503 locked', apiError(503, BUSY), false, 'locked', /another writer holds the database lock.*retry/i],
    ['503 unusable', apiError(503, UNUSABLE), false, 'unusable', /\[storage\] path/],
    ['503 other', apiError(503, 'database unavailable: disk I/O error'), false, 'unavailable', /retry/i],
    ['401 without a token', apiError(401, 'missing or invalid bearer token'), false, 'unauthorized', /has none.*token/i],
    ['401 with a wrong token', apiError(401, 'missing or invalid bearer token'), true, 'unauthorized', /did not accept the token/i],
    ['400', apiError(400, "invalid parameter 'limit': must be a positive integer"), false, 'bad-request', /parameter/i],
    ['404', apiError(404, 'no trace 0000000000000000000000000000000a'), false, 'not-found', /retention|link/i],
    ['409', apiError(409, 'table drift_snapshots lacks the columns score'), false, 'conflict', /columns/i],
    ['500', apiError(500, 'internal error'), false, 'internal', /log/i],
    ['405', apiError(405, 'method not allowed'), false, 'http', /HTTP 405/],
    ['502 from a proxy', new Response('', { status: 502, statusText: 'Bad Gateway' }), false, 'not-api', /proxy/i],
  ]
  for (const [name, res, tokenSet, kind, hint] of cases) {
    it(`${name}: shows the status, the API's message and what to do`, async () => {
      const body = res.clone()
      const v = await viewOf(res, tokenSet)
      expect(v.kind).toBe(kind)
      expect(v.status).toBe(res.status)
      const sent = (await body.json().catch(() => null)) as { error?: { message?: string } } | null
      expect(v.message).toBe(sent?.error?.message ?? 'HTTP 502 Bad Gateway')
      expect(v.hint).toMatch(hint)
      expect(`${v.title} ${v.message} ${v.hint}`).not.toContain('[object Object]')
    })
  }
  it('a network failure has no status and says the API is not reachable', () => {
    const v = describeError(new TypeError('Failed to fetch'))
    expect(v).toMatchObject({ kind: 'network', status: null, message: 'Failed to fetch' })
    expect(v.hint).toMatch(/running/)
  })
  it('never turns a thrown object into "[object Object]"', () => {
    expect(messageOf({ error: { code: 503, message: MISSING } })).toBe(MISSING)
    expect(messageOf({ message: 'plain' })).toBe('plain')
    expect(messageOf({ detail: 1 })).toBe('{"detail":1}')
    expect(messageOf(null)).toBe('unknown error')
    expect(toError({ error: 'nope' }).message).toBe('nope')
    expect(describeError({ weird: true }).message).toBe('{"weird":true}')
    const err = new Error('kept')
    expect(toError(err)).toBe(err)
  })
})
