// A small static server for ui/dist that forwards /api/*, /metrics and /healthz (including the
// WebSocket upgrade of /api/live) to a running API. Used by the e2e test's `standalone` mode
// (before the gateway serves the dashboard itself) and by the render benchmark's mock API.
import http from 'node:http'
import net from 'node:net'
import fs from 'node:fs'
import path from 'node:path'

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
}

const isApi = (p) => p === '/metrics' || p === '/healthz' || p === '/api' || p.startsWith('/api/')

/**
 * Starts the server on 127.0.0.1:0. `target` is the API base URL to forward to, or `handle`
 * (req, res) answers API requests itself (mock). Resolves to { url, close }.
 */
export function serveDist({ root, target, handle }) {
  const t = target ? new URL(target) : null
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url, 'http://x').pathname
    if (isApi(pathname)) {
      if (handle) return handle(req, res)
      if (!t) {
        res.writeHead(404).end()
        return
      }
      const up = http.request(
        { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } },
        (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers)
          ur.pipe(res)
        },
      )
      up.on('error', () => {
        if (!res.headersSent) res.writeHead(502)
        res.end()
      })
      req.pipe(up)
      return
    }
    let file = path.join(root, path.normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, ''))
    if (!file.startsWith(root)) {
      res.writeHead(403).end()
      return
    }
    if (pathname === '/' || !fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(root, 'index.html')
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404).end()
        return
      }
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' })
      res.end(data)
    })
  })
  server.on('upgrade', (req, socket, head) => {
    if (!t) {
      socket.destroy()
      return
    }
    const up = net.connect(Number(t.port), t.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`]
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i]
        const v = { host: t.host, origin: t.origin }[k.toLowerCase()] ?? req.rawHeaders[i + 1]
        lines.push(`${k}: ${v}`)
      }
      up.write(lines.join('\r\n') + '\r\n\r\n')
      if (head.length) up.write(head)
      up.pipe(socket)
      socket.pipe(up)
    })
    const end = () => {
      up.destroy()
      socket.destroy()
    }
    up.on('error', end)
    socket.on('error', end)
    up.on('close', end)
    socket.on('close', end)
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections?.()
            server.close(() => r())
          }),
      })
    })
  })
}
