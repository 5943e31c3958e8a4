#!/usr/bin/env bash
# Checkout figures (issue: ordering) against the release binary with the full demo data:
# orders/s and p50/p99 of 5-line checkouts at 8, 32 and 128 clients, and the quote latency of
# a 200-line cart. Loopback only; each phase stops by itself (DURATION seconds).
#   bash xtask/bench-orders.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/pifa_bench bash xtask/bench-orders.sh
#   PIPELINE=kernel bash xtask/bench-orders.sh   # no plugins and no scripts: the pipeline's
#                                                # extension steps empty (issue 4's pipeline)
#   CLIENTS=32 DURATION=20 …                     # one phase, longer
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-18183}"
cargo build --release --quiet -p pifa -p pifa-e2e --bin pifa --bin checkout_load
DATA=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
if [ "${PIPELINE:-shipped}" = kernel ]; then
  mkdir "$DATA/no-scripts"
  : > "$DATA/no-plugins.toml"
  export PIFA_PLUGINS="$DATA/no-plugins.toml" PIFA_SCRIPTS="$DATA/no-scripts"
fi
export PIFA_DATA="$DATA" PIFA_ADDR="127.0.0.1:$PORT" RUST_LOG=warn
./target/release/pifa demo >/dev/null
./target/release/pifa serve >/dev/null 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.05; done
./target/release/checkout_load "http://127.0.0.1:$PORT"
echo "memory (RSS): $(awk '/VmRSS/ {print $2 " " $3}' /proc/$PID/status)"
