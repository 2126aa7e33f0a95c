// What the dashboard says about a failed request: the HTTP status, the API's own message and
// what to do about it (no database yet, database locked, token missing or wrong, …). Pure, so
// that every status → text mapping is unit-tested; components/ErrorNote.tsx renders it.

import { ApiError } from './api'

export type ErrorKind =
  | 'no-database'
  | 'locked'
  | 'unusable'
  | 'unavailable'
  | 'unauthorized'
  | 'bad-request'
  | 'not-found'
  | 'conflict'
  | 'internal'
  | 'not-api'
  | 'network'
  | 'http'
  | 'other'

export interface ErrorView {
  kind: ErrorKind
  /** HTTP status, null when there was no HTTP answer. */
  status: number | null
  /** Short name of the problem. */
  title: string
  /** The API's own message (or the browser's, for a network failure): shown verbatim. */
  message: string
  /** What to do about it, one sentence or two. */
  hint: string
}

/** Text of any thrown value: never "[object Object]". */
export function messageOf(value: unknown): string {
  if (typeof value === 'string') return value
  if (value instanceof Error) return value.message || value.name
  if (value === null || value === undefined) return 'unknown error'
  if (typeof value === 'object') {
    const o = value as { message?: unknown; error?: unknown }
    if (typeof o.message === 'string') return o.message
    if (o.error && typeof o.error === 'object' && typeof (o.error as { message?: unknown }).message === 'string') {
      return (o.error as { message: string }).message
    }
    if (typeof o.error === 'string') return o.error
    try {
      return JSON.stringify(value)
    } catch {
      return 'unknown error'
    }
  }
  return String(value)
}

/** Any thrown value as an Error whose message is text (ApiErrors and Errors pass through). */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(messageOf(value))
}

const TOKEN_HOW =
  'The dashboard sends the token kept in this browser as "Authorization: Bearer …"; set it below, or open the dashboard once with ?token=<token> ([api] token in the gateway config).'

/** Status, message and advice for an error thrown by the API client (or anything else). */
export function describeError(error: unknown, opts: { tokenSet?: boolean } = {}): ErrorView {
  const message = messageOf(error)
  if (!(error instanceof ApiError)) {
    // fetch() rejects with a TypeError when nothing answers (server down, wrong address).
    if (error instanceof TypeError) {
      return {
        kind: 'network',
        status: null,
        title: 'API not reachable',
        message,
        hint: 'No answer from the API: check that the gateway (or the standalone api) is running and serves this address.',
      }
    }
    return { kind: 'other', status: null, title: 'Error', message, hint: 'Reload the page; if it persists, see the browser console.' }
  }
  const status = error.status
  const v = (kind: ErrorKind, title: string, hint: string): ErrorView => ({ kind, status, title, message, hint })
  if (!error.fromApi && status >= 500 && status !== 503) {
    return v('not-api', 'No answer from the API', 'The answer is not the API\'s JSON: a proxy between the browser and the API failed, or the API is down.')
  }
  switch (status) {
    case 401:
      return opts.tokenSet
        ? v('unauthorized', 'Token rejected', `The API did not accept the token this browser sent. ${TOKEN_HOW}`)
        : v('unauthorized', 'Token needed', `The API needs a token and this browser has none. ${TOKEN_HOW}`)
    case 503:
      if (/does not exist/i.test(message)) {
        return v(
          'no-database',
          'No database yet',
          'Start the gateway (it creates the database when it starts), or check that [storage] path in the config the API reads names the gateway\'s database.',
        )
      }
      if (/\b(busy|locked)\b/i.test(message)) {
        return v('locked', 'Database locked', 'Another writer holds the database lock: retry in a moment (this page retries by itself).')
      }
      if (/not usable/i.test(message)) {
        return v('unusable', 'Not a gateway database', 'The file at [storage] path is not a gateway database (or lacks its tables): point [storage] path at the gateway\'s database.')
      }
      return v('unavailable', 'Service unavailable', 'The API cannot use the database right now: retry in a moment; see the API\'s log for details.')
    case 400:
      return v('bad-request', 'Invalid request', 'A parameter the dashboard sent was rejected (the message names it): check the filters in the address bar.')
    case 404:
      return v('not-found', 'Not found', 'Nothing at this address: the trace may have been removed by retention, or the link is wrong.')
    case 409:
      return v('conflict', 'Incompatible table', 'A table written by another system lacks columns this view needs (named in the message).')
    case 500:
      return v('internal', 'API error', 'The API failed unexpectedly; the details are in the API\'s log.')
    default:
      return v('http', 'Request failed', `The API answered HTTP ${status}.`)
  }
}
