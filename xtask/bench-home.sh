#!/usr/bin/env bash
# The composed homepage against the release binary (issue 20), beside ../shared/bench's
# baseline in one run: a published layout of 10 sections showing 60 goods (three goods grids
# of 20, a banner, the search bar, the categories, a notice, the flash sale, the brand wall and
# rich text) as a signed-in member, then the same URL with `decoration` taken out of
# plugins.toml (the default homepage: search, flash sale, categories, 12 goods), with the same
# load tool (wrk, 2 threads, 64 connections). Loads go only to 127.0.0.1.
#   bash xtask/bench-home.sh            (DURATION=10 ROUNDS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION="${DURATION:-10}"; ROUNDS="${ROUNDS:-2}"
BENCH="${BENCH:-$ROOT/../shared/bench}"
PORT=18192; BASE_PORT=8092
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

# The shipped plugins, by absolute path, in a file of the run's own (edited below).
BUILT=$ROOT/plugins/build
with_decoration() {
  cat <<TOML
[[plugin]]
name = "flash-sale"
component = "$BUILT/flash-sale.wasm"
order = 10
capabilities = ["kv"]
events = ["order.closed"]
route_roles = ["public", "admin", "customer_service"]
$( [ "$1" = yes ] && printf '\n[[plugin]]\nname = "decoration"\ncomponent = "%s/decoration.wasm"\ncapabilities = ["kv", "pages", "pictures"]\nroute_roles = ["public", "admin"]\nquota = { route_fuel = 12000000 }\n' "$BUILT")
TOML
}
with_decoration yes > "$DATA/plugins.toml"
export PIFA_DATA="$DATA/pifa" PIFA_ADDR="127.0.0.1:$PORT" PIFA_PLUGINS="$DATA/plugins.toml" RUST_LOG=warn
./target/release/pifa demo >/dev/null
./target/release/pifa serve >/dev/null 2>&1 &
PIDS+=($!)
PIFA="http://127.0.0.1:$PORT"
until curl -sf "$PIFA/healthz" >/dev/null && curl -sf "127.0.0.1:$BASE_PORT/page" >/dev/null; do sleep 0.1; done
token() { curl -s "$PIFA/api/v1/auth/login" -H 'content-type: application/json' -d "{\"phone\":\"$1\",\"password\":\"pifa1234\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/'; }
ADMIN=$(token 13800000001); MEMBER=$(token 13900000001)

# 60 products of 3 SKUs in one third-level category.
{
  echo "货号,商品名称,分类,单位,型号,规格,条码,价格,库存"
  for p in $(seq 1 60); do
    for s in 1 2 3; do
      printf 'HOME-%03d,加厚劳保手套 %d 号,劳保用品/手部防护/劳保手套,10个/盒 - 50个/箱,M%d,%d号,6978%06d%d,%d.%02d,500\n' \
        "$p" "$p" "$s" "$s" "$p" "$s" $((5 + p % 20)) $((p * 7 % 100))
    done
  done
} > "$DATA/home.csv"
curl -sf "$PIFA/api/v1/admin/catalog/import" -H "authorization: Bearer $ADMIN" -H 'content-type: text/csv' --data-binary @"$DATA/home.csv" >/dev/null
CATEGORY=$(curl -s "$PIFA/api/v1/categories" | python3 -c 'import json,sys; print(next(c["id"] for c in json.load(sys.stdin) if c["name"] == "劳保手套"))')
IDS=$(curl -s "$PIFA/api/v1/products?category_id=$CATEGORY&limit=60" -H "authorization: Bearer $ADMIN" | python3 -c 'import json,sys; print(json.dumps([p["id"] for p in json.load(sys.stdin)]))')
SKU=$(curl -s "$PIFA/api/v1/products?limit=1" -H "authorization: Bearer $ADMIN" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["skus"][0]["id"])')
NOW_MS=$(($(date +%s) * 1000))
curl -sf "$PIFA/api/v1/plugins/flash-sale/sales" -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' \
  -d "{\"name\":\"安全帽秒杀\",\"starts_at_ms\":$((NOW_MS - 60000)),\"ends_at_ms\":$((NOW_MS + 3600000)),\"total_limit\":1000,\"per_member_limit\":10,\"items\":[{\"sku_id\":$SKU,\"price_fen\":990}]}" >/dev/null
# A banner picture through the plugin's picture route (a 64×32 PNG made here).
python3 -c 'import struct,zlib,sys
w,h=64,32
raw=b"".join(b"\x00"+bytes([200,16,46])*w for _ in range(h))
def chunk(t,d): return struct.pack(">I",len(d))+t+d+struct.pack(">I",zlib.crc32(t+d)&0xffffffff)
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n"+chunk(b"IHDR",struct.pack(">IIBBBBB",w,h,8,2,0,0,0))+chunk(b"IDAT",zlib.compress(raw))+chunk(b"IEND",b""))' > "$DATA/banner.png"
PICTURE=$(curl -sf "$PIFA/api/v1/plugins/decoration/pictures" -H "authorization: Bearer $ADMIN" -H 'content-type: image/png' --data-binary @"$DATA/banner.png" | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
python3 - "$CATEGORY" "$IDS" "$PICTURE" > "$DATA/layout.json" <<'PY'
import json, sys
category, ids, picture = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
print(json.dumps({"title": "", "colors": {"primary": "#0a7d4f"}, "sections": [
    {"kind": "banner", "settings": {"images": [{"image": picture, "link": "/search?category_id=%d" % category}]}},
    {"kind": "search", "settings": {}},
    {"kind": "nav", "settings": {"source": "categories"}},
    {"kind": "notice", "settings": {"text": "满500包邮，下午4点前下单当天发货"}},
    {"kind": "goods", "settings": {"title": "手套专区", "source": "category", "category_id": category, "count": 20}},
    {"kind": "flash_sale", "settings": {}},
    {"kind": "goods", "settings": {"title": "本周主推", "source": "picked", "product_ids": ids[20:40], "count": 20}},
    {"kind": "brands", "settings": {}},
    {"kind": "goods", "settings": {"title": "更多手套", "source": "picked", "product_ids": ids[40:60], "count": 20}},
    {"kind": "rich_text", "settings": {"html": "<p><b>批发说明</b>：整箱起批，量大从优。</p>"}},
]}))
PY
curl -sf -X PUT "$PIFA/api/v1/plugins/decoration/pages/home/draft" -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' --data-binary @"$DATA/layout.json" >/dev/null
curl -sf -X POST "$PIFA/api/v1/plugins/decoration/pages/home/publish" -H "authorization: Bearer $ADMIN" >/dev/null
HOME_PAGE=$(curl -s "$PIFA/" -H "authorization: Bearer $MEMBER")
GOODS=$(grep -c 'class="good"' <<<"$HOME_PAGE" || true)
echo "published homepage: $GOODS goods, $(grep -c 'class="card flash-sale"' <<<"$HOME_PAGE" || true) flash sale, $(wc -c <<<"$HOME_PAGE") bytes"
[ "$GOODS" = 60 ] || { echo "the published homepage shows $GOODS goods, not 60" >&2; exit 1; }

run() { # name url [header]
  wrk -t2 -c64 -d"${DURATION}s" --latency ${3:+-H "$3"} "$2" 2>&1 |
    awk -v n="$1" '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {e=$NF} END {printf "%-44s %10s req/s  p50 %-8s p99 %-8s non2xx %s\n", n, r, p50, p99, (e==""?0:e)}'
}
decorated() {
  run "baseline /page (50 rows)" "http://127.0.0.1:$BASE_PORT/page"
  run "pifa / published, 10 sections, 60 goods" "$PIFA/" "Authorization: Bearer $MEMBER"
}
for round in $(seq "$ROUNDS"); do
  echo "== round $round: decoration installed"
  decorated
done

# Decoration taken out of plugins.toml: the same URL serves the default homepage, no restart.
with_decoration no > "$DATA/plugins.toml.new" && mv "$DATA/plugins.toml.new" "$DATA/plugins.toml"
until ! curl -s "$PIFA/" -H "authorization: Bearer $MEMBER" | grep -q '手套专区'; do sleep 0.2; done
DEFAULT_PAGE=$(curl -s "$PIFA/" -H "authorization: Bearer $MEMBER")
echo "default homepage: $(grep -c 'class="good"' <<<"$DEFAULT_PAGE" || true) goods, $(wc -c <<<"$DEFAULT_PAGE") bytes"
for round in $(seq "$ROUNDS"); do
  echo "== round $round: decoration removed"
  run "baseline /page (50 rows)" "http://127.0.0.1:$BASE_PORT/page"
  run "pifa / default homepage (12 goods)" "$PIFA/" "Authorization: Bearer $MEMBER"
done
