#!/usr/bin/env bash
# Starts the demo: the gateway in front of a simulated Gemini upstream, with synthetic traffic.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
# Build the dashboard (served by the gateway's API at http://127.0.0.1:8081/).
if [ ! -d ui/node_modules ]; then npm --prefix ui ci --no-audit --no-fund; fi
npm --prefix ui run build
echo "Dashboard: http://127.0.0.1:8081/   Proxy: http://127.0.0.1:8080   (Ctrl-C to stop)"
exec cargo run --bin gateway -- --config gateway.toml --demo "$@"
