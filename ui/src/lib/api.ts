// HTTP access to the gateway API (same origin): the bearer token (from `?token=` in the page URL,
// kept in localStorage), typed JSON GETs (response types from the OpenAPI document, see
// api.gen.ts) whose failures are ApiErrors carrying the status and the API's own message, and
// the WebSocket URL.

import type { paths } from './api.gen'

const TOKEN_KEY = 'gateway.token'

/** Takes `?token=` from the page URL into localStorage and removes it from the address bar. */
export function adoptUrlToken(loc: Location = window.location): void {
  const params = new URLSearchParams(loc.search)
  const token = params.get('token')
  if (token === null) return
  setToken(token)
  params.delete('token')
  const q = params.toString()
  window.history.replaceState(null, '', loc.pathname + (q ? `?${q}` : '') + loc.hash)
}

export function getToken(): string | null {
  try {
    return window.localStorage.getItem(TOKEN_KEY) || null
  } catch {
    return null
  }
}

export function setToken(token: string | null): void {
  try {
    if (token) window.localStorage.setItem(TOKEN_KEY, token)
    else window.localStorage.removeItem(TOKEN_KEY)
  } catch {
    // Storage unavailable (private mode): the token lasts only for this page.
  }
}

/** A non-2xx answer. `message` is the API's own message (`{"error":{"code","message"}}`), or
 *  what the body said when it is not an API error body, or the status line. */
export class ApiError extends Error {
  readonly status: number
  readonly statusText: string
  /** The path requested (without the query). */
  readonly path: string
  /** True when the body was the API's error JSON (so `message` is the server's text). */
  readonly fromApi: boolean
  constructor(status: number, message: string, opts: { statusText?: string; path?: string; fromApi?: boolean } = {}) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.statusText = opts.statusText ?? ''
    this.path = opts.path ?? ''
    this.fromApi = opts.fromApi ?? false
  }
}

const MAX_BODY_CHARS = 300

/** The ApiError of a non-2xx response: the API's `error.message` when the body is the API's
 *  error JSON, else a `message` string of another JSON body (e.g. /healthz), else the body text
 *  (trimmed), else the status line. Never an object rendered as text. */
export async function errorFromResponse(res: Response, path = ''): Promise<ApiError> {
  const statusLine = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`
  let text = ''
  try {
    text = await res.text()
  } catch {
    // Body unreadable: keep the status line.
  }
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  const opts = { statusText: res.statusText, path }
  if (body && typeof body === 'object') {
    const err = (body as { error?: unknown }).error
    if (err && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') {
      return new ApiError(res.status, (err as { message: string }).message, { ...opts, fromApi: true })
    }
    const msg = (body as { message?: unknown }).message
    if (typeof msg === 'string' && msg) return new ApiError(res.status, msg, { ...opts, fromApi: true })
    if (typeof err === 'string' && err) return new ApiError(res.status, err, opts)
  }
  const plain = text.trim()
  const message = plain && !plain.startsWith('<') ? plain.slice(0, MAX_BODY_CHARS) : statusLine
  return new ApiError(res.status, message, opts)
}

function headers(): HeadersInit {
  const token = getToken()
  return token ? { Authorization: `Bearer ${token}` } : {}
}

async function get(url: string, path: string, signal?: AbortSignal): Promise<Response> {
  const res = await fetch(url, { headers: headers(), signal })
  if (!res.ok) throw await errorFromResponse(res, path)
  return res
}

/** Paths of the OpenAPI document whose GET answers JSON on 200. */
export type JsonPath = {
  [P in keyof paths]: paths[P] extends { get: { responses: { 200: { content: { 'application/json': unknown } } } } } ? P : never
}[keyof paths]

/** The 200 JSON body of `GET P`, as the OpenAPI document describes it. */
export type JsonOf<P extends JsonPath> = paths[P] extends {
  get: { responses: { 200: { content: { 'application/json': infer T } } } }
}
  ? T
  : never

export type QueryValue = string | number | boolean | undefined | null

export interface GetOptions {
  /** Query parameters; undefined/null/empty values are left out. Strings allowed: unix-nano
   *  times do not fit in a JS number. */
  query?: Record<string, QueryValue>
  /** Values of `{name}` segments of the path template. */
  path?: Record<string, string>
  signal?: AbortSignal
}

/** GET a JSON endpoint by its OpenAPI path template, e.g. `getJson('/api/traces/{trace_id}',
 *  { path: { trace_id } })`. The result has the document's type for that path. */
export async function getJson<P extends JsonPath>(route: P, opts: GetOptions = {}): Promise<JsonOf<P>> {
  const path = route.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = opts.path?.[name]
    if (v === undefined) throw new Error(`getJson(${route}): no value for {${name}}`)
    return encodeURIComponent(v)
  })
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(opts.query ?? {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  }
  const qs = q.toString()
  const res = await get(qs ? `${path}?${qs}` : path, path, opts.signal)
  return (await res.json()) as JsonOf<P>
}

export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  return (await get(path, path, signal)).text()
}

/** ws(s)://host/api/live, with `?token=` when a token is set (browsers cannot send headers). */
export function liveUrl(loc: Location = window.location): string {
  const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:'
  const token = getToken()
  return `${proto}//${loc.host}/api/live${token ? `?token=${encodeURIComponent(token)}` : ''}`
}
