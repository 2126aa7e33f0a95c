// HTTP access to the gateway API (same origin): the bearer token (from `?token=` in the page URL,
// kept in localStorage), JSON GETs with errors that carry the status, and the WebSocket URL.

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

export class ApiError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

function headers(): HeadersInit {
  const token = getToken()
  return token ? { Authorization: `Bearer ${token}` } : {}
}

async function get(path: string, signal?: AbortSignal): Promise<Response> {
  const res = await fetch(path, { headers: headers(), signal })
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`
    try {
      const body = (await res.json()) as { message?: string; error?: string }
      message = body.message || body.error || message
    } catch {
      // Not JSON: keep the status line.
    }
    throw new ApiError(res.status, message)
  }
  return res
}

/** GET a JSON endpoint; `params` with undefined/empty values are left out. */
export async function getJson<T>(path: string, params?: Record<string, string | number | boolean | undefined | null>, signal?: AbortSignal): Promise<T> {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  }
  const qs = q.toString()
  const res = await get(qs ? `${path}?${qs}` : path, signal)
  return (await res.json()) as T
}

export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  return (await get(path, signal)).text()
}

/** ws(s)://host/api/live, with `?token=` when a token is set (browsers cannot send headers). */
export function liveUrl(loc: Location = window.location): string {
  const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:'
  const token = getToken()
  return `${proto}//${loc.host}/api/live${token ? `?token=${encodeURIComponent(token)}` : ''}`
}
