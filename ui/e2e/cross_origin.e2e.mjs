// End-to-end test in real headless Chromium: another web page cannot read the traces.
//
// Starts target/debug/fake-gemini and target/debug/gateway (no [api] token: the default), sends
// one request through the proxy so there is a trace, then runs the same probe (fetch
// /api/traces, a no-cors fetch, and a WebSocket on /api/live) from three pages:
// - the API's own origin (the dashboard): reads the trace, a control that the probe works;
// - a page served by a second local HTTP server (another port = another origin): its fetch is
//   refused, the no-cors response is opaque and empty, the WebSocket closes without a message;
// - a DNS-rebinding page (`rebind.test` resolved to 127.0.0.1 by Chromium, same port as the
//   API): the API answers 421 to its Host, so neither the fetch nor the WebSocket gets a trace.
// Prints `N passed, M failed`; exits non-zero on any failure.
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { check, assert, assertEq, results, summary } from './lib/harness.mjs'
import { logsOf, stopAll, waitFor } from './lib/procs.mjs'
import { startStack } from './lib/stack.mjs'

const uiDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const repo = path.resolve(uiDir, '..')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const REBIND_HOST = 'rebind.test'

/** Runs in the page: what a script of that page can read from the API at `api` (host:port). */
async function probe(api) {
  const out = { fetch: null, fetchError: null, noCors: null, ws: { opened: false, messages: [], closed: false, code: null } }
  try {
    const r = await fetch(`http://${api}/api/traces`)
    out.fetch = { status: r.status, text: await r.text() }
  } catch (e) {
    out.fetchError = String(e)
  }
  try {
    const r = await fetch(`http://${api}/api/traces`, { mode: 'no-cors' })
    out.noCors = { type: r.type, text: await r.text() }
  } catch (e) {
    out.noCors = { error: String(e) }
  }
  await new Promise((resolve) => {
    const ws = new WebSocket(`ws://${api}/api/live`)
    ws.onopen = () => {
      out.ws.opened = true
    }
    ws.onmessage = (m) => {
      out.ws.messages.push(String(m.data).slice(0, 2000))
      ws.close()
    }
    ws.onclose = (e) => {
      out.ws.closed = true
      out.ws.code = e.code
      resolve()
    }
  })
  return out
}

/** A second origin: one page whose inline script runs `probe` against `api` on load. */
function serveAttacker(api) {
  const html = `<!doctype html><meta charset=utf-8><title>attacker</title>
<script>(${probe.toString()})(${JSON.stringify(api)}).then((r) => { window.__result = r }, (e) => { window.__result = { crashed: String(e) } })</script>`
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(html)
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => server.close(() => r())) }))
  })
}

/** Asserts that nothing of the trace list reached the page. */
function assertNothingRead(r, traceId, where) {
  assert(!JSON.stringify(r).includes(traceId), `${where}: the page saw the trace id: ${JSON.stringify(r).slice(0, 400)}`)
  assertEq(r.ws.opened, false, `${where}: WebSocket opened`)
  assertEq(r.ws.messages.length, 0, `${where}: WebSocket messages`)
  assertEq(r.ws.closed, true, `${where}: WebSocket closed`)
}

let stack
let context
let attacker
let profileDir

async function main() {
  stack = await startStack({ repo, uiDir, mode: 'gateway' })
  const api = new URL(stack.base).host
  const apiPort = new URL(stack.base).port
  console.log(`API ${stack.base}, proxy ${stack.proxy}`)
  const sent = await fetch(`${stack.proxy}/v1beta/models/gemini-2.5-flash:generateContent`, {
    method: 'POST',
    headers: { 'x-goog-api-key': 'test', 'content-type': 'application/json', 'x-gateway-user-id': 'victim-user' },
    body: JSON.stringify({ contents: [{ parts: [{ text: 'hello' }] }] }),
  })
  await sent.text()
  assert(sent.ok, `proxy request → ${sent.status}`)
  // A client without Origin (curl, SDKs) reads the trace: the data is there to be stolen.
  const traceId = await waitFor('the trace in GET /api/traces', async () => {
    const body = await (await fetch(`${stack.base}/api/traces`)).json()
    return body.traces?.[0]?.trace_id
  })
  attacker = await serveAttacker(api)
  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-e2e-chromium-'))
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      `--host-resolver-rules=MAP ${REBIND_HOST} 127.0.0.1`,
    ],
    viewport: { width: 1280, height: 800 },
  })
  const page = context.pages()[0] ?? (await context.newPage())

  await check("control: a script of the API's own origin reads the trace (fetch and WebSocket)", async () => {
    await page.goto(`${stack.base}/`)
    const r = await page.evaluate(probe, api)
    assertEq(r.fetch?.status, 200, `fetch status (${r.fetchError})`)
    assert(r.fetch.text.includes(traceId), 'the trace in the fetched list')
    assertEq(r.ws.messages.length, 1, 'WebSocket messages')
    assert(r.ws.messages[0].includes('"snapshot"') && r.ws.messages[0].includes(traceId), `the snapshot: ${r.ws.messages[0].slice(0, 200)}`)
  })

  await check('a page of another origin reads nothing: fetch refused, no-cors opaque, WebSocket closed without a message', async () => {
    await page.goto(attacker.url)
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 20000 })
    const r = await page.evaluate(() => window.__result)
    assertEq(r.crashed, undefined, 'the probe ran')
    assertEq(r.fetch, null, 'the cross-origin fetch resolved')
    assert(typeof r.fetchError === 'string' && r.fetchError.includes('TypeError'), `fetch error: ${r.fetchError}`)
    assertEq(r.noCors?.type, 'opaque', 'no-cors response type')
    assertEq(r.noCors?.text, '', 'no-cors body readable')
    assertNothingRead(r, traceId, 'cross-origin page')
    const log = logsOf('gateway')
    assert(!/panic/i.test(log), 'the gateway logged a panic')
  })

  await check('a DNS-rebinding page (its own name, the API port) gets 421 and reads nothing', async () => {
    const rebound = `${REBIND_HOST}:${apiPort}`
    const nav = await page.goto(`http://${rebound}/`)
    assertEq(nav?.status(), 421, 'status of the rebound page')
    const r = await page.evaluate(probe, rebound)
    assertEq(r.fetch?.status, 421, `same-origin fetch status (${r.fetchError})`)
    assert(r.fetch.text.includes('allowed_hosts'), `the 421 body names the key: ${r.fetch.text.slice(0, 200)}`)
    assertNothingRead(r, traceId, 'rebinding page')
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
  await attacker?.close().catch(() => {})
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
