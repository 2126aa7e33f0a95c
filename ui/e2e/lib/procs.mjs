// Child processes for the e2e test: start with a line-matching wait on stdout, free ports,
// and stopping exactly the processes we started (SIGTERM, then SIGKILL).
import { spawn } from 'node:child_process'
import net from 'node:net'

const started = []

/** Spawns `cmd args` and resolves with the first stdout match of `pattern` (or null if none). */
export function start(name, cmd, args, { pattern = null, timeoutMs = 20000, cwd, env } = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const entry = { name, child, log: [] }
  started.push(entry)
  const keep = (chunk) => {
    entry.log.push(chunk.toString())
    if (entry.log.length > 400) entry.log.splice(0, entry.log.length - 400)
  }
  child.stderr.on('data', keep)
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error(`${name}: no ${pattern} on stdout within ${timeoutMs} ms\n${entry.log.join('')}`)), timeoutMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(new Error(`${name}: ${e.message}`))
    })
    child.on('exit', (code, sig) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited early (${code ?? sig})\n${entry.log.join('')}`))
    })
    child.stdout.on('data', (chunk) => {
      keep(chunk)
      if (!pattern) return
      buf += chunk.toString()
      const m = pattern.exec(buf)
      if (m) {
        clearTimeout(timer)
        resolve({ child, match: m, entry })
      }
    })
    if (!pattern) {
      clearTimeout(timer)
      resolve({ child, match: null, entry })
    }
  })
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

export function logsOf(name) {
  return started.filter((e) => e.name === name).map((e) => e.log.join('')).join('\n')
}

/** Stops every process this module started: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopAll(graceMs = 3000) {
  await Promise.all(
    started.map(
      ({ child }) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          const t = setTimeout(() => {
            try {
              child.kill('SIGKILL')
            } catch {}
            resolve()
          }, graceMs)
          child.once('exit', () => {
            clearTimeout(t)
            resolve()
          })
          try {
            child.kill('SIGTERM')
          } catch {
            resolve()
          }
        }),
    ),
  )
}

export async function waitFor(what, fn, { timeoutMs = 15000, intervalMs = 150 } = {}) {
  const end = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}
