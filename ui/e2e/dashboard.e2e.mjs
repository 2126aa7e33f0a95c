// End-to-end test of the dashboard in real headless Chromium against the real gateway.
//
// Starts target/debug/fake-gemini and target/debug/gateway (temporary config and database), opens
// the dashboard the gateway serves at / of its [api] listen address, sends traffic through the
// proxy and checks: rows arrive live without a reload and are never duplicated (also across a
// WebSocket reconnect), filters, hostile header values render as text, the trace waterfall (step
// bars present, ordered, widths proportional to durations with the minimum-width rule), the GenAI
// summary, collapsing, the overview's cards, breakdowns and breach list, the loss/metering
// counters, and that the page shows the API's own error text for a 503 (a separate `api` over a
// database that does not exist yet) and a 401 (wrong token), then recovers with the right token.
//
// The oracle is the database, not the dashboard's code nor the API: every number the test reads
// on the page is compared with a value the test computes itself from the SQLite rows of this run
// (read with the sqlite3 command-line shell: sums, counts, nearest-rank percentiles, span offsets),
// rendered by the test's own formatter written from the display rules of docs/ui.md. Which
// request breaches is decided by cost (never by how long anything took) and read back from
// metric_snapshots. No timing is asserted: the only clock is a deadline bounding each wait.
// Saves screenshots to e2e/screenshots/. Prints `N passed, M failed`; exits non-zero on any failure.
//
// UI_E2E_MODE=standalone runs the separate `api` binary behind a static server for ui/dist
// instead (for development before the gateway serves the dashboard); the default is `gateway`.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
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
const SLOW_USER = 'slow-user'
const UNPRICED_USER = 'unpriced-user'
const BODY = JSON.stringify({ contents: [{ parts: [{ text: 'hello' }] }] })
// Exactly one request breaches, by cost, never by how long anything took: the fake counts one
// prompt token per word, so 5000 words to gemini-2.5-pro cost about $0.004, and every other
// request of this test (one-word prompts, at most about $0.0001) stays far below the threshold.
// The same request is held 300 ms by the fake upstream so that its LLM call is a wide bar in the
// waterfall; no assertion depends on that time.
const COST_THRESHOLD = 0.001
const COSTLY_BODY = JSON.stringify({ contents: [{ parts: [{ text: 'costly '.repeat(5000) }] }] })
// Deadlines only bound waits; a loaded machine makes the test slower, never red.
const WAIT_MS = 60_000
// The loss and metering counters the overview lists (docs/api.md, docs/ui.md).
const COUNTER_NAMES = [
  'gateway_traces_dropped_total',
  'gateway_metric_snapshots_dropped_total',
  'gateway_breached_snapshots_dropped_total',
  'gateway_span_write_retries_total',
  'gateway_unmetered_usage_total',
  'gateway_unpriced_calls_total',
  'gateway_service_tier_downgrades_total',
  'gateway_response_decode_errors_total',
  'gateway_metric_label_overflow_total',
]

// ---------------------------------------------------------------------------------------------
// The display rules of docs/ui.md ("Rules the code keeps"), written here from that text and not
// imported from ui/src, so that the page is compared with an independent rendering.

const DASH = '—' // an absent figure
const UNPRICED = '⚠ unpriced' // "cost_usd: null renders as an ⚠ unpriced badge"
/** Docs: "A bar narrower than MIN_BAR_PCT (0.4 %) is drawn at exactly 0.4 %". */
const MIN_BAR_PCT = 0.4

/** 1234567 → "1,234,567". */
const thousands = (digits) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')

/** Money: `$1.23`, `$1,234.50`; below $1 three significant digits, at most six decimals
 *  (`$0.000123`, `$0.05`); anything positive below $0.000001 is `<$0.000001`; a real zero is
 *  `$0.00`. */
function showMoney(usd) {
  assert(typeof usd === 'number' && Number.isFinite(usd) && usd >= 0, `a cost to show: ${usd}`)
  if (usd === 0) return '$0.00'
  if (usd < 0.000001) return '<$0.000001'
  const sig = Number(usd.toPrecision(3))
  if (sig >= 1) {
    const [whole, cents] = usd.toFixed(2).split('.')
    return `$${thousands(whole)}.${cents}`
  }
  // Decimals that show three significant digits: 0.0123 has its first digit at 10^-2, so 4.
  const first = Number(sig.toExponential().split('e')[1])
  const decimals = Math.min(6, 2 - first)
  // "$0.05", not "$0.0500": zeros past the second decimal are not shown.
  return '$' + sig.toFixed(decimals).replace(/(\.\d\d\d*?)0+$/, '$1')
}

// "unpriced: the request was metered but no price applied; a NULL cost otherwise (deferred, free,
// no usage) renders as —" (docs/schema.md, Unpriced).
const showCost = (usd, unpriced = 1) => (usd === null ? (unpriced === 1 ? UNPRICED : '—') : showMoney(usd))

/** Durations from ms: `850 µs`, `12.3 ms`, `1.25 s`, `2m 03s`, `1h 02m`; three significant
 *  digits below a minute; rounding never produces `1000 ms` or `60.0 s`. */
