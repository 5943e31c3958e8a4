#!/usr/bin/env bash
# Storefront pages against the release binary, beside ../shared/bench's baseline in one run
# (issue 18): the home page and a 50-product category page as a signed-in member, and the
# baseline's 50-row server-rendered /page, with the same load tool (wrk, 2 threads, 64
# connections), alternating baseline / Pifa for ROUNDS rounds. Loads go only to 127.0.0.1.
#   bash xtask/bench-pages.sh            (DURATION=10 ROUNDS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION="${DURATION:-10}"; ROUNDS="${ROUNDS:-2}"
BENCH="${BENCH:-$ROOT/../shared/bench}"
PORT=18191; BASE_PORT=8091
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y wrk >/dev/null; }
cargo build --release --quiet -p pifa
export CARGO_TARGET_DIR=${BASELINE_TARGET:-${TMPDIR:-/tmp}/pifa-baseline-target}
(cd "$BENCH/baseline" && cargo build --release --locked --quiet)
BASELINE=$CARGO_TARGET_DIR/release/baseline
unset CARGO_TARGET_DIR
DATA=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DATA"' EXIT

BASELINE_DB=$DATA/b.db "$BASELINE" seed >/dev/null
BASELINE_DB=$DATA/b.db BASELINE_ADDR=127.0.0.1:$BASE_PORT "$BASELINE" serve >/dev/null 2>&1 &
PIDS+=($!)
export PIFA_DATA="$DATA/pifa" PIFA_ADDR="127.0.0.1:$PORT" RUST_LOG=warn
./target/release/pifa demo >/dev/null
./target/release/pifa serve >/dev/null 2>&1 &
PIDS+=($!)
PIFA="http://127.0.0.1:$PORT"
until curl -sf "$PIFA/healthz" >/dev/null && curl -sf "127.0.0.1:$BASE_PORT/page" >/dev/null; do sleep 0.1; done
token() { curl -s "$PIFA/api/v1/auth/login" -H 'content-type: application/json' -d "{\"phone\":\"$1\",\"password\":\"pifa1234\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/'; }
ADMIN=$(token 13800000001); MEMBER=$(token 13900000001)

# 60 products of 3 SKUs in one third-level category: the category page lists its first 50.
{
  echo "货号,商品名称,分类,单位,型号,规格,条码,价格,库存"
  for p in $(seq 1 60); do
    for s in 1 2 3; do
      printf 'PAGE-%03d,加厚劳保手套 %d 号,劳保用品/手部防护/劳保手套,10个/盒 - 50个/箱,M%d,%d号,6977%06d%d,%d.%02d,500\n' \
        "$p" "$p" "$s" "$s" "$p" "$s" $((5 + p % 20)) $((p * 7 % 100))
    done
  done
} > "$DATA/page.csv"
curl -sf "$PIFA/api/v1/admin/catalog/import" -H "authorization: Bearer $ADMIN" -H 'content-type: text/csv' --data-binary @"$DATA/page.csv" >/dev/null
CATEGORY=$(curl -s "$PIFA/api/v1/categories" | python3 -c 'import json,sys; print(next(c["id"] for c in json.load(sys.stdin) if c["name"] == "劳保手套"))')
# A flash sale running on the first SKU of the list: the home page shows its countdown, from
# the flash-sale plugin's storefront route on every view.
SKU=$(curl -s "$PIFA/api/v1/products?limit=1" -H "authorization: Bearer $ADMIN" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["skus"][0]["id"])')
NOW_MS=$(($(date +%s) * 1000))
curl -sf "$PIFA/api/v1/plugins/flash-sale/sales" -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' \
  -d "{\"name\":\"安全帽秒杀\",\"starts_at_ms\":$((NOW_MS - 60000)),\"ends_at_ms\":$((NOW_MS + 3600000)),\"total_limit\":1000,\"per_member_limit\":10,\"items\":[{\"sku_id\":$SKU,\"price_fen\":990}]}" >/dev/null
LISTED=$(curl -s "$PIFA/search?category_id=$CATEGORY" -H "authorization: Bearer $MEMBER" | grep -c 'class="good"' || true)
PRICED=$(curl -s "$PIFA/search?category_id=$CATEGORY" -H "authorization: Bearer $MEMBER" | grep -c 'class="price"' || true)
echo "category page: $LISTED goods listed, $PRICED with the member's price"
HOME=$(curl -s "$PIFA/" -H "authorization: Bearer $MEMBER")
echo "home page: $(grep -c 'class="good"' <<<"$HOME") goods, $(grep -c 'class="card flash-sale"' <<<"$HOME") flash sale"
[ "$(grep -c 'class="card flash-sale"' <<<"$HOME")" = 1 ] || { echo "the home page shows no flash sale" >&2; exit 1; }
echo "baseline /page: $(curl -s "127.0.0.1:$BASE_PORT/page" | grep -c '<li>') rows"

run() { # name url [header]
  wrk -t2 -c64 -d"${DURATION}s" --latency ${3:+-H "$3"} "$2" 2>&1 |
    awk -v n="$1" '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {e=$NF} END {printf "%-34s %10s req/s  p50 %-8s p99 %-8s non2xx %s\n", n, r, p50, p99, (e==""?0:e)}'
}
for round in $(seq "$ROUNDS"); do
  echo "== round $round"
  run "baseline /page (50 rows)" "http://127.0.0.1:$BASE_PORT/page"
  run "pifa home (member)" "$PIFA/" "Authorization: Bearer $MEMBER"
  run "baseline /page (50 rows)" "http://127.0.0.1:$BASE_PORT/page"
  run "pifa category, 50 goods (member)" "$PIFA/search?category_id=$CATEGORY" "Authorization: Bearer $MEMBER"
done
