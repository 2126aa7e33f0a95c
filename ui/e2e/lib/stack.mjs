// Starts the system under test: fake-gemini, the gateway (proxy + API + embedded dashboard) with a
// temporary config and database, and — in `standalone` mode only — the separate `api` binary plus
// a static server for ui/dist (for working before the gateway serves the dashboard).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import net from 'node:net'
import { freePort, start, waitFor } from './procs.mjs'
import { serveDist } from './serve.mjs'

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

export async function startStack({ repo, uiDir, mode }) {
  const bin = (n) => path.join(repo, 'target', 'debug', n)
  for (const n of ['fake-gemini', 'gateway', ...(mode === 'standalone' ? ['api'] : [])]) {
    if (!fs.existsSync(bin(n))) throw new Error(`${bin(n)} missing: run cargo build -p gemini-gateway -p fake-gemini${mode === 'standalone' ? ' -p gateway-api' : ''}`)
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-e2e-'))
  const fake = await start('fake-gemini', bin('fake-gemini'), ['--listen', '127.0.0.1:0'], { pattern: /fake-gemini listening on (http:\/\/\S+)/ })
  const upstream = fake.match[1]
  const proxyPort = await freePort()
  const apiPort = await freePort()
  const config = path.join(tmp, 'gateway.toml')
  fs.writeFileSync(
    config,
    [
      '[proxy]',
      `listen = "127.0.0.1:${proxyPort}"`,
      `upstream = "${upstream}"`,
      'shutdown_grace_seconds = 1',
      '[storage]',
      `path = "${path.join(tmp, 'gateway.db')}"`,
      'linger_ms = 5',
      '[api]',
      `listen = "127.0.0.1:${apiPort}"`,
      // Beyond the minimal config: a latency threshold that the test's 300 ms request breaches.
      '[thresholds]',
      'latency_ms = 250',
      '',
    ].join('\n'),
  )
  await start('gateway', bin('gateway'), ['--config', config], { cwd: tmp })
  await waitFor('the gateway proxy port', () => portOpen(proxyPort), { timeoutMs: 30000 })
  const proxy = `http://127.0.0.1:${proxyPort}`
  let base
  let close = async () => {}
  if (mode === 'standalone') {
    const api = await start('api', bin('api'), ['--config', config, '--listen', '127.0.0.1:0'], { pattern: /api listening on (http:\/\/\S+)/, cwd: tmp })
    const server = await serveDist({ root: path.join(uiDir, 'dist'), target: api.match[1] })
    base = server.url
    close = server.close
  } else {
    base = `http://127.0.0.1:${apiPort}`
    await waitFor('the gateway API port', () => portOpen(apiPort), { timeoutMs: 20000 }).catch(() => {
      throw new Error(`nothing listens on [api] listen = 127.0.0.1:${apiPort}: the gateway does not serve the API/dashboard yet (try UI_E2E_MODE=standalone)`)
    })
  }
  // The dashboard must be served at / of the API origin.
  await waitFor('the dashboard at /', async () => {
    const r = await fetch(`${base}/`)
    const text = await r.text()
    if (!r.ok || !text.includes('id="root"')) throw new Error(`GET / → ${r.status}, not the dashboard`)
    return true
  }, { timeoutMs: 15000 })
  await waitFor('GET /api/traces', async () => (await fetch(`${base}/api/traces?limit=1`)).ok, { timeoutMs: 15000 })
  return { base, proxy, tmp, db: path.join(tmp, 'gateway.db'), close }
}
