#!/usr/bin/env bash
# Runs the e2e suite (SQLite and PostgreSQL) again and again with both cores kept busy by
# stress-ng, to find tests that assume timing (issue 15, item 11). Each run's output is kept
# in target/stress/run-N.txt; the summary says which runs passed and which tests failed.
#
#   RUNS=10 bash xtask/stress-e2e.sh
#
# stress-ng is installed from Debian's packages when missing.
set -uo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-5}"
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
command -v stress-ng >/dev/null || { apt-get update -qq && apt-get install -y -qq stress-ng; }
cargo build -p pifa --bin pifa --locked
cargo test -p pifa-e2e --test e2e --locked --no-run
mkdir -p target/stress
stress-ng --cpu 2 --timeout 0 --quiet &
STRESS=$!
trap 'kill $STRESS 2>/dev/null' EXIT
passed=0
for run in $(seq 1 "$RUNS"); do
    started=$(date +%s)
    if cargo test -p pifa-e2e --test e2e --locked >"target/stress/run-$run.txt" 2>&1; then
        passed=$((passed + 1))
        echo "run $run: passed in $(($(date +%s) - started)) s"
    else
        echo "run $run: FAILED in $(($(date +%s) - started)) s:"
        grep -a '^test .* FAILED$' "target/stress/run-$run.txt" | sed 's/^/    /'
    fi
done
echo "$passed of $RUNS loaded runs passed"
[ "$passed" -eq "$RUNS" ]
