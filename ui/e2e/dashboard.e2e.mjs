// End-to-end test of the dashboard in real headless Chromium against the real gateway.
//
// Starts target/debug/fake-gemini and target/debug/gateway (temporary config and database), opens
// the dashboard the gateway serves at / of its [api] listen address, sends traffic through the
// proxy and checks: rows arrive live without a reload and are never duplicated (also across a
// WebSocket reconnect), filters, hostile header values render as text, the trace waterfall (step
// bars present, ordered, widths proportional to durations with the minimum-width rule), the GenAI
// summary, collapsing, that the overview cards and the loss/metering counters show what the API
// returns, and that the page shows the API's own error text for a 503 (a separate `api` over a
// database that does not exist yet) and a 401 (wrong token), then recovers with the right token.
// Saves screenshots to e2e/screenshots/. Prints `N passed, M failed`; exits non-zero on any failure.
//
// UI_E2E_MODE=standalone runs the separate `api` binary behind a static server for ui/dist
// instead (for development before the gateway serves the dashboard); the default is `gateway`.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { runnerImport } from 'vite'
import { check, assert, assertEq, results, skip, summary } from './lib/harness.mjs'
import { logsOf, start, stopAll, waitFor } from './lib/procs.mjs'
import { startStack } from './lib/stack.mjs'
import { seedDrift } from './lib/drift.mjs'

const uiDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const repo = path.resolve(uiDir, '..')
const shots = path.join(uiDir, 'e2e', 'screenshots')
const mode = process.env.UI_E2E_MODE === 'standalone' ? 'standalone' : 'gateway'
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const XSS_USER = '<img src=x onerror=window.__xss=1>'
const BODY = JSON.stringify({ contents: [{ parts: [{ text: 'hello' }] }] })
// Exactly one request breaches, by cost, never by how long anything took: the fake counts one
// prompt token per word, so 5000 words to gemini-2.5-pro cost about $0.006, and every other
// request of this test (one-word prompts, at most about $0.0001) stays far below the threshold.
const COST_THRESHOLD = 0.001
const COSTLY_BODY = JSON.stringify({ contents: [{ parts: [{ text: 'costly '.repeat(5000) }] }] })

// The dashboard's own formatting and layout constants, so the test compares like with like.
const load = async (f) => (await runnerImport(path.join(uiDir, 'src', 'lib', f), { configFile: false, logLevel: 'silent' })).module
const fmt = await load('format.ts')
const { MIN_BAR_PCT } = await load('waterfall.ts')
const { gatewayHealth, COUNTERS } = await load('prom.ts')

let stack
let context
let page
const pageErrors = []
let profileDir

async function send(model, { stream = false, headers = {}, body = BODY } = {}) {
  const url = `${stack.proxy}/v1beta/models/${model}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'x-goog-api-key': 'test', 'content-type': 'application/json', ...headers },
    body,
  })
  await r.text()
  if (!r.ok) throw new Error(`${url} → ${r.status}`)
}

/** Replaces the stack's latency threshold with a cost threshold (the config file is watched)
 *  and waits until the gateway's log says it reloaded. */
async function useCostThreshold() {
  const config = path.join(stack.tmp, 'gateway.toml')
  const reloads = () => (logsOf('gateway').match(/Configuration reloaded/g) ?? []).length
  const before = reloads()
  const text = fs.readFileSync(config, 'utf8')
  assert(/^latency_ms = \d+$/m.test(text), `a latency threshold in the stack's config:\n${text}`)
  fs.writeFileSync(config, text.replace(/^latency_ms = \d+$/m, `cost_usd = ${COST_THRESHOLD}`))
  await waitFor('the gateway reloads its thresholds', async () => reloads() > before, { timeoutMs: 30000 }).catch((e) => {
    throw new Error(`${e.message}\n${logsOf('gateway').split('\n').slice(-20).join('\n')}`)
  })
}

async function api(p) {
  const r = await fetch(stack.base + p)
  if (!r.ok) throw new Error(`GET ${p} → ${r.status}`)
  return r.json()
}

const rowIds = () => page.$$eval('[data-testid=trace-row]', (els) => els.map((e) => e.getAttribute('data-trace-id')))
const rowCount = () => page.$eval('[data-testid=trace-count]', (e) => Number(e.getAttribute('data-count')))

