#!/usr/bin/env bash
# Load benchmark: requests/s and latency percentiles for GET /api/v1/customers and for
# acceptances, with GET /healthz (no database) as the baseline measured in the same run.
# Usage: bench/run.sh [PARTNERS] [CUSTOMERS]   (needs wrk and python3; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
P=${1:-40} C=${2:-250} DUR=${DUR:-10s} CONN=${CONN:-32}
work=$(mktemp -d)
cargo build --release -q -p partnerhub
port=$((20000 + RANDOM % 10000))
PARTNERHUB_OPERATOR_TOKEN=bench PARTNERHUB_SECRET=bench PARTNERHUB_LOG=warn \
  ./target/release/partnerhub serve --database "sqlite://$work/bench.db" --listen 127.0.0.1:$port 2>"$work/server.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
until grep -q "listening on" "$work/server.log"; do sleep 0.1; done
H=http://127.0.0.1:$port
python3 bench/seed.py $H bench "$P" "$C" "$work"

echo "== baseline: GET /healthz"
wrk -t2 -c$CONN -d$DUR --latency $H/healthz | grep -E "Requests/sec|^ +(50|99)%"
echo "== acceptances: POST /api/v1/invitations/accept ($((P * C)) pairs, each accepted once)"
wrk -t2 -c$CONN -d${ACCEPT_DUR:-4s} --latency -s bench/accept.lua $H -- "$work/pairs.txt" 2 | grep -E "Requests/sec|^ +(50|99)%|Non-2xx|requests in"
echo "== GET /api/v1/customers (a partner with $C customers, pages of 50)"
wrk -t2 -c$CONN -d$DUR --latency -H "Authorization: Bearer $(cat "$work/partner.token")" $H/api/v1/customers | grep -E "Requests/sec|^ +(50|99)%|Non-2xx"
./target/release/partnerhub audit verify --database "sqlite://$work/bench.db"
