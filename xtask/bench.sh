#!/usr/bin/env bash
# Load figures for the README and closing notes, against the release binary on loopback:
# start-up time, idle memory, /healthz and a token-authenticated read in requests/s, and
# password sign-ins/s (production Argon2id parameters). Bounded: each load runs DURATION
# seconds against 127.0.0.1 only, then the server is stopped.
#   bash xtask/bench.sh            # SQLite
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/pifa_bench bash xtask/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
PORT="${PORT:-18181}"
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y wrk >/dev/null; }
cargo build --release --quiet -p pifa
DATA=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
export PIFA_DATA="$DATA" PIFA_ADDR="127.0.0.1:$PORT" RUST_LOG=warn

./target/release/pifa demo >/dev/null
start=$(date +%s%N)
./target/release/pifa serve >/dev/null 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.005; done
echo "start-up to first healthy answer (migrated, demo database): $(( ($(date +%s%N) - start) / 1000000 )) ms"
sleep 2
echo "idle memory (RSS): $(awk '/VmRSS/ {print $2 " " $3}' /proc/$PID/status)"

TOKEN=$(curl -s "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"phone":"13800000001","password":"pifa1234"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')

echo; echo "== GET /healthz"
wrk -t2 -c32 -d"${DURATION}s" "http://127.0.0.1:$PORT/healthz" | grep -E "Requests/sec|Latency"
echo; echo "== GET /api/v1/team (bearer token: session lookup, roles, regions, 12 staff records)"
wrk -t2 -c32 -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/team" | grep -E "Requests/sec|Latency"
echo; echo "== GET /api/v1/me (bearer token)"
wrk -t2 -c32 -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/me" | grep -E "Requests/sec|Latency"

LUA=$(mktemp)
cat > "$LUA" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"phone":"13800000001","password":"pifa1234"}'
LUA
echo; echo "== POST /api/v1/auth/login (Argon2id m=19MiB t=2 p=1, new session each)"
wrk -t2 -c8 -d"${DURATION}s" -s "$LUA" "http://127.0.0.1:$PORT/api/v1/auth/login" | grep -E "Requests/sec|Latency|Non-2xx"
rm -f "$LUA"
echo; echo "memory after load (RSS): $(awk '/VmRSS/ {print $2 " " $3}' /proc/$PID/status)"