async function expectRows(n, what) {
  await waitFor(what, async () => (await rowCount()) === n && (await rowIds()).length === n, { timeoutMs: 15000 }).catch(async (e) => {
    throw new Error(`${e.message} (count ${await rowCount()}, DOM rows ${(await rowIds()).length}, wanted ${n})`)
  })
  const ids = await rowIds()
  assertEq(new Set(ids).size, ids.length, 'duplicate trace rows')
  return ids
}

/** Starts the `api` binary over `db` (with `token`, if given) on a free port; resolves to its
 *  base URL. It serves the same ui/dist as the gateway. */
async function startApi(name, { db, token }) {
  const dir = fs.mkdtempSync(path.join(stack.tmp, `${name}-`))
  const config = path.join(dir, 'gateway.toml')
  const lines = ['[storage]', `path = "${db}"`, '[api]', 'listen = "127.0.0.1:0"', ...(token ? [`token = "${token}"`] : []), '']
  fs.writeFileSync(config, lines.join('\n'))
  const { match } = await start(name, path.join(repo, 'target', 'debug', 'api'), ['--config', config, '--listen', '127.0.0.1:0'], {
    pattern: /api listening on (http:\/\/\S+)/,
    cwd: dir,
  })
  return match[1]
}

/** A fresh tab; each API port is its own origin, so its stored token is its own. */
async function newPage() {
  const p = await context.newPage()
  p.on('pageerror', (e) => pageErrors.push(e.message))
  return p
}

/** What the API itself answers to GET `p`: the status and the message of its error body. */
async function apiError(base, p, token) {
  const r = await fetch(base + p, { headers: token ? { authorization: `Bearer ${token}` } : {} })
  const body = await r.json()
  return { status: r.status, message: body?.error?.message }
}

/** Waits for an error note with `status` on the page and returns its message text. */
async function shownError(p, status) {
  const el = p.locator(`[data-testid=api-error][data-status="${status}"] [data-testid=error-message]`).first()
  await el.waitFor({ timeout: 15000 })
  return el.textContent()
}

async function checkApiErrors() {
  if (!fs.existsSync(path.join(repo, 'target', 'debug', 'api'))) {
    skip("errors: the API's own 503 and 401 messages are shown", 'target/debug/api missing: run cargo build -p gateway-api')
    return
  }
  await check("no database yet: every view shows the API's own 503 message", async () => {
    const missing = path.join(stack.tmp, 'not-created-yet', 'gateway.db')
    const base = await startApi('api-no-db', { db: missing })
    const sent = await apiError(base, '/api/traces?limit=1')
    assertEq(sent.status, 503, 'API status without a database')
    assert(typeof sent.message === 'string' && sent.message.includes(missing), `the API's message names the path: ${sent.message}`)
    const p = await newPage()
    try {
      for (const hash of ['#/', '#/traces', '#/drift', '#/traces/0123456789abcdef0123456789abcdef']) {
        await p.goto(`${base}/${hash}`)
        assertEq(await shownError(p, 503), sent.message, `${hash}: the error shown`)
        assert(!(await p.textContent('body')).includes('[object Object]'), `${hash}: "[object Object]" on the page`)
        if (hash === '#/') await p.screenshot({ path: path.join(shots, 'error-503.png'), fullPage: true })
      }
    } finally {
      await p.close()
    }
  })

  await check("wrong token: the page shows the API's own 401 message; the right token fixes it", async () => {
    const right = 'e2e-right-token'
    const wrong = 'e2e-wrong-token'
    const base = await startApi('api-token', { db: stack.db, token: right })
    const sent = await apiError(base, '/api/traces?limit=1', wrong)
    assertEq(sent.status, 401, 'API status with a wrong token')
    assert(typeof sent.message === 'string' && sent.message.length > 0, 'the API sent a message')
    const p = await newPage()
    try {
      await p.goto(`${base}/?token=${wrong}#/traces`)
      assertEq(await shownError(p, 401), sent.message, 'the error shown')
      assertEq(await p.evaluate(() => window.localStorage.getItem('gateway.token')), wrong, 'the token the dashboard sends')
      assert(!(await p.textContent('body')).includes('[object Object]'), '"[object Object]" on the page')
      await p.screenshot({ path: path.join(shots, 'error-401.png'), fullPage: true })
      // Set the right token the way a person would: the field of the 401 note.
      await p.locator('[data-testid=token-input]').first().fill(right)
      await Promise.all([p.waitForEvent('load'), p.getByRole('button', { name: 'Use token' }).first().click()])
      const want = (await (await fetch(`${base}/api/traces?limit=500`, { headers: { authorization: `Bearer ${right}` } })).json()).traces.length
      await waitFor(`${want} rows with the right token`, async () => Number(await p.getAttribute('[data-testid=trace-count]', 'data-count')) === want)
      assertEq(await p.locator('[data-testid=api-error]').count(), 0, 'error notes left')
      await p.waitForSelector('[data-testid=live-status][data-state=live]', { timeout: 15000 })
    } finally {
      await p.close()
    }
  })
}