function showDuration(ms) {
  if (ms === null || ms === undefined) return DASH
  assert(Number.isFinite(ms) && ms >= 0, `a duration to show: ${ms}`)
  const us = Math.round(ms * 1000)
  if (us < 1000) return `${us} µs`
  if (Number(ms.toPrecision(3)) < 1000) return `${ms.toPrecision(3)} ms`
  const s = ms / 1000
  if (Number(s.toPrecision(3)) < 60) return `${s.toPrecision(3)} s`
  const wholeS = Math.round(s)
  const two = (n) => String(n).padStart(2, '0')
  if (wholeS < 3600) return `${Math.floor(wholeS / 60)}m ${two(wholeS % 60)}s`
  const wholeM = Math.round(s / 60)
  return `${Math.floor(wholeM / 60)}h ${two(wholeM % 60)}m`
}

/** A fraction as a whole percentage, `<1%` above 0. */
function showPercent(f) {
  if (f > 0 && f < 0.01) return '<1%'
  return `${Math.round(f * 100)}%`
}

/** Counts: whole numbers with thousands separators. */
function showCount(n) {
  if (n === null || n === undefined) return DASH
  assert(Number.isInteger(n) && n >= 0, `a count to show: ${n}`)
  return thousands(String(n))
}

/** Token counts: as counts. Larger ones are shown compactly by the dashboard; this test keeps
 *  every figure it reads below that, so a compact form here would be a guess. */
function showTokens(n) {
  assert(n === null || n < 10_000, `${n} tokens: this test's traffic stays below 10,000 tokens per figure`)
  return showCount(n)
}

/** A metric snapshot's value in its unit: `*_ms` a duration, `*_usd` money, else a count. */
function showMetric(metric, v) {
  if (v === null) return DASH
  if (metric.endsWith('_ms')) return showDuration(v)
  if (metric.endsWith('_usd')) return showMoney(v)
  return showCount(v)
}

/** Nearest rank (docs/api.md): the p-th percentile of n values is the value of rank
 *  ceil(p × n / 100), 1-based, ascending; null without values. */
function nearestRank(values, p) {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(1, Math.ceil((p * sorted.length) / 100)) - 1]
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0)

// ---------------------------------------------------------------------------------------------
// The database of this run, read with the sqlite3 shell (read-only; the gateway keeps writing).
// Integers that may pass 2^53 (unix nanoseconds) are selected as text or as differences.

function sql(query) {
  const r = spawnSync('sqlite3', ['-readonly', '-json', '-cmd', '.timeout 10000', stack.db, query], { encoding: 'utf8' })
  if (r.error) throw new Error(`sqlite3: ${r.error.message} (scripts/setup.sh test installs it)`)
  if (r.status !== 0) throw new Error(`sqlite3 failed (${r.status}): ${r.stderr}\n${query}`)
  return r.stdout.trim() ? JSON.parse(r.stdout) : []
}

const TRACE_COLUMNS = `trace_id, model, operation, stream, status, duration_ms, ttft_ms, input_tokens,
  output_tokens, cost_usd, unpriced, user_id, session_id`

/** The traces of this run whose start is at or after `sinceNs` (a BigInt; default: all). */
function dbTraces(sinceNs = 0n) {
  return sql(`SELECT ${TRACE_COLUMNS} FROM traces WHERE start_time_unix_nano >= ${sinceNs}`)
}

function dbTrace(id) {
  const rows = sql(`SELECT ${TRACE_COLUMNS} FROM traces WHERE trace_id = '${id}'`)
  assertEq(rows.length, 1, `traces rows with trace_id ${id}`)
  return rows[0]
}

/** docs/schema.md: unpriced when traces.unpriced = 1 (the writer's verdict), and only then. */
const isUnpriced = (t) => t.unpriced === 1

/** The cost report the overview shows for a set of traces: total, unpriced count, groups. */
function costOf(traces) {
  const unpriced = traces.filter(isUnpriced).length
  return {
    // docs/api.md: unpriced traces add nothing; a group made only of them has no cost, never $0.
    usd: traces.length > 0 && unpriced === traces.length ? null : sum(traces.map((t) => t.cost_usd ?? 0)),
    requests: traces.length,
    unpriced,
    input: sum(traces.map((t) => t.input_tokens ?? 0)),
    output: sum(traces.map((t) => t.output_tokens ?? 0)),
  }
}

function groupBy(traces, key) {
  const groups = new Map()
  for (const t of traces) groups.set(t[key], [...(groups.get(t[key]) ?? []), t])
  return groups
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n
const HOUR_NS = 3_600_000_000_000n
/** Midnight UTC of today, in unix nanoseconds (the API's "today"). */
const midnightNs = () => (BigInt(Date.now()) / 86_400_000n) * 86_400_000n * 1_000_000n

// ---------------------------------------------------------------------------------------------
// /metrics, parsed here (not with the dashboard's parser).

/** The value of the sample `name{labels}` (exactly those labels) in Prometheus text, or null. */
function promSample(text, name, labels = {}) {
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (!m || m[1] !== name) continue
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]))
    const want = Object.entries(labels)
    if (want.length === Object.keys(got).length && want.every(([k, v]) => got[k] === v)) return Number(m[3])
  }
  return null
}

