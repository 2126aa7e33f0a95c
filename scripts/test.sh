#!/usr/bin/env bash
# Runs every test: formatting, lints, Rust unit and integration tests, and the end-to-end
# suite with the real google-genai and openai SDKs against the real binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test

VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -r tests/e2e/requirements.txt
# The real @google/genai SDK for the end-to-end suite.
npm --prefix tests/e2e/js ci --no-audit --no-fund

# The dashboard first: release builds embed ui/dist.
npm --prefix ui ci --no-audit --no-fund
npm --prefix ui run build
npm --prefix ui test

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace
# --include-ignored: the privileged fault tests (tmpfs mounts) are #[ignore]d so that a plain
# `cargo test` reports them as ignored; here (root in CI) they run, and fail if they cannot.
cargo test --workspace -- --include-ignored
"$VENV/bin/python" -m pytest tests/e2e -q
# The dashboard end to end in headless Chromium against the real gateway.
npm --prefix ui run e2e
# 10-second benchmark smoke: prints its table; fails only if the gateway errors or loses spans.
python3 bench/compare.py --smoke
