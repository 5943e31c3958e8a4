#!/usr/bin/env bash
# Catalogue figures against the release binary with 100,000 SKUs loaded (issue: members and
# catalogue): import time of 10,000 rows, search latency p50/p99, product JSON reads/s.
# Loads go only to 127.0.0.1 and stop by themselves.
#   bash xtask/bench-catalogue.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/pifa_bench bash xtask/bench-catalogue.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
PORT="${PORT:-18182}"
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y wrk >/dev/null; }
cargo build --release --quiet -p pifa
DATA=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
export PIFA_DATA="$DATA" PIFA_ADDR="127.0.0.1:$PORT" RUST_LOG=warn
BASE="http://127.0.0.1:$PORT"

# 20,000 products × 5 SKUs = 100,000 rows, named like a real safety-gear and hardware range.
gen() { # first_product count
  awk -v first="$1" -v count="$2" 'BEGIN {
    split("安全帽 劳保手套 防水涂料 活动扳手 反光背心 防尘口罩 安全带 劳保鞋 电焊面罩 卷尺 螺丝刀 冲击钻 切割片 膨胀螺丝 绝缘胶带 防水卷材 堵漏王 护目镜 隔音耳罩 雨靴", kinds, " ");
    split("加厚 耐磨 轻便 高强度 防滑 透气 工业级 专业 经济型 豪华", words, " ");
    split("红色 黄色 白色 灰色 蓝色", colours, " ");
    print "货号,商品名称,单位,型号,规格,条码,价格,库存,阶梯价,等级价:银牌会员";
    for (p = first; p < first + count; p++) {
      name = words[p % 10 + 1] kinds[int(p / 10) % 20 + 1] " " p;
      for (s = 0; s < 5; s++) {
        price = 500 + (p * 37 + s * 11) % 30000;
        printf "BENCH-%06d,%s,10个/盒 - 50个/箱,M%d,%s,69%011d,%d.%02d,%d,100:%d.%02d,%d.%02d\n", p, name, p % 7, colours[s + 1], p * 5 + s, price / 100, price % 100, 100 + p % 900, (price * 9 / 10) / 100, (price * 9 / 10) % 100, (price * 95 / 100) / 100, (price * 95 / 100) % 100;
      }
    }
  }'
}
for part in 0 1 2 3 4 5 6 7 8 9; do gen $((part * 2000)) 2000 > "$DATA/part$part.csv"; done

./target/release/pifa demo >/dev/null
./target/release/pifa serve >/dev/null 2>&1 &
PID=$!
until curl -sf "$BASE/healthz" >/dev/null; do sleep 0.05; done
ADMIN=$(curl -s "$BASE/api/v1/auth/login" -H 'content-type: application/json' -d '{"phone":"13800000001","password":"pifa1234"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
MEMBER=$(curl -s "$BASE/api/v1/auth/login" -H 'content-type: application/json' -d '{"phone":"13900000001","password":"pifa1234"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')

# Ten files of 10,000 rows (2,000 new products each, indexed as they are written).
for part in 0 1 2 3 4 5 6 7 8 9; do
  start=$(date +%s%N)
  curl -sf "$BASE/api/v1/admin/catalog/import" -H "authorization: Bearer $ADMIN" -H 'content-type: text/csv' --data-binary @"$DATA/part$part.csv" >/dev/null
  echo "import of 10,000 rows, file $((part + 1))/10: $(( ($(date +%s%N) - start) / 1000000 )) ms"
done

SEARCH=$(mktemp)
cat > "$SEARCH" <<'LUA'
local queries = { "安全帽", "手套 劳保", "防水 涂料 灰色", "aqm", "扳手", "加厚 反光背心", "6900000012345", "耐磨 劳保鞋", "切割片", "防滑 雨靴 黄色" }
local i = 0
request = function()
  i = i % #queries + 1
  local q = queries[i]:gsub("[^%w]", function(c) return string.format("%%%02X", string.byte(c)) end)
  return wrk.format("GET", "/api/v1/search?q=" .. q)
end
LUA
echo; echo "== search (10 queries in rotation, as an approved member), 2 threads, 8 connections"
wrk -t2 -c8 -d"${DURATION}s" --latency -H "Authorization: Bearer $MEMBER" -s "$SEARCH" "$BASE" | grep -E "Requests/sec|50%|90%|99%"

READ=$(mktemp)
cat > "$READ" <<'LUA'
request = function()
  return wrk.format("GET", "/api/v1/products/" .. math.random(1, 20000))
end
LUA
# The cold pass walks the ids in order (each wrk thread its own half), so that it reads every
# product from the database once and leaves all of them cached for the steady pass.
COLD=$(mktemp)
cat > "$COLD" <<'LUA'
local threads = 0
setup = function(thread)
  thread:set("first", threads)
  threads = threads + 1
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/v1/products/" .. ((first + n * 2) % 20000 + 1))
end
LUA
echo; echo "== GET /api/v1/products/{id} (5 SKUs each, member prices), 2 threads, 32 connections"
echo "   cold (ids in order: every product read from the database once, then from the cache):"
wrk -t2 -c32 -d"${DURATION}s" --latency -H "Authorization: Bearer $MEMBER" -s "$COLD" "$BASE" | grep -E "Requests/sec|50%|99%"
echo "   steady (random ids, every product cached):"
wrk -t2 -c32 -d"${DURATION}s" --latency -H "Authorization: Bearer $MEMBER" -s "$READ" "$BASE" | grep -E "Requests/sec|50%|99%"
echo "memory (RSS): $(awk '/VmRSS/ {print $2 " " $3}' /proc/$PID/status)"
rm -f "$SEARCH" "$READ" "$COLD"
