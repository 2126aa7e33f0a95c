// The current hash route, updated on `hashchange`.

import { useEffect, useMemo, useState } from 'react'
import { parseRoute, type Route } from '../lib/route'

export function useRoute(): Route {
  const [hash, setHash] = useState(() => window.location.hash)
  useEffect(() => {
    const on = () => setHash(window.location.hash)
    window.addEventListener('hashchange', on)
    return () => window.removeEventListener('hashchange', on)
  }, [])
  return useMemo(() => parseRoute(hash), [hash])
}
