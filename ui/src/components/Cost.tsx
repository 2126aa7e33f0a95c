// A cost value: the formatted USD amount, or an "unpriced" warning badge (never "$0"); a trace's
// status badge ("● live" for a Live session still open).

import { formatMoney } from '../lib/format'
import { RUNNING } from '../lib/live'

export function Cost({ usd }: { usd: number | null | undefined }) {
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
