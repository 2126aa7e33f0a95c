// A cost value: the formatted USD amount, an "unpriced" warning badge (never "$0"), or "—" when
// nothing was to be priced (deferred, free, no usage); a trace's
// status badge ("● live" for a Live session still open).

import { formatMoney } from '../lib/format'
import { RUNNING } from '../lib/live'

/** `unpriced === false` marks a cost that is absent for a reason other than a missing price
 *  (deferred to a later call, free, or failed before any usage): shown as "—", not as a warning. */
export function Cost({ usd, unpriced }: { usd: number | null | undefined; unpriced?: boolean }) {
  if ((usd === null || usd === undefined) && unpriced === false) {
    return (
      <span className="muted" title="No cost: metered on a later call, free, or no usage was reported">
        —
      </span>
    )
  }
  if (usd === null || usd === undefined) {
    return (
      <span className="badge badge-warn" title="No price is known for this model: cost not computed">
        ⚠ unpriced
      </span>
    )
  }
  return <span className="money">{formatMoney(usd)}</span>
}

export function StatusBadge({ status }: { status: string }) {
  if (status === RUNNING) {
    return (
      <span
        className="badge badge-status-running"
        style={{ color: 'var(--accent)', borderColor: 'var(--accent)' }}
        title="Live session still open: tokens and cost so far"
      >
        ● live
      </span>
    )
  }
  return <span className={`badge badge-status-${status}`}>{status}</span>
}
