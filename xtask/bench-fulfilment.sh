#!/usr/bin/env bash
# Driver console figures (issue: fulfilment) against the release binary with the full demo
# data: the driver's order list, and delivering with two 200 KB photos. Loopback only.
#   bash xtask/bench-fulfilment.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/pifa_bench bash xtask/bench-fulfilment.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-18184}"
cargo build --release --quiet -p pifa -p pifa-e2e --bin pifa --bin fulfilment_load
DATA=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
export PIFA_DATA="$DATA" PIFA_ADDR="127.0.0.1:$PORT" RUST_LOG=warn
./target/release/pifa demo >/dev/null
./target/release/pifa serve >/dev/null 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.05; done
./target/release/fulfilment_load "http://127.0.0.1:$PORT"
