#!/usr/bin/env bash
# Message delivery figures (issue: rules as scripts) against the release binary with the full
# demo data: SMS/s from staff broadcasts through notifications.rhai, the outbox and the sender
# to a local fake SMS provider. Loopback only.
#   bash xtask/bench-messages.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p pifa -p pifa-e2e --bin pifa --bin message_load
DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT
PIFA_DATA="$DATA" RUST_LOG=warn ./target/release/pifa demo >/dev/null
./target/release/message_load ./target/release/pifa "$DATA"
