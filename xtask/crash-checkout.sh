#!/usr/bin/env bash
# 1,000 kill -9 cycles during checkout bursts (issue: ordering): the suite's crash test with
# more cycles. Every acknowledged order must survive each crash with its lines, adjustments and
# outbox events, and stock must add up. SQLite by default; set TEST_DATABASE_URL for the
# PostgreSQL run too.
#   bash xtask/crash-checkout.sh            # 1,000 cycles
#   CRASH_CYCLES=200 bash xtask/crash-checkout.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p pifa --bin pifa
CRASH_CYCLES="${CRASH_CYCLES:-1000}" cargo test --quiet -p pifa-e2e --test e2e crash:: -- --nocapture
