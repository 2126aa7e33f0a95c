// Hash routing: `#/` overview, `#/traces?filters`, `#/traces/<id>`, `#/sessions/<id>?kind=`,
// `#/drift`. No router dependency; the parsed route is a plain value.

import { sessionKindOf, type SessionKind } from './session'

export type Route =
  | { view: 'overview' }
  | { view: 'traces'; params: URLSearchParams }
  | { view: 'trace'; id: string }
  | { view: 'session'; id: string; kind: SessionKind }
  | { view: 'drift' }

export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#/, '')
  const [path, query = ''] = h.split('?', 2)
  const parts = path.split('/').filter(Boolean)
  if (parts[0] === 'traces' && parts[1]) return { view: 'trace', id: decodeURIComponent(parts[1]) }
  if (parts[0] === 'traces') return { view: 'traces', params: new URLSearchParams(query) }
  if (parts[0] === 'sessions' && parts[1]) {
    return { view: 'session', id: decodeURIComponent(parts[1]), kind: sessionKindOf(new URLSearchParams(query).get('kind')) }
  }
  if (parts[0] === 'drift') return { view: 'drift' }
  return { view: 'overview' }
}

export function traceHref(id: string): string {
  return `#/traces/${encodeURIComponent(id)}`
}

export function tracesHref(params?: URLSearchParams): string {
  const q = params?.toString()
  return q ? `#/traces?${q}` : '#/traces'
}
