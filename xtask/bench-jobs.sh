#!/usr/bin/env bash
# The back office's long work against the release binary (issue 19): a 100,000-row import
# (20,000 new products × 5 SKUs) posted through the goods page's form runs as a job, watched on
# its page; meanwhile members' product reads are measured (beside the same load with no job
# running) and a checkout is timed while the import writes. Then the catalogue's Excel export
# as a job. Loads go only to 127.0.0.1 and stop by themselves.
#   bash xtask/bench-jobs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-8}"
PORT="${PORT:-18184}"
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y wrk >/dev/null; }
cargo build --release --quiet -p pifa
DATA=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
export PIFA_DATA="$DATA" PIFA_ADDR="127.0.0.1:$PORT" RUST_LOG=warn
BASE="http://127.0.0.1:$PORT"
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

awk 'BEGIN {
  split("红色 黄色 白色 灰色 蓝色", colours, " ");
  print "货号,商品名称,单位,型号,规格,条码,价格,库存";
  for (p = 0; p < 20000; p++) {
    for (s = 0; s < 5; s++) {
      price = 500 + (p * 37 + s * 11) % 30000;
      printf "JOB-%06d,批量导入商品 %d,10个/盒 - 50个/箱,M%d,%s,68%011d,%d.%02d,%d\n", p, p, p % 7, colours[s + 1], p * 5 + s, price / 100, price % 100, 100 + p % 900;
    }
  }
}' > "$DATA/goods.csv"
echo "file: $(($(wc -l < "$DATA/goods.csv") - 1)) rows, $(( $(stat -c %s "$DATA/goods.csv") / 1024 )) KiB"

./target/release/pifa demo >/dev/null
./target/release/pifa serve >/dev/null 2>&1 &
PID=$!
until curl -sf "$BASE/healthz" >/dev/null; do sleep 0.05; done
MEMBER=$(curl -s "$BASE/api/v1/auth/login" -H 'content-type: application/json' -d '{"phone":"13900000001","password":"pifa1234"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
ADDRESS=$(curl -s "$BASE/api/v1/me/addresses" -H "authorization: Bearer $MEMBER" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
SKU=$(curl -s "$BASE/api/v1/search?q=6901234500011" -H "authorization: Bearer $MEMBER" | grep -o '"skus":\[{"id":[0-9]*' | head -1 | grep -o '[0-9]*$')
JAR="$DATA/cookies"
curl -s -c "$JAR" -b "$JAR" -o /dev/null "$BASE/login"
curl -s -c "$JAR" -b "$JAR" -o /dev/null "$BASE/login" --data-urlencode phone=13800000001 --data-urlencode password=pifa1234 --data-urlencode next=/admin
CSRF=$(curl -s -c "$JAR" -b "$JAR" "$BASE/admin/goods" | grep -o 'name="csrf_token" value="[0-9a-f]*"' | head -1 | sed 's/.*value="\([0-9a-f]*\)"/\1/')

READ=$(mktemp)
cat > "$READ" <<'LUA'
request = function()
  return wrk.format("GET", "/api/v1/products/" .. math.random(1, 300))
end
LUA
echo; echo "== members' product reads (demo goods, 2 threads, 16 connections), no job running"
wrk -t2 -c16 -d"${DURATION}s" --latency -H "Authorization: Bearer $MEMBER" -s "$READ" "$BASE" | grep -E "Requests/sec|50%|99%"

# A member orders; prints how long it took. SQLite has one writer and the import writes in one
# transaction (all or nothing), so a checkout during the writing waits for it.
checkout() {
  local t code
  t=$(date +%s%N)
  code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/orders" -H "authorization: Bearer $MEMBER" -H 'content-type: application/json' -H "idempotency-key: bench-jobs-$RANDOM$RANDOM" \
    -d "{\"delivery_method\":\"ship\",\"payment_method\":\"cash_on_delivery\",\"address_id\":$ADDRESS,\"lines\":[{\"sku_id\":$SKU,\"qty\":20}]}")
  echo "   a checkout $1: HTTP $code in $(ms "$t") ms"
}

# Follows a job's page until it stops reloading itself; prints each new stage as it is seen
# and, with a third argument, places an order once in each stage.
follow() { # job path, start time, [order]
  local last="" orders=()
  while :; do
    page=$(curl -s -c "$JAR" -b "$JAR" "$BASE$1")
    if ! grep -q 'data-reload-after' <<<"$page"; then break; fi
    stage=$(grep -o '<b>[^<]*</b>' <<<"$page" | head -1 | sed 's/<[^>]*>//g')
    if [ "$stage" != "$last" ]; then
      echo "   $(ms "$2") ms: $stage"
      last="$stage"
      if [ -n "${3:-}" ]; then checkout "while $stage" & orders+=($!); fi
    fi
    sleep 0.2
  done
  echo "   $(ms "$2") ms: done — $(grep -o '<p class="notice"[^>]*>[^<]*' <<<"$page" | sed 's/<[^>]*>//g' | head -1)"
  [ ${#orders[@]} -eq 0 ] || wait "${orders[@]}"
}

echo; echo "== import of 100,000 rows through /admin/goods/import (a job)"
start=$(date +%s%N)
JOB=$(curl -s -c "$JAR" -b "$JAR" -o /dev/null -w '%{redirect_url}' "$BASE/admin/goods/import" -F csrf_token="$CSRF" -F "file=@$DATA/goods.csv;filename=goods.csv")
echo "   the form answered in $(ms "$start") ms with ${JOB#"$BASE"}"
JOB_PATH="/${JOB#"$BASE"/}"
wrk -t2 -c16 -d"${DURATION}s" --latency -H "Authorization: Bearer $MEMBER" -s "$READ" "$BASE" > "$DATA/during.txt" &
WRK=$!
checkout "with no job running"
follow "$JOB_PATH" "$start" order
wait "$WRK"
echo "   members' product reads while it ran (first ${DURATION} s):"
grep -E "Requests/sec|50%|99%" "$DATA/during.txt"

echo; echo "== the catalogue's Excel export (100,000+ rows) through /admin/goods/export (a job)"
start=$(date +%s%N)
JOB=$(curl -s -c "$JAR" -b "$JAR" -o /dev/null -w '%{redirect_url}' "$BASE/admin/goods/export" --data-urlencode csrf_token="$CSRF" --data-urlencode format=xlsx)
echo "   the form answered in $(ms "$start") ms"
follow "/${JOB#"$BASE"/}" "$start"
size=$(curl -s -c "$JAR" -b "$JAR" -o "$DATA/goods.xlsx" -w '%{size_download}' "$BASE/${JOB#"$BASE"/}/file")
echo "   downloaded $((size / 1024)) KiB"
echo "memory (RSS): $(awk '/VmRSS/ {print $2 " " $3}' /proc/$PID/status)"
rm -f "$READ"
