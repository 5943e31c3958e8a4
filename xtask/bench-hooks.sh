#!/usr/bin/env bash
# What one plugin hook costs a member over HTTP (issue 21): the quote of a 20-line cart, one
# request at a time against the release server with the full demo and no scripts, first with
# no plugins, then with one trivial plugin (`plugins/testing/tag-v1`: its quote hook reads the
# cart and answers one adjustment), alternating, three rounds. The difference between the two
# is the hook's whole cost on the member's path: the input built and checked, a fresh instance,
# the call, the answer checked and applied. Then `/healthz` under wrk, the machine's yardstick.
#   bash xtask/bench-hooks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-18186}"
ROUNDS="${ROUNDS:-3}"
cargo build --release --quiet -p pifa -p pifa-e2e --bin pifa --bin checkout_load
DATA=$(mktemp -d)
PID=
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
mkdir "$DATA/no-scripts"
: > "$DATA/none.toml"
cat > "$DATA/tag.toml" <<TOML
[[plugin]]
name = "tag"
component = "$PWD/plugins/build/tag-v1.wasm"
order = 10
TOML
export PIFA_DATA="$DATA" PIFA_ADDR="127.0.0.1:$PORT" RUST_LOG=warn PIFA_SCRIPTS="$DATA/no-scripts"
./target/release/pifa demo >/dev/null
serve() {
  PIFA_PLUGINS="$DATA/$1.toml" ./target/release/pifa serve >/dev/null 2>&1 &
  PID=$!
  until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.05; done
}
for round in $(seq "$ROUNDS"); do
  for plugins in none tag; do
    serve "$plugins"
    echo "round $round, plugins: $plugins: $(QUOTE_ONLY=1 QUOTE_LINES=20 QUOTES=4000 \
      ./target/release/checkout_load "http://127.0.0.1:$PORT" | grep quote)"
    kill "$PID"; wait "$PID" 2>/dev/null || true
  done
done
serve none
wrk -t2 -c64 -d10s --latency "http://127.0.0.1:$PORT/healthz" |
  awk '/Requests\/sec/ {r=$2} /^ +99%/ {p99=$2} END {print "/healthz: " r " req/s, p99 " p99}'
