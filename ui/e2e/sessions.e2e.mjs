// End-to-end test of the session view in real headless Chromium against the real gateway.
//
// Starts target/debug/fake-gemini and target/debug/gateway (proxy + API + dashboard), then sends
// one session of three calls, each with `x-gateway-session-id`: a generateContent call joined to
// an application span (its `traceparent`, and the span itself sent to POST /v1/traces as
// OTLP/JSON), an Interaction, and a second Interaction continuing it (`previous_interaction_id`).
// Checks, with every expected number computed here from the SQLite rows (python3's sqlite3,
// never the dashboard's formatter):
// - the trace list's session link opens the session page: three bars, and the totals (tokens,
//   cost, summed latency) and the last trace's running totals equal the rows' sums;
// - the first trace opens in place to its waterfall, where the application's span is marked
//   and the gateway's request span sits under it;
// - the cost-by-session table links to the same page;
// - the Interactions chain (by the second interaction's trace id) shows the two interactions.
// Saves e2e/screenshots/session.png. Prints `N passed, M failed`; exits non-zero on any failure.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import crypto from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { check, assert, assertEq, results, summary } from './lib/harness.mjs'
import { logsOf, stopAll, waitFor } from './lib/procs.mjs'
import { startStack } from './lib/stack.mjs'

const uiDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const repo = path.resolve(uiDir, '..')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SESSION = `e2e-session-${crypto.randomBytes(4).toString('hex')}`
const SERVICE = 'sessions-e2e-agent'

/** The session's trace rows, oldest first, read with python3's sqlite3 module. */
function sessionRows(db, session) {
  const script = `
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
c.row_factory = sqlite3.Row
rows = c.execute("""SELECT trace_id, start_time_unix_nano, input_tokens, output_tokens,
    cached_tokens, reasoning_tokens, cost_usd, unpriced, operation, duration_ms
    FROM traces WHERE session_id = ? ORDER BY start_time_unix_nano, trace_id""", (sys.argv[2],))
print(json.dumps([dict(r) for r in rows]))
`
  const r = spawnSync('python3', ['-c', script, db, session], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`reading the traces rows failed: ${r.stderr || r.error}`)
  return JSON.parse(r.stdout)
}

/** Sums of the rows as the session's totals are defined (docs/api.md): NULL costs are left out
 *  and counted as unpriced by the stored column (docs/schema.md, Unpriced); the cost is null
 *  when nothing is priced. */
function totalsOf(rows) {
  const t = { input: 0, output: 0, cached: 0, reasoning: 0, cost: null, unpriced: 0, duration: 0 }
  for (const r of rows) {
    t.input += r.input_tokens ?? 0
    t.output += r.output_tokens ?? 0
    t.cached += r.cached_tokens ?? 0
    t.reasoning += r.reasoning_tokens ?? 0
    if (r.cost_usd !== null) t.cost = (t.cost ?? 0) + r.cost_usd
    if (r.unpriced === 1) t.unpriced += 1
    t.duration += r.duration_ms
  }
  return t
}

const close = (a, b, what, eps = 1e-9) => assert(Math.abs(Number(a) - b) <= eps * Math.max(1, Math.abs(b)), `${what}: page ${a}, rows ${b}`)
const hex = (n) => crypto.randomBytes(n).toString('hex')

async function post(url, body, headers = {}) {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const text = await r.text()
  assert(r.ok, `POST ${url} → ${r.status}: ${text.slice(0, 300)}`)
  return text ? JSON.parse(text) : null
}

let stack
let context
let profileDir

