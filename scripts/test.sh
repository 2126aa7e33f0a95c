#!/usr/bin/env bash
# Runs every test: formatting, lints, Rust unit and integration tests, and the end-to-end
# suite with the real google-genai and openai SDKs against the real binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -r tests/e2e/requirements.txt

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace
cargo test --workspace
"$VENV/bin/python" -m pytest tests/e2e -q
# 10-second benchmark smoke: prints its table; fails only if the gateway errors or loses spans.
python3 bench/compare.py --smoke
