#!/usr/bin/env bash
# Plugin figures (issue: plugin platform): one hook call (instantiate + call + return) and the
# flash sale's quote hook by cart size with its fuel per line (cargo bench, in-process), then
# the quote of a 200-line cart over HTTP against the release binary with the full demo,
# without plugins and with the flash sale installed (a sale on 50 of its SKUs).
#   bash xtask/bench-plugins.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-18185}"
cargo bench --quiet -p pifa --bench plugin_calls
cargo build --release --quiet -p pifa -p pifa-e2e --bin pifa --bin checkout_load
DATA=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
export PIFA_DATA="$DATA" PIFA_ADDR="127.0.0.1:$PORT" RUST_LOG=warn QUOTE_ONLY=1 QUOTES=500
./target/release/pifa demo >/dev/null
for plugins in none flash-sale; do
  if [ "$plugins" = none ]; then : > "$DATA/none.toml"; export PIFA_PLUGINS="$DATA/none.toml" FLASH_SALE=0
  else export PIFA_PLUGINS="$PWD/plugins.toml" FLASH_SALE=1; fi
  ./target/release/pifa serve >/dev/null 2>&1 &
  PID=$!
  until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.05; done
  echo "== plugins: $plugins"
  ./target/release/checkout_load "http://127.0.0.1:$PORT" | grep -E "quote|flash"
  kill "$PID"; wait "$PID" 2>/dev/null || true
done
