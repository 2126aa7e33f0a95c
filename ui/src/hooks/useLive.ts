// React bindings of the live client: one client per app (provided through context), its
// connection status, its trace batches and its stats messages.

import { createContext, useContext, useEffect, useRef, useSyncExternalStore } from 'react'
import type { LiveClient, LiveStatus, TraceBatch } from '../lib/liveClient'
import type { LiveStats } from '../lib/types'

export const LiveContext = createContext<LiveClient | null>(null)

export function useLiveClient(): LiveClient {
  const c = useContext(LiveContext)
  if (!c) throw new Error('LiveContext missing')
  return c
}

export function useLiveStatus(): LiveStatus {
  const c = useLiveClient()
  return useSyncExternalStore(
    (cb) => c.onStatus(cb),
    () => c.status,
  )
}

/** Calls `onBatch` for every batch of live traces (the latest callback, without resubscribing). */
export function useLiveTraces(onBatch: (b: TraceBatch) => void): void {
  const c = useLiveClient()
  const ref = useRef(onBatch)
  useEffect(() => {
    ref.current = onBatch
  })
  useEffect(() => c.onTraces((b) => ref.current(b)), [c])
}

export function useLiveStats(onStats: (s: LiveStats) => void): void {
  const c = useLiveClient()
  const ref = useRef(onStats)
  useEffect(() => {
    ref.current = onStats
  })
  useEffect(() => {
    if (c.stats) ref.current(c.stats)
    return c.onStats((s) => ref.current(s))
  }, [c])
}
