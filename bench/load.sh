#!/usr/bin/env bash
# First load figure: the same fake upstream directly and through the gateway (observability on:
# three spans, cost, metric snapshots, SQLite), with wrk. Prints a table; asserts nothing.
#   bench/load.sh [seconds]
# Needs: wrk (apt), release builds of gateway and fake-gemini (built here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
cargo build --release -q -p gemini-gateway -p fake-gemini
TMP="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port); GW=$(free_port); OFF=$(free_port)
taskset -c 1 target/release/fake-gemini --listen 127.0.0.1:$UP --chunks 1 >/dev/null 2>&1 &
cat > "$TMP/gateway.toml" <<TOML
[proxy]
listen = "127.0.0.1:$GW"
upstream = "http://127.0.0.1:$UP"
threads = 1
shutdown_grace_seconds = 1
[storage]
path = "$TMP/bench.db"
TOML
taskset -c 0 target/release/gateway --config "$TMP/gateway.toml" 2>"$TMP/gateway.log" &
GPID=$!
# The same gateway with observability off: no plugins, no persistence.
cat > "$TMP/off.toml" <<TOML
[proxy]
listen = "127.0.0.1:$OFF"
upstream = "http://127.0.0.1:$UP"
threads = 1
shutdown_grace_seconds = 1
[storage]
path = "$TMP/off.db"
[builtins]
token_cost = false
metric_snapshots = false
sqlite = false
TOML
taskset -c 0 target/release/gateway --config "$TMP/off.toml" 2>"$TMP/off.log" &
for p in $UP $GW $OFF; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
done

URL_PATH="/v1beta/models/gemini-2.5-flash-lite:generateContent"
run() { # name url conns
  taskset -c 1 wrk -t1 -c"$3" -d"${DUR}s" --latency -s bench/post.lua "$2$URL_PATH" > "$TMP/$1.txt"
  local rps p50 p99 reqs
  rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$TMP/$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "$TMP/$1.txt")
  reqs=$(awk '/requests in/ {print $1}' "$TMP/$1.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$TMP/$1.txt"); non2xx=${non2xx:-0}
  printf '| %-22s | %6s | %10s | %9s | %9s | %8s | %s |\n' "$1" "$3" "$rps" "$p50" "$p99" "$reqs" "$non2xx"
  echo "$reqs" > "$TMP/$1.count"
}
echo "| run                    | conns | req/s      | p50       | p99       | requests | non-2xx |"
echo "|------------------------|-------|------------|-----------|-----------|----------|---------|"
run direct_c1 "http://127.0.0.1:$UP" 1
run gateway_off_c1 "http://127.0.0.1:$OFF" 1
run gateway_c1 "http://127.0.0.1:$GW" 1
run direct_c32 "http://127.0.0.1:$UP" 32
run gateway_off_c32 "http://127.0.0.1:$OFF" 32
run gateway_c32 "http://127.0.0.1:$GW" 32
RSS=$(awk '/VmHWM/ {print $2}' /proc/$GPID/status)
kill -TERM $GPID; wait $GPID || true
SENT=$(( $(cat "$TMP/gateway_c1.count") + $(cat "$TMP/gateway_c32.count") ))
TRACES=$(python3 -c "import sqlite3; print(sqlite3.connect('$TMP/bench.db').execute('select count(*) from traces').fetchone()[0])")
echo
echo "gateway peak RSS: $((RSS / 1024)) MiB; requests through the gateway: $SENT; trace rows after SIGTERM: $TRACES"
grep -E "Spans flushed" "$TMP/gateway.log" | sed 's/\x1b\[[0-9;]*m//g' | tail -1
