// Starts the system under test: fake-gemini, the gateway (proxy + API + embedded dashboard) with a
// temporary config and database, and — in `standalone` mode only — the separate `api` binary plus
// a static server for ui/dist (for working before the gateway serves the dashboard).
//
// Ports are owned for the whole test. fake-gemini, the gateway's API and the `api` binary listen
// on port 0 and their addresses are read back (fake-gemini and `api` print theirs; the gateway's
// API port is read from /proc). The proxy is given a port that was free a moment ago; when
// another process took it meanwhile (pingora logs "<port> is in use"), the gateway is stopped and
// started again on a new port. The gateway is ready only once its own process listens on the
// port (read from /proc), never because some other server answers there.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { freePort, start, waitFor } from './procs.mjs'
import { serveDist } from './serve.mjs'

/** Starts of the gateway on a new proxy port after a bind collision, at most. */
const START_ATTEMPTS = 8

/** The TCP ports process `pid` itself listens on: its socket inodes (/proc/<pid>/fd) matched
 *  in the LISTEN rows of /proc/<pid>/net/tcp and tcp6. */
export function listeningPorts(pid) {
  const inodes = new Set()
  let fds = []
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`)
  } catch {
    return []
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (m) inodes.add(m[1])
    } catch {} // closed meanwhile
  }
  const ports = []
  for (const table of ['tcp', 'tcp6']) {
    let text = ''
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8')
    } catch {}
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      // f[1] local address hex "ADDR:PORT", f[3] state (0A = TCP_LISTEN), f[9] inode.
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9])) ports.push(parseInt(f[1].split(':').pop(), 16))
    }
  }
  return ports
}

/** Stops a gateway started on a taken port and waits for its exit. */
function kill(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  })
}

/** Polls (every 20 ms, at most `timeoutMs`, a bound on the wait only) until the gateway's own
 *  process listens on `proxyPort` ('listening'), or its log says that port or the API's was
 *  taken ('collision'). Throws if it exits for another reason or never listens. */
async function waitListening(child, entry, proxyPort, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs
  const inUse = `${proxyPort} is in use`
  for (;;) {
    if (listeningPorts(child.pid).includes(proxyPort)) return 'listening'
    const log = entry.log.join('')
    // pingora retries a taken proxy port ("127.0.0.1:<port> is in use, will try again", then
    // "… still in use" and exit); the API's bind fails at start ("cannot bind the API on …").
    if (log.includes(inUse) || (log.includes('cannot bind the API') && log.includes('in use'))) return 'collision'
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the gateway exited (${child.exitCode ?? child.signalCode}) before it listened on ${proxyPort}\n${log}`)
    }
    if (Date.now() > end) throw new Error(`the gateway's process does not listen on ${proxyPort}\n${log}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** `pickPort` (for checking the retry) gives each start's proxy port; by default a port that
 *  was free when asked. */
export async function startStack({ repo, uiDir, mode, pickPort = freePort }) {
  const bin = (n) => path.join(repo, 'target', 'debug', n)
  for (const n of ['fake-gemini', 'gateway', ...(mode === 'standalone' ? ['api'] : [])]) {
    if (!fs.existsSync(bin(n))) throw new Error(`${bin(n)} missing: run cargo build -p gemini-gateway -p fake-gemini${mode === 'standalone' ? ' -p gateway-api' : ''}`)
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-e2e-'))
  const fake = await start('fake-gemini', bin('fake-gemini'), ['--listen', '127.0.0.1:0'], { pattern: /fake-gemini listening on (http:\/\/\S+)/ })
  const upstream = fake.match[1]
  const config = path.join(tmp, 'gateway.toml')
  let proxyPort
  let gateway
  for (let attempt = 1; ; attempt++) {
    proxyPort = await pickPort()
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
        'listen = "127.0.0.1:0"',
        // Beyond the minimal config: a latency threshold that the test's 300 ms request breaches.
        '[thresholds]',
        'latency_ms = 250',
        '',
      ].join('\n'),
    )
    gateway = await start('gateway', bin('gateway'), ['--config', config], { cwd: tmp })
    if ((await waitListening(gateway.child, gateway.entry, proxyPort)) === 'listening') break
    await kill(gateway.child)
    if (attempt >= START_ATTEMPTS) throw new Error(`no free proxy port in ${START_ATTEMPTS} starts; last log:\n${gateway.entry.log.join('')}`)
    console.log(`the gateway's proxy port ${proxyPort} was taken; starting it again on another (${attempt}/${START_ATTEMPTS})`)
  }
  const proxy = `http://127.0.0.1:${proxyPort}`
  // The API was bound (port 0) before the proxy: it is the gateway's one other listening port.
  const others = [...new Set(listeningPorts(gateway.child.pid))].filter((p) => p !== proxyPort)
  if (others.length !== 1) {
    throw new Error(`the gateway listens on ${others.length ? others.join(', ') : 'no port'} besides the proxy's ${proxyPort}: cannot tell its API port (configured [api] listen = "127.0.0.1:0"; a gateway without the API: try UI_E2E_MODE=standalone)`)
  }
  const apiPort = others[0]
  let base
  let close = async () => {}
  if (mode === 'standalone') {
    const api = await start('api', bin('api'), ['--config', config, '--listen', '127.0.0.1:0'], { pattern: /api listening on (http:\/\/\S+)/, cwd: tmp })
    const server = await serveDist({ root: path.join(uiDir, 'dist'), target: api.match[1] })
    base = server.url
    close = server.close
  } else {
    base = `http://127.0.0.1:${apiPort}`
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