// ---------------------------------------------------------------------------------------------

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
  await waitFor('the gateway reloads its thresholds', async () => reloads() > before, { timeoutMs: WAIT_MS }).catch((e) => {
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
  await waitFor(what, async () => (await rowCount()) === n && (await rowIds()).length === n, { timeoutMs: WAIT_MS }).catch(async (e) => {
    throw new Error(`${e.message} (count ${await rowCount()}, DOM rows ${(await rowIds()).length}, wanted ${n})`)
  })
  const ids = await rowIds()
  assertEq(new Set(ids).size, ids.length, 'duplicate trace rows')
  return ids
}

/** Polls `compare` (which returns a list of differences) until it returns none; on the deadline,
 *  fails with the last differences. */
async function untilSame(what, compare) {
  let last = []
  await waitFor(
    what,
    async () => {
      last = await compare()
      return last.length === 0
    },
    { timeoutMs: WAIT_MS, intervalMs: 300 },
  ).catch((e) => {
    throw new Error(`${e.message}:\n       ${last.join('\n       ')}`)
  })
}

/** The text of every cell of the rows of `table` (a locator), trimmed. */
/** Each body row's cell texts; a cell's navigation tags (`a.tag`, e.g. "timeline") are not its value. */
const tableRows = (table) =>
  table.locator('tbody tr').evaluateAll((trs) =>
    trs.map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => {
        const copy = td.cloneNode(true)
        copy.querySelectorAll('a.tag').forEach((a) => a.remove())
        return copy.textContent.trim()
      }),
    ),
  )

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
  await el.waitFor({ timeout: WAIT_MS })
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
      const want = dbTraces().length
      await waitFor(`${want} rows with the right token`, async () => Number(await p.getAttribute('[data-testid=trace-count]', 'data-count')) === want, { timeoutMs: WAIT_MS })
      assertEq(await p.locator('[data-testid=api-error]').count(), 0, 'error notes left')
      await p.waitForSelector('[data-testid=live-status][data-state=live]', { timeout: WAIT_MS })
    } finally {
      await p.close()
    }
  })
}

