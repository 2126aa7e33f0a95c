// The application shell: navigation, live indicator, and the view for the current hash route.
// Owns the one live client of the page.

import { useEffect, useMemo, useState } from 'react'
import { liveUrl } from './lib/api'
import { tracesHref } from './lib/route'
import { LiveClient } from './lib/liveClient'
import { LiveContext } from './hooks/useLive'
import { useRoute } from './hooks/useRoute'
import { LiveIndicator } from './components/LiveIndicator'
import { Overview } from './views/Overview'
import { Traces } from './views/Traces'
import { TraceDetail } from './views/TraceDetail'
import { Drift } from './views/Drift'
import { Session } from './views/Session'

declare global {
  interface Window {
    /** Debug handle: `__gatewayLive.drop()` simulates a dropped connection. */
    __gatewayLive?: LiveClient
  }
}

export default function App() {
  const client = useMemo(() => new LiveClient(() => liveUrl()), [])
  useEffect(() => {
    client.start()
    window.__gatewayLive = client
    return () => client.stop()
  }, [client])
  const route = useRoute()
  const tab = route.view === 'trace' || route.view === 'session' ? 'traces' : route.view
  // The trace list stays mounted (parked, not rendered) while a trace is open, so going back
  // keeps its loaded pages, live rows and scroll position.
  const [listParams, setListParams] = useState<URLSearchParams | null>(null)
  const current = route.view === 'traces' ? route.params : null
  const key = current?.toString()
  useEffect(() => {
    if (current) setListParams(current)
    else if (route.view !== 'trace') setListParams(null)
  }, [key, route.view]) // `current` is identified by `key`
  const shownList = current ?? (route.view === 'trace' ? listParams : null)

  return (
    <LiveContext.Provider value={client}>
      <header className="topbar">
        <h1>Gemini gateway</h1>
        <nav aria-label="Views">
          <a href="#/" aria-current={tab === 'overview' ? 'page' : undefined}>
            Overview
          </a>
          <a href="#/traces" aria-current={tab === 'traces' ? 'page' : undefined}>
            Traces
          </a>
          <a href="#/drift" aria-current={tab === 'drift' ? 'page' : undefined}>
            Drift
          </a>
        </nav>
        <LiveIndicator />
      </header>
      <main>
        {route.view === 'overview' && <Overview />}
        {shownList && (
          <div className={route.view === 'traces' ? undefined : 'parked'} aria-hidden={route.view !== 'traces' || undefined}>
            <Traces params={shownList} />
          </div>
        )}
        {route.view === 'trace' && <TraceDetail id={route.id} backHref={tracesHref(listParams ?? undefined)} />}
        {route.view === 'session' && <Session id={route.id} kind={route.kind} />}
        {route.view === 'drift' && <Drift />}
      </main>
    </LiveContext.Provider>
  )
}
