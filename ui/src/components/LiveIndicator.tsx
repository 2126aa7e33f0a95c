// The live-connection indicator: connecting / live / reconnecting (with the retry countdown).

import { useEffect, useState } from 'react'
import { useLiveClient, useLiveStatus } from '../hooks/useLive'

export function LiveIndicator() {
  const status = useLiveStatus()
  const client = useLiveClient()
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    if (status.state !== 'reconnecting') return
    const id = setInterval(() => setNow(Date.now()), 500)
    return () => clearInterval(id)
  }, [status.state])
  const label =
    status.state === 'live'
      ? 'Live'
      : status.state === 'connecting'
        ? 'Connecting…'
        : status.retryAt && status.retryAt > now
          ? `Reconnecting in ${Math.ceil((status.retryAt - now) / 1000)} s`
          : 'Reconnecting…'
  return (
    <div className={`live live-${status.state}`} data-testid="live-status" data-state={status.state} role="status" aria-live="polite">
      <span className="live-dot" aria-hidden="true" />
      <span>{label}</span>
      {status.state === 'reconnecting' && (
        <button type="button" className="link-button" onClick={() => client.retryNow()} title={status.lastError ?? undefined}>
          retry now
        </button>
      )}
    </div>
  )
}
