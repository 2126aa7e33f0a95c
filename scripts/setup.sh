#!/usr/bin/env bash
# Installs the system packages the README's commands need, or says exactly what to run.
#
#   scripts/setup.sh demo   # building and running the demo: cmake (pingora builds zlib with it), a C compiler
#   scripts/setup.sh test   # the whole test suite: the above plus curl, python3-venv, Chromium, wrk, nginx, faketime,
#                           # sqlite3 (the dashboard test reads the database with it)
#
# As root it installs what is missing with apt-get; otherwise it prints the one command to run and
# fails. Rust (cargo) and Node 20 (npm) are prerequisites it checks but does not install.
set -euo pipefail
what="${1:-test}"

# command-to-check:debian-package
needs=(cmake:cmake cc:gcc)
if [ "$what" = test ]; then
  needs+=(curl:curl wrk:wrk nginx:nginx chromium:chromium faketime:faketime sqlite3:sqlite3)
fi

missing=()
for pair in "${needs[@]}"; do
  cmd="${pair%%:*}" pkg="${pair##*:}"
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done
if [ "$what" = test ]; then
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
  [ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
fi

for tool in cargo npm python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "setup: $tool is required (Rust via rustup, Node 20 with npm, Python 3)" >&2; exit 1; }
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: missing system packages. Run this once, then try again:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
