// Today's cost by model, by user and by session (tables; unpriced groups flagged, never $0), and
// context-cache storage as a line of its own (never folded into the token cost).

import { getJson } from '../../lib/api'
import { formatCount, formatTokens } from '../../lib/format'
import type { CostGroup, CostReport } from '../../lib/types'
import { usePoll } from '../../hooks/usePoll'
import { Cost } from '../../components/Cost'
import { tracesHref } from '../../lib/route'
import { sessionHref } from '../../lib/session'

const POLL_MS = 10_000

export function CostBreakdown({ today, since }: { today: CostReport | null; since: string }) {
  const byUser = usePoll(
    (signal) => getJson('/api/metrics/cost', { query: { since, bucket: '1d', group_by: 'user_id' }, signal }),
    POLL_MS,
    `user:${since}`,
  )
  const bySession = usePoll(
    (signal) => getJson('/api/metrics/cost', { query: { since, bucket: '1d', group_by: 'session_id' }, signal }),
    POLL_MS,
    `session:${since}`,
  )
  return (
    <section className="grid3" aria-label="Cost breakdown today">
      <GroupTable title="By model" dimension="model" groups={today?.groups} />
      <GroupTable title="By user" dimension="user_id" groups={byUser.data?.groups} />
      <GroupTable title="By session" dimension="session_id" groups={bySession.data?.groups} />
      <CacheStorageLine storage={today?.cache_storage} />
    </section>
  )
}

function CacheStorageLine({ storage }: { storage: CostReport['cache_storage'] | undefined }) {
  if (!storage) return null
  return (
    <p className="muted small" data-testid="cost-cache-storage">
      Context-cache storage (today, not in the token cost): <Cost usd={storage.usd} /> ·{' '}
      {formatCount(storage.caches)} cache(s) · {formatTokens(Math.round(storage.token_hours))} token-hours
      {storage.unpriced ? (
        <span className="badge badge-warn" title="Storage intervals without a rate, a token count or an end">
          {storage.unpriced} unpriced
        </span>
      ) : null}
      {storage.unseen_creates ? (
        <span className="badge badge-warn" title="Caches updated or deleted whose create the gateway never saw">
          {storage.unseen_creates} created elsewhere
        </span>
      ) : null}
    </p>
  )
}

const TOP = 8

function GroupTable({ title, dimension, groups }: { title: string; dimension: string; groups: CostGroup[] | undefined }) {
  const rows = groups ?? []
  return (
    <div className="panel" data-testid={`cost-by-${dimension}`}>
      <h3>{title} (today)</h3>
      {rows.length === 0 ? (
        <p className="muted">{groups ? 'No requests today.' : 'Loading…'}</p>
      ) : (
        <table className="simple fixed">
          <thead>
            <tr>
              <th scope="col">{title.replace('By ', '')}</th>
              <th scope="col" className="num" style={{ width: '3.5em' }}>
                Req.
              </th>
              <th scope="col" className="num" style={{ width: '7em' }}>
                Tokens in/out
              </th>
              <th scope="col" className="num" style={{ width: '10em' }}>
                Cost
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, TOP).map((g) => (
              <tr key={g.key ?? '∅'}>
                <td className="ellipsis" title={g.key ?? undefined}>
                  {g.key === null || g.key === undefined ? (
                    <span className="muted">(none)</span>
                  ) : (
                    <>
                      <a href={tracesHref(new URLSearchParams({ [dimension]: g.key }))}>{g.key}</a>
                      {dimension === 'session_id' && (
                        <a className="tag" href={sessionHref(g.key)} title="The session's timeline" data-testid="cost-session-link">
                          timeline
                        </a>
                      )}
                    </>
                  )}
                </td>
                <td className="num">{formatCount(g.requests)}</td>
                <td className="num">
                  {formatTokens(g.input_tokens)} / {formatTokens(g.output_tokens)}
                </td>
                <td className="num" data-col="cost">
                  <Cost usd={g.usd} />
                  {g.usd !== null && g.unpriced ? (
                    <span className="badge badge-warn" title={`${g.unpriced} request(s) in this group have no price`}>
                      +{g.unpriced}
                    </span>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {rows.length > TOP && <p className="muted small">and {rows.length - TOP} more</p>}
    </div>
  )
}
