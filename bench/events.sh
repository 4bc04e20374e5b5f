#!/usr/bin/env bash
# Issue 10's figures: webhook deliveries from the outbox to a local receiver. A release
# `partnerhub serve` per backend; 16 clients create invitations as fast as it takes them (the
# acceptance rate, changes/s), each an `invitation.created` event its worker delivers to a
# receiver in the test process: events delivered per second, and the delay from each change's
# 201 to its delivery (p50, p99). The test is crates/cli/tests/it/webhooks_pg.rs
# `bench_webhook_delivery` (ignored by default).
#
# Twice per backend: at full speed (the throughputs; the delay then includes the queue the
# burst builds), and paced at BENCH_RATE changes/s (default 200), below what delivery keeps up
# with (the delay of one event).
#
# Usage: bash bench/events.sh     BACKENDS="sqlite postgres"  BENCH_EVENTS=2000  BENCH_RATE=200
#   (PostgreSQL: PARTNERHUB_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS=${BACKENDS:-sqlite postgres}
cargo build --release -q -p partnerhub
export PARTNERHUB_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/partnerhub
run() {
  cargo test -q -p partnerhub --test it -- --ignored --exact webhooks_pg::bench_webhook_delivery --nocapture 2>&1 | grep '^BENCH'
}
for backend in $BACKENDS; do
  PARTNERHUB_TEST_BACKEND=$backend run
  PARTNERHUB_TEST_BACKEND=$backend BENCH_RATE=${BENCH_RATE:-200} BENCH_EVENTS=${BENCH_PACED_EVENTS:-1000} run
done
