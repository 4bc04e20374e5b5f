#!/usr/bin/env bash
# Issue 10's figures: webhook deliveries from the outbox to a local receiver. A release
# `partnerhub serve` per backend; 16 clients create invitations as fast as it takes them (the
# acceptance rate, changes/s), each an `invitation.created` event its worker delivers to a
# receiver in the test process: events delivered per second, and the delay from each change's
# 201 to its delivery (p50, p99). The test is crates/cli/tests/it/webhooks_pg.rs
# `bench_webhook_delivery` (ignored by default).
#
# Usage: bash bench/events.sh     BACKENDS="sqlite postgres"  BENCH_EVENTS=2000
#   (PostgreSQL: PARTNERHUB_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS=${BACKENDS:-sqlite postgres}
cargo build --release -q -p partnerhub
export PARTNERHUB_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/partnerhub
for backend in $BACKENDS; do
  PARTNERHUB_TEST_BACKEND=$backend cargo test -q -p partnerhub --test it -- --ignored --exact \
    webhooks_pg::bench_webhook_delivery --nocapture 2>&1 | grep '^BENCH'
done
