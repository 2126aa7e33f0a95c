// Polls an async loader every `intervalMs` (and whenever `key` changes), keeping the last good
// value and the last error. Requests of a superseded key are aborted.

import { useEffect, useRef, useState } from 'react'
import { toError } from '../lib/errors'

export interface Polled<T> {
  data: T | null
  error: Error | null
  loading: boolean
  /** Reloads now. */
  reload: () => void
}

export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, intervalMs: number, key: string): Polled<T> {
  const [data, setData] = useState<T | null>(null)
  const [error, setError] = useState<Error | null>(null)
  const [loading, setLoading] = useState(true)
  const [tick, setTick] = useState(0)
  const loadRef = useRef(load)
  useEffect(() => {
    loadRef.current = load
  })
  useEffect(() => {
    setData(null)
    setError(null)
  }, [key])
  useEffect(() => {
    const ctl = new AbortController()
    let timer: ReturnType<typeof setTimeout> | null = null
    const run = async () => {
      setLoading(true)
      try {
        const v = await loadRef.current(ctl.signal)
        if (ctl.signal.aborted) return
        setData(v)
        setError(null)
      } catch (e) {
        if (ctl.signal.aborted) return
        setError(toError(e))
      } finally {
        if (!ctl.signal.aborted) {
          setLoading(false)
          if (intervalMs > 0) timer = setTimeout(run, intervalMs)
        }
      }
    }
    void run()
    return () => {
      ctl.abort()
      if (timer) clearTimeout(timer)
    }
  }, [key, intervalMs, tick])
  return { data, error, loading, reload: () => setTick((t) => t + 1) }
}
