#!/usr/bin/env bash
# Load benchmark: requests/s and p99 for acceptances (POST /api/v1/invitations/accept, each
# pair accepted once), GET /api/v1/customers (a page of 50 with grants), orders
# (POST /api/v1/customers/{id}/orders, one item, each request a new order of a direct partner
# for one of its connected customers) and GET /api/v1/customers/{id}/subscriptions (a customer
# holding 20), on SQLite and on PostgreSQL in the same run, each beside GET /healthz (no
# database) as the baseline.
#
# Usage: bench/run.sh [PARTNERS] [CUSTOMERS]     (needs wrk, python3, psql for PostgreSQL;
#   wrk and psql are installed from Debian's packages when missing)
#   BACKENDS="sqlite postgres"  PG=postgres://postgres@127.0.0.1:5432/postgres
#   DUR=10s (reads) ACCEPT_DUR=3s (must end before the pairs do) ORDER_DUR=10s CONN=32
#   BIN=path/to/partnerhub (a binary built elsewhere, e.g. an older commit; default: build this one)
set -euo pipefail
cd "$(dirname "$0")/.."
P=${1:-100} C=${2:-400} DUR=${DUR:-10s} ACCEPT_DUR=${ACCEPT_DUR:-3s} ORDER_DUR=${ORDER_DUR:-10s} CONN=${CONN:-32}
BACKENDS=${BACKENDS:-sqlite postgres}
PG=${PG:-postgres://postgres@127.0.0.1:5432/postgres}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
case " $BACKENDS " in *" postgres "*) command -v psql >/dev/null 2>&1 || missing+=(postgresql-client) ;; esac
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  cargo build --release -q -p partnerhub
  bin=${CARGO_TARGET_DIR:-target}/release/partnerhub
fi
work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  [ -n "${pgdb:-}" ] && psql -q "$PG" -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

rps() { grep "Requests/sec" | awk '{print $2}'; }
p99() { grep -E "^ +99%" | awk '{print $2}'; }

summary=()
for backend in $BACKENDS; do
  case $backend in
    sqlite) url="sqlite://$work/bench.db" ;;
    postgres)
      pgdb="ph_bench_$RANDOM$RANDOM"
      psql -q "$PG" -c "CREATE DATABASE $pgdb"
      url="${PG%/*}/$pgdb" ;;
  esac
  port=$((20000 + RANDOM % 10000))
  PARTNERHUB_OPERATOR_TOKEN=bench PARTNERHUB_SECRET="$("$bin" secret generate)" PARTNERHUB_LOG=warn \
    "$bin" serve --database "$url" --listen 127.0.0.1:$port --trusted-proxies 127.0.0.1/32 2>"$work/server-$backend.log" &
  server=$!
  until grep -q "listening on" "$work/server-$backend.log"; do sleep 0.1; done
  H=http://127.0.0.1:$port
  mkdir -p "$work/$backend"
  python3 bench/seed.py $H bench "$P" "$C" "$work/$backend"
  base=$(wrk -t2 -c$CONN -d$DUR --latency $H/healthz)
  acc=$(wrk -t2 -c$CONN -d$ACCEPT_DUR --latency -s bench/accept.lua $H -- "$work/$backend/pairs.txt" 2)
  if echo "$acc" | grep -q "Non-2xx"; then
    echo "$acc"; echo "acceptances ran out of pairs or failed: seed more or shorten ACCEPT_DUR" >&2; exit 1
  fi
  list=$(wrk -t2 -c$CONN -d$DUR --latency -H "Authorization: Bearer $(cat "$work/$backend/partner.token")" $H/api/v1/customers)
  if echo "$list" | grep -q "Non-2xx"; then echo "$list"; exit 1; fi
  ord=$(wrk -t2 -c$CONN -d$ORDER_DUR --latency -s bench/order.lua $H -- "$work/$backend/order.txt" "$(cat "$work/$backend/commerce.token")")
  if echo "$ord" | grep -q "Non-2xx"; then echo "$ord"; exit 1; fi
  subs=$(wrk -t2 -c$CONN -d$DUR --latency -H "Authorization: Bearer $(cat "$work/$backend/commerce.token")" "$H$(cat "$work/$backend/subscriptions.path")")
  if echo "$subs" | grep -q "Non-2xx"; then echo "$subs"; exit 1; fi
  "$bin" audit verify --database "$url"
  kill "$server"; wait "$server" 2>/dev/null || true; server=
  b=$(echo "$base" | rps) a=$(echo "$acc" | rps) l=$(echo "$list" | rps) o=$(echo "$ord" | rps) s=$(echo "$subs" | rps)
  summary+=("$(printf '%-9s %-22s %10s/s  p99 %-8s  %s of baseline' "$backend" "GET /healthz" "$b" "$(echo "$base" | p99)" "1")")
  summary+=("$(printf '%-9s %-22s %10s/s  p99 %-8s  %s of baseline' "$backend" "accept invitation" "$a" "$(echo "$acc" | p99)" "$(python3 -c "print(f'{$a/$b:.4f}')")")")
  summary+=("$(printf '%-9s %-22s %10s/s  p99 %-8s  %s of baseline' "$backend" "GET /customers (50)" "$l" "$(echo "$list" | p99)" "$(python3 -c "print(f'{$l/$b:.4f}')")")")
  summary+=("$(printf '%-9s %-22s %10s/s  p99 %-8s  %s of baseline' "$backend" "place an order" "$o" "$(echo "$ord" | p99)" "$(python3 -c "print(f'{$o/$b:.4f}')")")")
  summary+=("$(printf '%-9s %-22s %10s/s  p99 %-8s  %s of baseline' "$backend" "GET subscriptions (20)" "$s" "$(echo "$subs" | p99)" "$(python3 -c "print(f'{$s/$b:.4f}')")")")
done
echo
echo "wrk -t2 -c$CONN, partners=$P customers=$C ($((P * C)) acceptance pairs), $(nproc) cores, client and server on one machine"
printf '%s\n' "${summary[@]}"
