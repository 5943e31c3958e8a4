#!/usr/bin/env bash
# Page weight (issue 18): the bytes a phone downloads for the home page and a product page,
# gzip as the server sends them, each page with the stylesheet and script it links (pictures
# left out: the demo has none), as a visitor and as the demo member; and whether any of them
# names another host. Against the release binary with the full demo data.
#   bash xtask/page-weight.sh
#   PIFA_BIN=target/debug/pifa bash xtask/page-weight.sh   # an existing build, no cargo run
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-18191}"
BIN="${PIFA_BIN:-target/release/pifa}"
if [ -z "${PIFA_BIN:-}" ]; then cargo build --release --quiet -p pifa --bin pifa; fi
DATA=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
export PIFA_DATA="$DATA" PIFA_ADDR="127.0.0.1:$PORT" RUST_LOG=warn
"$BIN" demo >/dev/null
"$BIN" serve >/dev/null 2>&1 &
PID=$!
BASE="http://127.0.0.1:$PORT"
until curl -sf "$BASE/healthz" >/dev/null; do sleep 0.05; done
JAR="$DATA/cookies"
curl -sf -c "$JAR" -H 'content-type: application/json' \
  -d '{"phone":"13900000001","password":"pifa1234","session":"cookie"}' "$BASE/api/v1/auth/login" >/dev/null
PRODUCT=$(curl -sf "$BASE/api/v1/products?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
# Bytes on the wire (gzip) of one URL, and unzipped.
wire() { curl -s -b "$1" -H 'accept-encoding: gzip' -o /dev/null -w '%{size_download}' "$BASE$2"; }
raw() { curl -s -b "$1" -o /dev/null -w '%{size_download}' "$BASE$2"; }
for who in visitor member; do
  jar=/dev/null; [ "$who" = member ] && jar="$JAR"
  for path in / "/products/$PRODUCT"; do
    html=$(curl -s -b "$jar" "$BASE$path")
    page=$(wire "$jar" "$path")
    total=$page
    for asset in $(grep -o '/assets/[^"]*\.\(css\|js\)' <<<"$html" | sort -u); do
      total=$((total + $(wire "$jar" "$asset")))
    done
    others=$(grep -oE '(src|href|action)="(https?:)?//[^"]*' <<<"$html" | grep -vc "127.0.0.1:$PORT" || true)
    prices=$(grep -c '¥' <<<"$html" || true)
    printf '%-8s %-14s page %6d B (%6d B unzipped), with css+js %6d B; lines with a price: %3d; links to other hosts: %d\n' \
      "$who" "$path" "$page" "$(raw "$jar" "$path")" "$total" "$prices" "$others"
  done
done
