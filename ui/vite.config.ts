// Vite config: relative asset paths (the gateway serves dist/ at /), a dev proxy to a running
// API (GATEWAY_API, default http://127.0.0.1:8081) for /api (incl. the WebSocket) and /metrics,
// and vitest settings.
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vitest/config'

const api = process.env.GATEWAY_API ?? 'http://127.0.0.1:8081'

export default defineConfig({
  base: './',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 800 },
  server: {
    proxy: {
      '/api': { target: api, ws: true, changeOrigin: true },
      '/metrics': { target: api, changeOrigin: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    environment: 'node',
    benchmark: { include: ['bench/**/*.bench.ts'] },
  },
})