async function main() {
  stack = await startStack({ repo, uiDir, mode: 'gateway' })
  console.log(`API ${stack.base}, proxy ${stack.proxy}, session ${SESSION}`)
  const key = { 'x-goog-api-key': 'test', 'x-gateway-session-id': SESSION }

  // 1: the agent's own span, and its LLM call through the gateway as a child of it.
  const agentTrace = hex(16)
  const agentSpan = hex(8)
  const now = BigInt(Date.now()) * 1_000_000n
  await post(`${stack.proxy}/v1beta/models/gemini-2.5-flash:generateContent`, { contents: [{ parts: [{ text: 'plan the trip' }] }] }, {
    ...key,
    traceparent: `00-${agentTrace}-${agentSpan}-01`,
  })
  const otlp = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: SERVICE } }] },
        scopeSpans: [
          {
            scope: { name: 'e2e' },
            spans: [
              {
                traceId: agentTrace,
                spanId: agentSpan,
                name: 'agent run',
                kind: 1,
                startTimeUnixNano: String(now - 2_000_000_000n),
                endTimeUnixNano: String(now + 2_000_000_000n),
              },
            ],
          },
        ],
      },
    ],
  }
  const sent = await fetch(`${stack.base}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(otlp) })
  assertEq(sent.status, 200, `POST /v1/traces: ${await sent.text()}`)
  // 2 and 3: an Interaction, then one continuing it.
  const first = await post(`${stack.proxy}/v1beta/interactions`, { model: 'gemini-2.5-flash', input: 'book the hotel' }, key)
  assert(typeof first?.id === 'string', `the first interaction has an id: ${JSON.stringify(first).slice(0, 200)}`)
  await post(`${stack.proxy}/v1beta/interactions`, { model: 'gemini-2.5-flash', input: 'and the train', previous_interaction_id: first.id }, key)

  const rows = await waitFor('three traces of the session in SQLite', () => {
    const r = sessionRows(stack.db, SESSION)
    return r.length === 3 ? r : null
  })
  await waitFor('the application span in SQLite', async () => {
    const d = await (await fetch(`${stack.base}/api/traces/${agentTrace}`)).json()
    return d.spans?.some((s) => s.attributes?.['gateway.span.source'] === 'otlp')
  })
  const want = totalsOf(rows)
  assert(want.cost !== null, 'the fake-gemini model is priced')
  assertEq(rows[0].trace_id, agentTrace, 'the first trace is the agent trace')

  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-e2e-chromium-'))
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
  })
  const page = context.pages()[0] ?? (await context.newPage())

  /** Checks the open session page against the rows. */
  const checkSessionPage = async (where) => {
    await page.waitForSelector('[data-testid=session-view] [data-testid=session-traces]', { timeout: 20000 })
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=session-bar]').length === 3, null, { timeout: 20000 })
    const card = async (id) => ({
      raw: await page.getAttribute(`[data-testid=${id}]`, 'data-value'),
      text: (await page.textContent(`[data-testid=${id}] .card-value`))?.trim(),
    })
    const traces = await card('session-traces')
    assertEq(Number(traces.raw), 3, `${where}: traces card`)
    const input = await card('session-input-tokens')
    assertEq(Number(input.raw), want.input, `${where}: input tokens`)
    assertEq(input.text, want.input.toLocaleString('en-US'), `${where}: input tokens as shown`)
    const output = await card('session-output-tokens')
    assertEq(Number(output.raw), want.output, `${where}: output tokens`)
    assertEq(output.text, want.output.toLocaleString('en-US'), `${where}: output tokens as shown`)
    close((await card('session-cost')).raw, want.cost, `${where}: cost`)
    close((await card('session-latency')).raw, want.duration, `${where}: summed latency`)
    // The last trace's running totals are the session's.
    const last = page.locator('[data-testid=session-cumulative]').last()
    assertEq(Number(await last.getAttribute('data-input')), want.input, `${where}: running input of the last trace`)
    assertEq(Number(await last.getAttribute('data-output')), want.output, `${where}: running output of the last trace`)
    close(await last.getAttribute('data-cost'), want.cost, `${where}: running cost of the last trace`)
    close(await last.getAttribute('data-duration'), want.duration, `${where}: running latency of the last trace`)
    // And the first trace's are its own row's.
    const firstCum = page.locator('[data-testid=session-cumulative]').first()
    assertEq(Number(await firstCum.getAttribute('data-input')), rows[0].input_tokens, `${where}: running input of the first trace`)
    const ids = await page.$$eval('[data-testid=session-trace]', (els) => els.map((e) => e.getAttribute('data-trace-id')))
    assertEq(ids.join(), rows.map((r) => r.trace_id).join(), `${where}: traces in time order`)
  }

  await check('the trace list links a session to its timeline: three bars, totals equal the SQLite rows', async () => {
    await page.goto(`${stack.base}/#/traces`)
    const link = page.locator(`[data-testid=trace-row][data-trace-id="${rows[2].trace_id}"] [data-testid=session-link]`)
    await link.waitFor({ timeout: 20000 })
    await link.click()
    await page.waitForFunction((s) => window.location.hash === `#/sessions/${encodeURIComponent(s)}`, SESSION, { timeout: 10000 })
    await checkSessionPage('from the trace list')
  })

  await check("a trace opens to its waterfall, the application's span marked and the gateway's under it", async () => {
    await page.locator(`[data-testid=session-trace][data-trace-id="${agentTrace}"] [data-testid=session-trace-toggle]`).click()
    const detail = page.locator(`[data-testid=session-trace-detail][data-trace-id="${agentTrace}"]`)
    await detail.locator('[data-testid=span-row]').first().waitFor({ timeout: 20000 })
    const appRow = detail.locator(`[data-testid=span-row][data-span-id="${agentSpan}"]`)
    assertEq(await appRow.getAttribute('data-depth'), '0', 'the application span is a root (its parent was never sent)')
    assertEq((await appRow.locator('[data-testid=app-span]').textContent())?.trim(), SERVICE, 'marked with its service')
    assertEq(await appRow.locator('[data-testid=span-bar]').getAttribute('data-step'), 'app', 'drawn as an application span')
    const depths = await detail.locator('[data-testid=span-bar][data-step=root]').evaluateAll((els) => els.map((e) => e.closest('[data-testid=span-row]')?.getAttribute('data-depth')))
    assertEq(depths.join(), '1', "the gateway's request span under the agent span")
    await page.screenshot({ path: path.join(uiDir, 'e2e', 'screenshots', 'session.png'), fullPage: true })
  })

  await check('the cost-by-session table links to the same timeline', async () => {
    await page.goto(`${stack.base}/#/`)
    const link = page.locator(`[data-testid=cost-by-session_id] a[data-testid=cost-session-link][href="#/sessions/${encodeURIComponent(SESSION)}"]`)
    await link.waitFor({ timeout: 30000 })
    await link.click()
    await checkSessionPage('from the cost table')
  })

  await check('the Interactions chain through the second interaction shows both interactions', async () => {
    await page.goto(`${stack.base}/#/sessions/${rows[2].trace_id}?kind=interaction`)
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=session-bar]').length === 2, null, { timeout: 20000 })
    const ids = await page.$$eval('[data-testid=session-trace]', (els) => els.map((e) => e.getAttribute('data-trace-id')))
    assertEq(ids.join(), [rows[1].trace_id, rows[2].trace_id].join(), 'the two interactions, in time order')
    const chain = totalsOf(rows.slice(1))
    assertEq(Number(await page.getAttribute('[data-testid=session-input-tokens]', 'data-value')), chain.input, 'chain input tokens')
    close(await page.getAttribute('[data-testid=session-cost]', 'data-value'), chain.cost, 'chain cost')
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