async function main() {
  fs.mkdirSync(shots, { recursive: true })
  if (mode === 'standalone' && !fs.existsSync(path.join(uiDir, 'dist', 'index.html'))) throw new Error('ui/dist missing: run `npm run build` first')
  stack = await startStack({ repo, uiDir, mode })
  console.log(`mode ${mode}: dashboard ${stack.base}, proxy ${stack.proxy}`)
  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-e2e-chromium-'))
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    viewport: { width: 1440, height: 900 },
  })
  page = context.pages()[0] ?? (await context.newPage())
  page.on('pageerror', (e) => pageErrors.push(e.message))

  let sent = 0
  let slowId
  let unpricedId
  let xssId

  await check('dashboard loads and the live feed connects', async () => {
    await useCostThreshold()
    await page.goto(`${stack.base}/#/traces`)
    await page.waitForSelector('[data-testid=live-status][data-state=live]', { timeout: 15000 })
    await page.evaluate(() => {
      window.__e2eMarker = 'same-document'
    })
    assertEq(await rowCount(), 0, 'fresh database shows no rows')
  })

  await check('traces appear live without a reload, once each', async () => {
    for (let i = 0; i < 4; i++) await send('gemini-2.5-flash')
    for (let i = 0; i < 3; i++) await send('gemini-2.5-flash', { stream: true, headers: { 'x-gateway-session-id': 'e2e-session' } })
    await send('gemini-2.5-pro', { body: COSTLY_BODY, headers: { 'x-fake-latency-ms': '300', 'x-gateway-user-id': 'slow-user' } })
    await send('my-unpriced-model', { headers: { 'x-gateway-user-id': 'unpriced-user' } })
    await send('gemini-2.5-flash', { headers: { 'x-gateway-user-id': XSS_USER } })
    sent = 10
    const ids = await expectRows(sent, `${sent} live rows`)
    assertEq(await page.evaluate(() => window.__e2eMarker), 'same-document', 'the page was reloaded')
    const apiIds = (await api('/api/traces?limit=100')).traces.map((t) => t.trace_id)
    assertEq([...ids].sort().join(), [...apiIds].sort().join(), 'rows are the API traces')
    const traces = (await api('/api/traces?limit=100')).traces
    slowId = traces.find((t) => t.model === 'gemini-2.5-pro')?.trace_id
    unpricedId = traces.find((t) => t.model === 'my-unpriced-model')?.trace_id
    xssId = traces.find((t) => t.user_id === XSS_USER)?.trace_id
    assert(slowId && unpricedId && xssId, 'expected traces recorded')
  })

  await check('hostile header values render as text, never as HTML', async () => {
    const cell = await page.$eval(`[data-trace-id="${xssId}"] [data-col=user]`, (e) => e.textContent)
    assertEq(cell, XSS_USER, 'user cell text')
    assertEq(await page.evaluate(() => window.__xss), undefined, 'window.__xss')
    assertEq(await page.locator('img[src="x"]').count(), 0, 'injected <img> elements')
  })

  await check('the costly trace, and only it, is flagged as breaching the cost threshold', async () => {
    // Which trace breached is the API's answer, checked against the costs it reports.
    const all = (await api('/api/traces?limit=100')).traces
    const over = all.filter((t) => t.cost_usd != null && t.cost_usd > COST_THRESHOLD).map((t) => t.trace_id)
    assertEq(over.join(), slowId, `traces costing more than $${COST_THRESHOLD}`)
    const breached = (await api('/api/traces?breached=true')).traces.map((t) => t.trace_id)
    assertEq(breached.join(), slowId, 'API breached traces')
    await waitFor('breach badge', async () => (await page.locator(`[data-trace-id="${slowId}"] .badge-bad`).count()) === 1, { timeoutMs: 15000 })
    assertEq(await page.locator('[data-testid=trace-row] .badge-bad').count(), 1, 'rows with a breach badge')
  })

  await check('unpriced cost shows a warning badge, not $0', async () => {
    const cost = await page.$eval(`[data-trace-id="${unpricedId}"] [data-col=cost]`, (e) => e.textContent)
    assert(cost.includes('unpriced') && !cost.includes('$'), `unpriced row's cost cell: "${cost}"`)
    const priced = await page.$eval(`[data-trace-id="${slowId}"] [data-col=cost]`, (e) => e.textContent)
    const { trace } = await api(`/api/traces/${slowId}`)
    assertEq(priced, fmt.formatMoney(trace.cost_usd), "priced row's cost cell")
  })

  await check('no duplicates across a WebSocket reconnect', async () => {
    // After a reconnect the page re-reads the newest page of traces (the "head refresh").
    const headRefresh = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/traces' && r.request().method() === 'GET', { timeout: 30000 })
    await page.evaluate(() => window.__gatewayLive.drop())
    await page.waitForSelector('[data-testid=live-status][data-state=reconnecting]', { timeout: 5000 })
    await page.waitForSelector('[data-testid=live-status][data-state=live]', { timeout: 15000 })
    await send('gemini-2.5-flash')
    await send('gemini-2.5-flash', { stream: true })
    sent += 2
    await expectRows(sent, `${sent} rows after the reconnect`)
    // The head refresh has landed (its response, then two frames for the page to apply it).
    await (await headRefresh).finished()
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))))
    await expectRows(sent, 'still no duplicates after the head refresh')
    assertEq(await page.evaluate(() => window.__e2eMarker), 'same-document', 'the page was reloaded')
  })

  await check('filters narrow the list, live traces included', async () => {
    await page.evaluate(() => {
      window.location.hash = '#/traces?model=gemini-2.5-pro'
    })
    await expectRows(1, 'one gemini-2.5-pro row')
    await send('gemini-2.5-flash') // does not match: must not appear
    await send('gemini-2.5-pro')
    sent += 2
    await expectRows(2, 'two gemini-2.5-pro rows')
    await page.getByRole('button', { name: 'Clear' }).click()
    await expectRows(sent, 'all rows after clearing the filter')
    await page.screenshot({ path: path.join(shots, 'traces.png') })
  })

  await check('row click opens the trace waterfall with proportional step bars', async () => {
    await page.click(`[data-trace-id="${slowId}"] td:nth-child(3)`)
    await page.waitForSelector('[data-testid=span-bar]', { timeout: 10000 })
    assertEq(await page.evaluate(() => window.location.hash), `#/traces/${slowId}`, 'hash route')
    const detail = await api(`/api/traces/${slowId}`)
    const spans = detail.spans
    const t0 = Math.min(...spans.map((s) => s.offset_ms))
    const range = Math.max(...spans.map((s) => s.offset_ms + s.duration_ms)) - t0
    const bars = await page.$$eval('[data-testid=span-bar]', (els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect()
        return { id: e.dataset.spanId, step: e.dataset.step, min: e.dataset.minWidth === 'true', left: parseFloat(e.style.left), width: parseFloat(e.style.width), px: r.width }
      }),
    )
    assertEq(bars.length, spans.length, 'one bar per span')
    const steps = ['prompt_construction', 'llm_call', 'post_processing']
    const picked = steps.map((step) => {
      const s = spans.filter((x) => x.attributes?.['gateway.step'] === step)
      assertEq(s.length, 1, `spans with gateway.step=${step}`)
      const bar = bars.find((b) => b.id === s[0].span_id)
      assert(bar, `bar for ${step}`)
      assertEq(bar.step, step, 'data-step')
      return { step, span: s[0], bar }
    })
    // In order by start, in the API and on screen (DOM order and left position).
    for (let i = 1; i < picked.length; i++) {
      assert(picked[i - 1].span.offset_ms <= picked[i].span.offset_ms, `${picked[i - 1].step} starts before ${picked[i].step} (API)`)
      assert(picked[i - 1].bar.left <= picked[i].bar.left + 1e-6, `${picked[i - 1].step} bar left of ${picked[i].step}`)
    }
    const domOrder = bars.map((b) => b.step).filter((s) => steps.includes(s))
    assertEq(domOrder.join(), steps.join(), 'row order')
    // Widths: proportional to duration, except bars below MIN_BAR_PCT drawn at exactly that.
    const root = bars.find((b) => b.step === 'root')
    const rootSpan = spans.find((s) => s.span_id === root.id)
    for (const { step, span, bar } of [...picked, { step: 'root', span: rootSpan, bar: root }]) {
      const trueW = (span.duration_ms / range) * 100
      const trueL = ((span.offset_ms - t0) / range) * 100
      if (trueW < MIN_BAR_PCT) {
        assert(bar.min && Math.abs(bar.width - MIN_BAR_PCT) < 0.01, `${step}: tiny span drawn at the minimum width (${bar.width}%)`)
      } else {
        assert(!bar.min && Math.abs(bar.width - trueW) < 0.25, `${step}: width ${bar.width}% vs ${trueW.toFixed(3)}%`)
      }
      assert(Math.abs(bar.left - Math.min(trueL, 100 - bar.width)) < 0.25, `${step}: left ${bar.left}% vs ${trueL.toFixed(3)}%`)
    }
    const proportional = [...picked, { step: 'root', span: rootSpan, bar: root }].filter((p) => !p.bar.min)
    assert(proportional.length >= 2, 'at least two bars above the minimum width')
    for (let i = 0; i < proportional.length; i++) {
      for (let j = i + 1; j < proportional.length; j++) {
        const a = proportional[i]
        const b = proportional[j]
        const ratio = a.bar.width / b.bar.width / (a.span.duration_ms / b.span.duration_ms)
        assert(Math.abs(ratio - 1) < 0.02, `width ratio ${a.step}/${b.step} off by ${((ratio - 1) * 100).toFixed(2)}%`)
        if (a.bar.px >= 20 && b.bar.px >= 20) {
          const pxRatio = a.bar.px / b.bar.px / (a.span.duration_ms / b.span.duration_ms)
          assert(Math.abs(pxRatio - 1) < 0.05, `rendered px ratio ${a.step}/${b.step} off by ${((pxRatio - 1) * 100).toFixed(2)}%`)
        }
      }
    }
    const llm = picked[1]
    assert(llm.span.duration_ms >= 290, `the slow trace's LLM call lasts ≥ 300 ms (${llm.span.duration_ms})`)
    assert((await page.locator('[data-testid=ruler-tick]').count()) >= 2, 'ruler ticks')
  })

  await check('GenAI summary matches the trace', async () => {
    const { trace, spans } = await api(`/api/traces/${slowId}`)
    // The requested model, then (when another model served it, e.g. auto-routing) "→ served".
    assertEq(await page.$eval('[data-testid=genai-model]', (e) => e.firstChild?.textContent), trace.model, 'model')
    const served = spans.find((s) => s.attributes?.['gateway.step'] === 'llm_call')?.attributes?.['gen_ai.response.model']
    if (served && served !== trace.model) {
      assert((await page.textContent('[data-testid=genai-served-model]')).includes(served), `served model ${served} shown`)
    }
    assertEq(await page.textContent('[data-testid=genai-input-tokens]'), fmt.formatTokens(trace.input_tokens), 'input tokens')
    assertEq(await page.textContent('[data-testid=genai-output-tokens]'), fmt.formatTokens(trace.output_tokens), 'output tokens')
    assertEq(await page.textContent('[data-testid=genai-cost]'), fmt.formatMoney(trace.cost_usd), 'cost')
    assertEq(await page.textContent('[data-testid=genai-ttft]'), fmt.formatDuration(trace.ttft_ms), 'ttft')
  })

  await check('subtrees collapse and expand; spans show their attributes', async () => {
    const total = await page.locator('[data-testid=span-row]').count()
    assert(total >= 4, `at least 4 spans (${total})`)
    await page.locator('[data-testid=span-toggle]').first().click()
    assertEq(await page.locator('[data-testid=span-row]').count(), 1, 'rows with the root collapsed')
    await page.locator('[data-testid=span-toggle]').first().click()
    assertEq(await page.locator('[data-testid=span-row]').count(), total, 'rows after expanding')
    const llmRow = page.locator('[data-testid=span-row]', { has: page.locator('[data-step=llm_call]') })
    await llmRow.locator('.wf-name').click()
    const panel = await page.textContent('[data-testid=span-panel]')
    assert(panel.includes('gateway.step') && panel.includes('llm_call'), 'span panel lists attributes')
    await page.screenshot({ path: path.join(shots, 'trace-detail.png'), fullPage: true })
  })

  await check('back to the list keeps its rows', async () => {
    await page.click('[data-testid=back-to-traces]')
    await expectRows(sent, 'rows after coming back')
    assertEq(await page.evaluate(() => window.__e2eMarker), 'same-document', 'the page was reloaded')
  })

  await check('a hostile user id renders as text in the trace view', async () => {
    await page.evaluate((id) => {
      window.location.hash = `#/traces/${id}`
    }, xssId)
    await page.waitForSelector('[data-testid=trace-user]')
    assertEq(await page.textContent('[data-testid=trace-user]'), XSS_USER, 'user id text')
    assertEq(await page.evaluate(() => window.__xss), undefined, 'window.__xss')
    assertEq(await page.locator('img[src="x"]').count(), 0, 'injected <img> elements')
  })

  await check('overview cards show the values the API returns', async () => {
    await page.evaluate(() => {
      window.location.hash = '#/'
    })
    await page.waitForSelector('[data-testid=card-p50]')
    const cardText = (id) => page.$eval(`[data-testid=${id}] .card-value`, (e) => e.textContent)
    let last = []
    await waitFor(
      'cards equal to the API',
      async () => {
        const midnight = `${Math.floor(Date.now() / 86_400_000) * 86_400_000}000000`
        const lat = await api('/api/metrics/latency?window=1h')
        const today = await api(`/api/metrics/cost?since=${midnight}&bucket=1h`)
        const hour = await api('/api/metrics/cost?window=1h&bucket=1m')
        const want = {
          'card-p50': fmt.formatDuration(lat.p50_ms),
          'card-p95': fmt.formatDuration(lat.p95_ms),
          'card-p99': fmt.formatDuration(lat.p99_ms),
          'card-ttft-p50': fmt.formatDuration(lat.ttft_p50_ms),
          'card-ttft-p95': fmt.formatDuration(lat.ttft_p95_ms),
          'card-ttft-p99': fmt.formatDuration(lat.ttft_p99_ms),
          'card-cost-today': fmt.formatMoney(today.total_usd),
          'card-cost-hour': fmt.formatMoney(hour.total_usd),
          'card-unpriced': fmt.formatCount(today.unpriced_count),
        }
        last = []
        for (const [id, text] of Object.entries(want)) {
          const got = await cardText(id)
          if (got !== text) last.push(`${id}: card "${got}" vs API "${text}"`)
        }
        return last.length === 0
      },
      { timeoutMs: 20000, intervalMs: 500 },
    ).catch((e) => {
      throw new Error(`${e.message}: ${last.join('; ')}`)
    })
    assertEq(await cardText('card-unpriced'), '1', 'one unpriced request')
    assert(await page.$('[data-testid=card-unpriced].card-warn'), 'unpriced card is a warning')
    assert(!(await cardText('card-p50')).includes('—'), 'p50 has a value')
    await page.waitForTimeout(500)
    await page.screenshot({ path: path.join(shots, 'overview.png'), fullPage: true })
  })

  await check('span pipeline health cards match /metrics (n/a when absent)', async () => {
    let last = []
    await waitFor(
      'health cards equal to /metrics',
      async () => {
        const r = await fetch(`${stack.base}/metrics`)
        assert(r.ok, `/metrics → ${r.status}`)
        const h = gatewayHealth(await r.text())
        const want = {
          'card-dropped-queue-full': h.droppedQueueFull,
          'card-dropped-export-error': h.droppedExportError,
          'card-queue-depth': h.queueDepth,
          'card-exported': h.exported,
        }
        last = []
        for (const [id, v] of Object.entries(want)) {
          const text = v === null ? 'n/a' : fmt.formatCount(v)
          const got = await page.$eval(`[data-testid=${id}] .card-value`, (e) => e.textContent)
          if (got !== text) last.push(`${id}: card "${got}" vs /metrics "${text}"`)
        }
        for (const { name } of COUNTERS) {
          const v = h.counters[name]
          const text = v === null ? 'n/a' : fmt.formatCount(v)
          const got = await page.$eval(`[data-testid=counter-${name}] .counter-value`, (e) => e.textContent)
          if (got !== text) last.push(`${name}: row "${got}" vs /metrics "${text}"`)
        }
        return last.length === 0
      },
      { timeoutMs: 15000, intervalMs: 500 },
    ).catch((e) => {
      throw new Error(`${e.message}: ${last.join('; ')}`)
    })
    if (mode === 'gateway') {
      const text = await page.$eval('[data-testid=card-queue-depth] .card-value', (e) => e.textContent)
      assert(text !== 'n/a', 'the gateway exposes its writer queue depth')
    }
  })

  await check('loss and metering counters: non-zero values are highlighted and explained', async () => {
    const h = gatewayHealth(await (await fetch(`${stack.base}/metrics`)).text())
    const nonZero = COUNTERS.filter((c) => h.counters[c.name])
    if (mode === 'gateway') {
      // The test sent one request for a model without a price.
      assert(h.counters.gateway_unpriced_calls_total >= 1, `gateway_unpriced_calls_total = ${h.counters.gateway_unpriced_calls_total}`)
    }
    for (const { name } of nonZero) {
      const row = page.locator(`[data-testid=counter-${name}]`)
      assert(await row.evaluate((e) => e.classList.contains('counter-warn')), `${name}: row highlighted`)
      const explain = (await row.locator('.counter-explain').textContent()).trim()
      assert(explain.length > 20 && !(await row.locator('.counter-explain.muted').count()), `${name}: explained ("${explain}")`)
    }
  })

  await check('overview lists the breached snapshot, linking to its trace', async () => {
    const link = page.locator(`[data-testid=breached-list] a[href="#/traces/${slowId}"]`)
    await link.first().waitFor({ timeout: 10000 })
    assert((await page.textContent('[data-testid=breached-list]')).includes('cost_usd'), 'metric name shown')
  })

  const firstStart = Math.min(...(await api('/api/traces?limit=100')).traces.map((t) => t.start_time_unix_nano))
  const seeded = stack && seedDrift(stack.db, BigInt(Math.floor(firstStart / 1e6)) * 1_000_000n - 1_000_000_000n, BigInt(Date.now() + 60_000) * 1_000_000n)
  if (!seeded) skip('drift view shows a drift window with its breaches and worst traces', 'python3 not available to seed drift_snapshots')
  else
    await check('drift view shows a drift window with its breaches and worst traces', async () => {
      await page.evaluate(() => {
        window.location.hash = '#/drift'
      })
      const item = page.locator('[data-testid=drift-item]').first()
      await item.waitFor({ timeout: 20000 })
      const text = await item.textContent()
      assert(text.includes('prompt_length') && text.includes('drifted'), `drift item text: ${text.slice(0, 200)}`)
      assert(text.includes('cost_usd'), 'breached snapshot listed')
      assert((await item.locator(`a[href="#/traces/${slowId}"]`).count()) >= 1, 'slowest trace linked')
      await page.screenshot({ path: path.join(shots, 'drift.png'), fullPage: true })
      await item.locator(`a[href="#/traces/${slowId}"]`).first().click()
      await page.waitForSelector('[data-testid=span-bar]', { timeout: 10000 })
      assertEq(await page.evaluate(() => window.location.hash), `#/traces/${slowId}`, 'drift link opens the trace')
    })

  await checkApiErrors()

  await check('no script errors in the page', async () => {
    assertEq(await page.evaluate(() => window.__xss), undefined, 'window.__xss')
    assertEq(pageErrors.length, 0, `page errors: ${pageErrors.join(' | ')}`)
  })
}

let fatal = null
try {
  await main()
} catch (e) {
  fatal = e
  results.push({ name: 'setup', ok: false, error: e })
  console.log(`FAIL setup\n     ${String(e?.stack ?? e)}`)
} finally {
  await context?.close().catch(() => {})
  await stack?.close().catch(() => {})
  await stopAll()
  if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true })
  if (stack?.tmp) fs.rmSync(stack.tmp, { recursive: true, force: true })
}
const { failed, line } = summary()
if (failed && (fatal || process.env.UI_E2E_LOGS)) {
  console.log('--- gateway log (tail) ---\n' + logsOf('gateway').split('\n').slice(-30).join('\n'))
}
console.log(line)
process.exit(failed ? 1 : 0)
