// Browser benchmark (headless Chromium, production build, mock API): how long the traces view
// takes to render 10,000 rows (20 "load more" pages of 500), how smooth scrolling through them
// is, and how long a 500-span trace takes to lay out and draw. Prints figures; asserts nothing.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { serveDist } from '../e2e/lib/serve.mjs'
import { makeSpans, makeTraces } from './fixtures.mjs'

const uiDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const ROWS = 10_000
const traces = makeTraces(ROWS, Date.now())
const spans = makeSpans(500)
const traceJson = (t) => JSON.stringify({ trace: t, spans, metric_snapshots: [] })

function handle(req, res) {
  const url = new URL(req.url, 'http://x')
  const json = (body) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  }
  if (url.pathname === '/api/traces') {
    const limit = Math.min(500, Number(url.searchParams.get('limit') ?? 50))
    const from = Number(url.searchParams.get('before') ?? 0)
    const page = traces.slice(from, from + limit)
    return json({ traces: page, next: from + limit < traces.length ? String(from + limit) : null })
  }
  if (url.pathname.startsWith('/api/traces/')) return json(traceJson(traces[0]))
  if (url.pathname === '/api/metrics/latency') return json({ count: 0, p50_ms: null, p95_ms: null, p99_ms: null, ttft_p50_ms: null, ttft_p95_ms: null, ttft_p99_ms: null, groups: [] })
  if (url.pathname === '/api/metrics/cost') return json({ total_usd: 0, unpriced_count: 0, groups: [], series: [] })
  if (url.pathname === '/api/metric-snapshots') return json({ snapshots: [] })
  if (url.pathname === '/metrics') {
    res.writeHead(200, { 'content-type': 'text/plain' })
    return res.end('# EOF\n')
  }
  res.writeHead(404).end()
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mean = s.reduce((a, b) => a + b, 0) / s.length
  return { mean: mean.toFixed(1), p95: s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)].toFixed(1), max: s.at(-1).toFixed(1) }
}

if (!fs.existsSync(path.join(uiDir, 'dist', 'index.html'))) throw new Error('run `npm run build` first')
const server = await serveDist({ root: path.join(uiDir, 'dist'), handle })
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-bench-chromium-'))
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  viewport: { width: 1440, height: 900 },
})
try {
  const page = ctx.pages()[0] ?? (await ctx.newPage())
  // Resolves after the count reaches n and the next frame has been painted.
  const untilCount = (n) =>
    page.evaluate(
      (n) =>
        new Promise((resolve) => {
          const t0 = performance.now()
          const poll = () => {
            const el = document.querySelector('[data-testid=trace-count]')
            if (el && Number(el.getAttribute('data-count')) >= n) requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0)))
            else requestAnimationFrame(poll)
          }
          poll()
        }),
      n,
    )

  await page.goto(`${server.url}/#/traces`)
  await untilCount(500)
  // In-page: click "load more" and wait for the count and the next painted frame, 19 times.
  const pages = await page.evaluate(async (rows) => {
    const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r)))
    const out = []
    for (let n = 1000; n <= rows; n += 500) {
      const t = performance.now()
      document.querySelector('[data-testid=load-more]').click()
      while (Number(document.querySelector('[data-testid=trace-count]').getAttribute('data-count')) < n) await frame()
      await frame()
      out.push(performance.now() - t)
    }
    return out
  }, ROWS)
  const total = pages.reduce((a, b) => a + b, 0)
  const domRows = await page.locator('[data-testid=trace-row]').count()
  // Two idle frames, for reference: what a scroll jump costs with nothing to do.
  const idle = await page.evaluate(async () => {
    const frame = () => new Promise((r) => requestAnimationFrame(() => r()))
    const ts = []
    for (let i = 0; i < 30; i++) {
      const t = performance.now()
      await frame()
      await frame()
      ts.push(performance.now() - t)
    }
    return ts
  })

  // Scroll: 60 jumps through the list; time from setting scrollTop to the next painted frame
  // with the new rows in the DOM.
  const scroll = await page.evaluate(async () => {
    const el = document.querySelector('[data-testid=trace-table]')
    const frame = () => new Promise((r) => requestAnimationFrame(() => r()))
    const times = []
    for (let i = 1; i <= 60; i++) {
      const t = performance.now()
      el.scrollTop = ((el.scrollHeight - el.clientHeight) * i) / 60
      await frame()
      await frame()
      times.push(performance.now() - t)
    }
    // Wheel-like scrolling: 120 px per frame for 150 frames from the top; frame intervals.
    el.scrollTop = 0
    await frame()
    const wheel = []
    let prev = performance.now()
    for (let i = 0; i < 150; i++) {
      el.scrollTop += 120
      await frame()
      const now = performance.now()
      wheel.push(now - prev)
      prev = now
    }
    return { times, wheel }
  })

  // 500-span trace: from the hash change to all 500 bars drawn.
  const wf = await page.evaluate(async (id) => {
    const t = performance.now()
    window.location.hash = `#/traces/${id}`
    await new Promise((resolve) => {
      const poll = () => (document.querySelectorAll('[data-testid=span-bar]').length >= 500 ? resolve() : requestAnimationFrame(poll))
      poll()
    })
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r)))
    const shown = performance.now() - t
    const toggles = []
    for (let i = 0; i < 10; i++) {
      const t1 = performance.now()
      document.querySelector('[data-testid=span-toggle]').click()
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r)))
      toggles.push(performance.now() - t1)
    }
    return { shown, toggles }
  }, traces[0].trace_id)

  const s = stats(scroll.times)
  const idleStats = stats(idle)
  const w = stats(scroll.wheel)
  const idleFrame = (Number(idleStats.mean) / 2).toFixed(1)
  const p = stats(pages)
  const tg = stats(wf.toggles)
  console.log('--- render benchmark (headless Chromium, production build, mock API on localhost) ---')
  console.log(`traces view: 500 → 10,000 rows by 19 "load more" pages of 500: total ${total.toFixed(0)} ms; per page (fetch+merge+render+paint) mean ${p.mean} ms, p95 ${p.p95} ms, max ${p.max} ms`)
  console.log(`traces view: last page (9,500 → 10,000 rows) ${pages.at(-1).toFixed(1)} ms; rows in the DOM with 10,000 loaded: ${domRows}`)
  console.log(`traces view: scroll jump over 10,000 rows to the second painted frame: mean ${s.mean} ms, p95 ${s.p95} ms, max ${s.max} ms (60 jumps; two idle frames take ${idleStats.mean} ms here)`)
  console.log(`traces view: wheel-like scrolling (120 px per frame, 150 frames): frame interval mean ${w.mean} ms, p95 ${w.p95} ms, max ${w.max} ms (an idle frame takes ${idleFrame} ms here)`)
  console.log(`trace detail: 500-span trace from hash change to all bars drawn: ${wf.shown.toFixed(1)} ms (incl. fetch)`)
  console.log(`trace detail: collapse/expand the 500-span tree: mean ${tg.mean} ms, max ${tg.max} ms`)
} finally {
  await ctx.close()
  await server.close()
  fs.rmSync(profile, { recursive: true, force: true })
}
