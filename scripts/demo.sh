#!/usr/bin/env bash
# Starts the demo: the gateway in front of a simulated Gemini upstream, with synthetic traffic.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --bin gateway -- --config gateway.toml --demo "$@"