async function main() {
  fs.mkdirSync(shots, { recursive: true })
  if (mode === 'standalone' && !fs.existsSync(path.join(uiDir, 'dist', 'index.html'))) throw new Error('ui/dist missing: run `npm run build` first')
  stack = await startStack({ repo, uiDir, mode })
  console.log(`mode ${mode}: dashboard ${stack.base}, proxy ${stack.proxy}, database ${stack.db}`)
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
    await page.waitForSelector('[data-testid=live-status][data-state=live]', { timeout: WAIT_MS })
    await page.evaluate(() => {
      window.__e2eMarker = 'same-document'
    })
    assertEq(dbTraces().length, 0, 'traces rows in the fresh database')
    assertEq(await rowCount(), 0, 'fresh database shows no rows')
  })

  await check('traces appear live without a reload, once each, and are the database rows', async () => {
    for (let i = 0; i < 4; i++) await send('gemini-2.5-flash')
    for (let i = 0; i < 3; i++) await send('gemini-2.5-flash', { stream: true, headers: { 'x-gateway-session-id': 'e2e-session' } })
    await send('gemini-2.5-pro', { body: COSTLY_BODY, headers: { 'x-fake-latency-ms': '300', 'x-gateway-user-id': SLOW_USER } })
    await send('my-unpriced-model', { headers: { 'x-gateway-user-id': UNPRICED_USER } })
    await send('gemini-2.5-flash', { headers: { 'x-gateway-user-id': XSS_USER } })
    sent = 10
    const ids = await expectRows(sent, `${sent} live rows`)
    assertEq(await page.evaluate(() => window.__e2eMarker), 'same-document', 'the page was reloaded')
    const rows = dbTraces()
    assertEq([...ids].sort().join(), rows.map((t) => t.trace_id).sort().join(), 'rows on the page are the traces rows of the database')
    const byUser = (u) => rows.filter((t) => t.user_id === u).map((t) => t.trace_id)
    ;[slowId, unpricedId, xssId] = [SLOW_USER, UNPRICED_USER, XSS_USER].map((u) => {
      const found = byUser(u)
      assertEq(found.length, 1, `traces rows of user ${u}`)
      return found[0]
    })
  })

  await check('hostile header values render as text, never as HTML', async () => {
    const cell = await page.$eval(`[data-trace-id="${xssId}"] [data-col=user]`, (e) => e.textContent)
    assertEq(cell, XSS_USER, 'user cell text')
    assertEq(await page.evaluate(() => window.__xss), undefined, 'window.__xss')
    assertEq(await page.locator('img[src="x"]').count(), 0, 'injected <img> elements')
  })

  await check('breach badges: the rows breached in metric_snapshots, which are exactly the forced costly call', async () => {
    // What the database says breached, and that it is the one request the test made costly.
    const breached = sql('SELECT trace_id, metric, value, threshold FROM metric_snapshots WHERE breached = 1')
    assertEq(breached.length, 1, `breached metric_snapshots rows (${JSON.stringify(breached)})`)
    assertEq(breached[0].trace_id, slowId, 'the breached row is the costly request')
    assertEq(breached[0].metric, 'cost_usd', 'breached metric')
    assertEq(breached[0].threshold, COST_THRESHOLD, 'breached threshold')
    assertEq(breached[0].value, dbTrace(slowId).cost_usd, 'the breached value is the trace cost')
    assert(breached[0].value > COST_THRESHOLD, `the costly call costs more than $${COST_THRESHOLD}: ${breached[0].value}`)
    // Every other cost snapshot is below the threshold and not breached.
    const costRows = sql("SELECT trace_id, value, threshold, breached FROM metric_snapshots WHERE metric = 'cost_usd'")
    for (const r of costRows.filter((r) => r.trace_id !== slowId)) {
      assert(r.breached === 0 && r.value <= COST_THRESHOLD, `an ordinary call is not breached: ${JSON.stringify(r)}`)
    }
    const breachedIds = [...new Set(breached.map((r) => r.trace_id))].sort()
    // The page: exactly those rows carry the badge.
    const badged = async () =>
      (await page.$$eval('[data-testid=trace-row]', (els) => els.filter((e) => e.querySelector('.badge-bad')).map((e) => e.getAttribute('data-trace-id')))).sort()
    await waitFor('the breach badges', async () => (await badged()).join() === breachedIds.join(), { timeoutMs: WAIT_MS }).catch(async (e) => {
      throw new Error(`${e.message}: badged ${JSON.stringify(await badged())}, breached in the database ${JSON.stringify(breachedIds)}`)
    })
    // And the API's breached filter agrees with the database.
    const apiBreached = (await api('/api/traces?breached=true&limit=500')).traces.map((t) => t.trace_id).sort()
    assertEq(apiBreached.join(), breachedIds.join(), 'API breached traces')
  })

  await check('unpriced cost shows a warning badge, not $0', async () => {
    assertEq(dbTrace(unpricedId).cost_usd, null, 'the unpriced trace has no cost in the database')
    const cost = await page.$eval(`[data-trace-id="${unpricedId}"] [data-col=cost]`, (e) => e.textContent)
    assertEq(cost, UNPRICED, "unpriced row's cost cell")
    const priced = await page.$eval(`[data-trace-id="${slowId}"] [data-col=cost]`, (e) => e.textContent)
    assertEq(priced, showMoney(dbTrace(slowId).cost_usd), "priced row's cost cell")
  })

  await check('no duplicates across a WebSocket reconnect', async () => {
    // After a reconnect the page re-reads the newest page of traces (the "head refresh").
    const headRefresh = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/traces' && r.request().method() === 'GET', { timeout: WAIT_MS })
    await page.evaluate(() => window.__gatewayLive.drop())
    await page.waitForSelector('[data-testid=live-status][data-state=reconnecting]', { timeout: WAIT_MS })
    await page.waitForSelector('[data-testid=live-status][data-state=live]', { timeout: WAIT_MS })
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
    const ids = await expectRows(2, 'two gemini-2.5-pro rows')
    // A row reaches the page once it is in the database (the live feed tails the table).
    const pro = dbTraces().filter((t) => t.model === 'gemini-2.5-pro')
    assertEq(pro.length, 2, 'gemini-2.5-pro traces in the database')
    assertEq([...ids].sort().join(), pro.map((t) => t.trace_id).sort().join(), 'the filtered rows are the gemini-2.5-pro rows of the database')
    await page.getByRole('button', { name: 'Clear' }).click()
    await expectRows(sent, 'all rows after clearing the filter')
    await page.screenshot({ path: path.join(shots, 'traces.png') })
  })

  await check("every row's duration, TTFT, tokens and cost are its database row's", async () => {
    const rows = dbTraces()
    assertEq(rows.length, sent, 'traces rows in the database: one per request sent')
    // Columns: start, trace, model, status, duration, TTFT, tokens in / out, cost, user, session, breach.
    const cells = await page.$$eval('[data-testid=trace-row]', (trs) =>
      trs.map((tr) => ({ id: tr.getAttribute('data-trace-id'), td: [...tr.querySelectorAll('td')].map((td) => td.textContent) })),
    )
    assertEq(cells.length, rows.length, 'rows on the page')
    const bad = []
    for (const { id, td } of cells) {
      const t = rows.find((r) => r.trace_id === id)
      if (!t) {
        bad.push(`${id}: no such trace in the database`)
        continue
      }
      const want = {
        model: `${t.model}${t.stream ? 'stream' : ''}`,
        status: t.status,
        duration: showDuration(t.duration_ms),
        ttft: showDuration(t.ttft_ms),
        tokens: `${showTokens(t.input_tokens)} / ${showTokens(t.output_tokens)}`,
        cost: showCost(t.cost_usd, t.unpriced),
        user: t.user_id ?? '',
        session: t.session_id ?? '',
      }
      const got = { model: td[2], status: td[3], duration: td[4], ttft: td[5], tokens: td[6], cost: td[7], user: td[8], session: td[9] }
      for (const k of Object.keys(want)) if (got[k] !== want[k]) bad.push(`${id} ${k}: page "${got[k]}", database "${want[k]}"`)
    }
    assert(bad.length === 0, `rows differ from the database:\n       ${bad.join('\n       ')}`)
    // The streams have a TTFT, the others none: the column is not blank by accident.
    assert(rows.some((t) => t.stream && t.ttft_ms !== null) && rows.some((t) => t.ttft_ms === null), 'TTFT present on streams only')
  })

  await check('row click opens the trace waterfall with proportional step bars', async () => {
    await page.click(`[data-trace-id="${slowId}"] td:nth-child(3)`)
    await page.waitForSelector('[data-testid=span-bar]', { timeout: WAIT_MS })
    assertEq(await page.evaluate(() => window.location.hash), `#/traces/${slowId}`, 'hash route')
    assertEq(await page.textContent('[data-testid=trace-duration]'), showDuration(dbTrace(slowId).duration_ms), 'trace duration')
    // The spans of the trace from the database: offsets from the earliest start, in ms.
    const spans = sql(`SELECT span_id, json_extract(attributes, '$."gateway.step"') AS step,
        (start_time_unix_nano - (SELECT MIN(start_time_unix_nano) FROM spans WHERE trace_id = '${slowId}')) / 1e6 AS offset_ms,
        (end_time_unix_nano - start_time_unix_nano) / 1e6 AS duration_ms
      FROM spans WHERE trace_id = '${slowId}'`)
    const range = Math.max(...spans.map((s) => s.offset_ms + s.duration_ms))
    const bars = await page.$$eval('[data-testid=span-bar]', (els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect()
        return { id: e.dataset.spanId, step: e.dataset.step, min: e.dataset.minWidth === 'true', left: parseFloat(e.style.left), width: parseFloat(e.style.width), px: r.width }
      }),
    )
    assertEq(bars.length, spans.length, 'one bar per span of the database')
    assertEq(bars.map((b) => b.id).sort().join(), spans.map((s) => s.span_id).sort().join(), 'the bars are the spans of the database')
    const steps = ['prompt_construction', 'llm_call', 'post_processing']
    const picked = steps.map((step) => {
      const s = spans.filter((x) => x.step === step)
      assertEq(s.length, 1, `spans with gateway.step=${step}`)
      const bar = bars.find((b) => b.id === s[0].span_id)
      assert(bar, `bar for ${step}`)
      assertEq(bar.step, step, 'data-step')
      return { step, span: s[0], bar }
    })
    // In order by start, in the database and on screen (DOM order and left position).
    for (let i = 1; i < picked.length; i++) {
      assert(picked[i - 1].span.offset_ms <= picked[i].span.offset_ms, `${picked[i - 1].step} starts before ${picked[i].step} (database)`)
      assert(picked[i - 1].bar.left <= picked[i].bar.left + 1e-6, `${picked[i - 1].step} bar left of ${picked[i].step}`)
    }
    const domOrder = bars.map((b) => b.step).filter((s) => steps.includes(s))
    assertEq(domOrder.join(), steps.join(), 'row order')
    // Widths: proportional to duration (docs/ui.md: width% = duration / range · 100), except bars
    // below MIN_BAR_PCT, drawn at exactly that and shifted left if they would pass 100 %.
    const rootSpan = spans.find((s) => s.offset_ms === 0 && s.duration_ms === range) ?? spans.find((s) => s.step === null)
    const root = bars.find((b) => b.id === rootSpan?.span_id)
    assert(root, 'a root bar spanning the whole range')
    const all = [...picked, { step: 'root', span: rootSpan, bar: root }]
    for (const { step, span, bar } of all) {
      const trueW = (span.duration_ms / range) * 100
      const trueL = (span.offset_ms / range) * 100
      if (trueW < MIN_BAR_PCT) {
        assert(bar.min && Math.abs(bar.width - MIN_BAR_PCT) < 0.01, `${step}: tiny span drawn at the minimum width (${bar.width}%)`)
      } else {
        assert(!bar.min && Math.abs(bar.width - trueW) < 0.25, `${step}: width ${bar.width}% vs ${trueW.toFixed(3)}% from the database`)
      }
      assert(Math.abs(bar.left - Math.min(trueL, 100 - bar.width)) < 0.25, `${step}: left ${bar.left}% vs ${trueL.toFixed(3)}% from the database`)
    }
    const proportional = all.filter((p) => !p.bar.min)
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
    assert((await page.locator('[data-testid=ruler-tick]').count()) >= 2, 'ruler ticks')
  })

  await check('GenAI summary and metric snapshots match the database rows', async () => {
    const t = dbTrace(slowId)
    // The requested model, then (when another model served it, e.g. auto-routing) "→ served".
    assertEq(await page.$eval('[data-testid=genai-model]', (e) => e.firstChild?.textContent), t.model, 'model')
    const [llm] = sql(`SELECT json_extract(attributes, '$."gen_ai.response.model"') AS served FROM spans
      WHERE trace_id = '${slowId}' AND json_extract(attributes, '$."gateway.step"') = 'llm_call'`)
    if (llm?.served && llm.served !== t.model) {
      assert((await page.textContent('[data-testid=genai-served-model]')).includes(llm.served), `served model ${llm.served} shown`)
    }
    assertEq(await page.textContent('[data-testid=genai-input-tokens]'), showTokens(t.input_tokens), 'input tokens')
    assertEq(await page.textContent('[data-testid=genai-output-tokens]'), showTokens(t.output_tokens), 'output tokens')
    assert(t.input_tokens >= 5000, `the costly prompt's 5000 words are counted: ${t.input_tokens}`)
    assertEq(await page.textContent('[data-testid=genai-cost]'), showCost(t.cost_usd, t.unpriced), 'cost')
    assertEq(await page.textContent('[data-testid=genai-ttft]'), showDuration(t.ttft_ms), 'ttft')
    // The trace's metric snapshots table: one row per metric_snapshots row.
    const snaps = sql(`SELECT metric, value, threshold, breached FROM metric_snapshots WHERE trace_id = '${slowId}'`)
    assert(snaps.length >= 2, `metric_snapshots rows of the trace: ${snaps.length}`)
    const table = page.locator('section.panel', { has: page.locator('h3', { hasText: 'Metric snapshots' }) }).locator('table')
    const shown = await tableRows(table)
    const want = snaps.map((s) => [s.metric, showMetric(s.metric, s.value), showMetric(s.metric, s.threshold), s.breached ? 'breached' : 'no'].join(' | '))
    assertEq(shown.map((r) => r.join(' | ')).sort().join('\n'), want.sort().join('\n'), 'metric snapshots of the trace')
  })

  await check('subtrees collapse and expand; spans show their attributes', async () => {
    const total = await page.locator('[data-testid=span-row]').count()
    assertEq(total, sql(`SELECT COUNT(*) AS n FROM spans WHERE trace_id = '${slowId}'`)[0].n, 'span rows')
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
    await page.waitForSelector('[data-testid=trace-user]', { timeout: WAIT_MS })
    assertEq(await page.textContent('[data-testid=trace-user]'), XSS_USER, 'user id text')
    assertEq(await page.evaluate(() => window.__xss), undefined, 'window.__xss')
    assertEq(await page.locator('img[src="x"]').count(), 0, 'injected <img> elements')
  })

  await check('overview cards equal the sums, counts and nearest-rank percentiles of the database rows', async () => {
    await page.evaluate(() => {
      window.location.hash = '#/'
    })
    await page.waitForSelector('[data-testid=card-p50]', { timeout: WAIT_MS })
    const card = (id) =>
      page.$eval(`[data-testid=${id}]`, (e) => ({ text: e.querySelector('.card-value').textContent, raw: e.getAttribute('data-value') }))
    // Windows as the API reads them (by start time, ending now), recomputed on every poll.
    await untilSame('the cards equal to the database', async () => {
      const hour = dbTraces(nowNs() - HOUR_NS)
      const today = dbTraces(midnightNs())
      const tenMinutes = dbTraces(nowNs() - 600_000_000_000n)
      const durations = hour.map((t) => t.duration_ms)
      const ttfts = hour.filter((t) => t.ttft_ms !== null).map((t) => t.ttft_ms)
      const want = {}
      for (const p of [50, 95, 99]) {
        want[`card-p${p}`] = { value: nearestRank(durations, p), show: showDuration, exact: true }
        want[`card-ttft-p${p}`] = { value: nearestRank(ttfts, p), show: showDuration, exact: true }
      }
      want['card-cost-today'] = { value: costOf(today).usd ?? 0, show: showMoney }
      want['card-cost-hour'] = { value: costOf(hour).usd ?? 0, show: showMoney }
      want['card-unpriced'] = { value: costOf(today).unpriced, show: showCount, exact: true }
      want['card-requests'] = { value: hour.length, show: showCount, exact: true }
      const burn = (costOf(tenMinutes).usd ?? 0) * 6
      want['card-burn-rate'] = { value: burn, show: (v) => `${showMoney(v)}/h` }
      const diffs = []
      for (const [id, w] of Object.entries(want)) {
        const got = await card(id)
        const text = w.value === null ? DASH : w.show(w.value)
        if (got.text !== text) diffs.push(`${id}: page "${got.text}", database "${text}"`)
        // The raw figure behind the text: a percentile is a stored value, exactly; a sum of
        // costs equals the database's up to the API's rounding to 12 decimals.
        const raw = got.raw === '' ? null : Number(got.raw)
        if (w.value === null ? raw !== null : w.exact ? raw !== w.value : !(Math.abs(raw - w.value) <= 1e-11)) {
          diffs.push(`${id}: raw ${got.raw}, database ${w.value}`)
        }
      }
      return diffs
    })
    const unpriced = costOf(dbTraces(midnightNs())).unpriced
    assert(unpriced >= 1, 'the unpriced request counts as unpriced in the database')
    assert(await page.$('[data-testid=card-unpriced].card-warn'), 'unpriced card is a warning')
    // Charts drawn (uPlot canvases) before the screenshot: a wait, not a sleep.
    for (const id of ['chart-latency', 'chart-ttft', 'chart-cost']) {
      await page.locator(`[data-testid=${id}] canvas`).first().waitFor({ timeout: WAIT_MS })
    }
    await page.screenshot({ path: path.join(shots, 'overview.png'), fullPage: true })
  })

  await check('cost by model, user and session and latency by model equal the database rows', async () => {
    const key = (k) => (k === null || k === undefined || k === '' ? '(none)' : k)
    await untilSame('the breakdown tables equal to the database', async () => {
      const today = dbTraces(midnightNs())
      const diffs = []
      for (const [dimension, column] of [
        ['model', 'model'],
        ['user_id', 'user_id'],
        ['session_id', 'session_id'],
      ]) {
        const want = new Map()
        for (const [k, ts] of groupBy(today, column)) {
          const c = costOf(ts)
          const cost = c.usd === null ? UNPRICED : `${showMoney(c.usd)}${c.unpriced ? `+${c.unpriced}` : ''}`
          want.set(key(k), [key(k), showCount(c.requests), `${showTokens(c.input)} / ${showTokens(c.output)}`, cost].join(' | '))
        }
        assert(want.size <= 8, `${dimension}: every group fits in the table (${want.size})`)
        const shown = (await tableRows(page.locator(`[data-testid=cost-by-${dimension}] table`))).map((r) => r.join(' | '))
        if (dimension === 'session_id') {
          // Every named session links to its timeline page.
          const links = await page.locator('[data-testid=cost-by-session_id] [data-testid=cost-session-link]').evaluateAll((as) => as.map((a) => a.getAttribute('href')))
          const named = [...want.keys()].filter((k) => k !== '(none)')
          const wantLinks = named.map((k) => `#/sessions/${encodeURIComponent(k)}`).sort()
          if (links.slice().sort().join('\n') !== wantLinks.join('\n')) diffs.push(`session timeline links: page ${JSON.stringify(links)}, database ${JSON.stringify(wantLinks)}`)
        }
        const w = [...want.values()].sort()
        if (shown.slice().sort().join('\n') !== w.join('\n')) diffs.push(`cost by ${dimension}: page ${JSON.stringify(shown)}, database ${JSON.stringify(w)}`)
      }
      const hour = dbTraces(nowNs() - HOUR_NS)
      const want = [...groupBy(hour, 'model')].map(([k, ts]) => {
        const d = ts.map((t) => t.duration_ms)
        return [key(k), showCount(ts.length), ...[50, 95, 99].map((p) => showDuration(nearestRank(d, p)))].join(' | ')
      })
      const table = page.locator('section.panel', { has: page.locator('h3', { hasText: 'Latency by model' }) }).locator('table')
      const shown = (await table.count()) ? (await tableRows(table)).map((r) => r.join(' | ')) : []
      if (shown.slice().sort().join('\n') !== want.sort().join('\n')) diffs.push(`latency by model: page ${JSON.stringify(shown)}, database ${JSON.stringify(want)}`)
      return diffs
    })
  })

  await check('span pipeline health cards and counters equal /metrics and the database', async () => {
    await untilSame('health cards equal to /metrics and the database', async () => {
      const r = await fetch(`${stack.base}/metrics`)
      assert(r.ok, `/metrics → ${r.status}`)
      const text = await r.text()
      const want = {
        'card-dropped-queue-full': promSample(text, 'gateway_spans_dropped_total', { reason: 'queue_full' }),
        'card-dropped-export-error': promSample(text, 'gateway_spans_dropped_total', { reason: 'export_error' }),
        'card-queue-depth': promSample(text, 'gateway_writer_queue_depth'),
        'card-exported': promSample(text, 'gateway_spans_exported_total'),
      }
      const diffs = []
      for (const [id, v] of Object.entries(want)) {
        const shown = v === null ? 'n/a' : showCount(v)
        const got = await page.$eval(`[data-testid=${id}] .card-value`, (e) => e.textContent)
        if (got !== shown) diffs.push(`${id}: card "${got}" vs /metrics "${shown}"`)
      }
      // How full the writer's queue is against its byte bound, as a whole percentage.
      const bytes = promSample(text, 'gateway_writer_queue_bytes')
      const limit = promSample(text, 'gateway_writer_queue_bytes_limit')
      const fill = bytes === null || !limit ? 'n/a' : showPercent(bytes / limit)
      const gotFill = await page.$eval('[data-testid=card-queue-fill] .card-value', (e) => e.textContent)
      if (gotFill !== fill) diffs.push(`card-queue-fill: card "${gotFill}" vs /metrics "${fill}"`)
      if (mode === 'gateway' && gotFill !== '0%') diffs.push(`card-queue-fill: "${gotFill}", the queue drained: "0%"`)
      for (const name of COUNTER_NAMES) {
        const v = promSample(text, name)
        const shown = v === null ? 'n/a' : showCount(v)
        const got = await page.$eval(`[data-testid=counter-${name}] .counter-value`, (e) => e.textContent)
        if (got !== shown) diffs.push(`${name}: row "${got}" vs /metrics "${shown}"`)
      }
      if (mode === 'gateway') {
        // What the database says these figures must be: every span of every request written
        // (exported = the spans rows), none dropped (a row per request sent), the one unpriced call.
        const spans = sql('SELECT COUNT(*) AS n FROM spans')[0].n
        const traces = dbTraces()
        const db = {
          'card-exported': spans,
          'card-dropped-queue-full': 0,
          'card-dropped-export-error': 0,
          'card-queue-depth': 0,
          'counter-gateway_traces_dropped_total': sent - traces.length,
          'counter-gateway_unpriced_calls_total': traces.filter((t) => t.unpriced === 1).length,
        }
        for (const [id, n] of Object.entries(db)) {
          const got = await page.$eval(`[data-testid=${id}] ${id.startsWith('card') ? '.card-value' : '.counter-value'}`, (e) => e.textContent)
          if (got !== showCount(n)) diffs.push(`${id}: page "${got}", database "${showCount(n)}"`)
        }
      }
      return diffs
    })
  })

  await check('loss and metering counters: non-zero values are highlighted and explained', async () => {
    const text = await (await fetch(`${stack.base}/metrics`)).text()
    const nonZero = COUNTER_NAMES.filter((name) => promSample(text, name))
    if (mode === 'gateway') assert(nonZero.includes('gateway_unpriced_calls_total'), `the unpriced call is counted: ${nonZero}`)
    for (const name of COUNTER_NAMES) {
      const row = page.locator(`[data-testid=counter-${name}]`)
      const warn = await row.evaluate((e) => e.classList.contains('counter-warn'))
      assertEq(warn, nonZero.includes(name), `${name}: highlighted when non-zero`)
      if (!warn) continue
      const explain = (await row.locator('.counter-explain').textContent()).trim()
      assert(explain.length > 20 && !(await row.locator('.counter-explain.muted').count()), `${name}: explained ("${explain}")`)
    }
  })

  await check('the breach list shows the breached metric_snapshots rows, linking to their traces', async () => {
    const breached = sql('SELECT trace_id, metric, value, threshold, model FROM metric_snapshots WHERE breached = 1 ORDER BY id DESC LIMIT 15')
    assertEq(breached.length, 1, 'breached rows in the database')
    // Columns: when, metric, value, threshold, model, trace.
    const want = breached.map((s) => [s.metric, showMetric(s.metric, s.value), showMetric(s.metric, s.threshold), s.model ?? DASH, s.trace_id].join(' | '))
    const list = page.locator('[data-testid=breached-list]')
    const shown = async () =>
      list.locator('tbody tr').evaluateAll((trs) =>
        trs.map((tr) => {
          const td = [...tr.querySelectorAll('td')].map((c) => c.textContent.trim())
          const href = tr.querySelector('a')?.getAttribute('href') ?? ''
          return [td[1], td[2], td[3], td[4], href.replace(/^#\/traces\//, '')].join(' | ')
        }),
      )
    await waitFor('the breach list', async () => (await shown()).join('\n') === want.join('\n'), { timeoutMs: WAIT_MS }).catch(async (e) => {
      throw new Error(`${e.message}: page ${JSON.stringify(await shown())}, database ${JSON.stringify(want)}`)
    })
  })

  const [{ first }] = sql('SELECT CAST(MIN(start_time_unix_nano) AS TEXT) AS first FROM traces')
  const seeded = stack && seedDrift(stack.db, BigInt(first) - 1_000_000_000n, nowNs() + 60_000_000_000n)
  if (!seeded) skip('drift view shows a drift window with its breaches and worst traces', 'python3 not available to seed drift_snapshots')
  else
    await check('drift view shows a drift window with its breaches and worst traces', async () => {
      await page.evaluate(() => {
        window.location.hash = '#/drift'
      })
      const item = page.locator('[data-testid=drift-item]').first()
      await item.waitFor({ timeout: WAIT_MS })
      const text = await item.textContent()
      assert(text.includes('prompt_length') && text.includes('drifted'), `drift item text: ${text.slice(0, 200)}`)
      assert(text.includes('cost_usd'), 'breached snapshot listed')
      assert((await item.locator(`a[href="#/traces/${slowId}"]`).count()) >= 1, 'slowest trace linked')
      await page.screenshot({ path: path.join(shots, 'drift.png'), fullPage: true })
      await item.locator(`a[href="#/traces/${slowId}"]`).first().click()
      await page.waitForSelector('[data-testid=span-bar]', { timeout: WAIT_MS })
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
