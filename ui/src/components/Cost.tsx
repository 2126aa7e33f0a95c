// A cost value: the formatted USD amount, or an "unpriced" warning badge (never "$0").

import { formatMoney } from '../lib/format'

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
  return <span className={`badge badge-status-${status}`}>{status}</span>
}
