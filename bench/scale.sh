#!/usr/bin/env bash
# The reads of issue 9 at its dataset: `partnerhub bench seed` loads 1,000 partners, 100,000
# customers (the measured partner holds 10,000, a small partner 100), 300,000 grants and
# 1,000,000 audit records in bulk on each backend (PostgreSQL then VACUUM ANALYZEd; both flushed
# to disk before the runs), and wrk
# measures, each beside GET /healthz of the same run:
#   GET /api/v1/customers        a full page of 50 with grants, measured partner (10,000)
#   GET /api/v1/customers        the same for the small partner (100): the p99 ratio 10,000/100
#   GET /api/v1/customers/{id}   one customer of the measured partner
# then the writes, each as many requests as wrk can make in DUR:
#   POST /api/v1/invitations     an open invitation of the measured partner (defaults)
#   POST /api/v1/invitations/accept   durable (SQLite synchronous=FULL, PostgreSQL
#                                synchronous_commit=on): each request its own customer and
#                                invitation, from the pairs `bench seed --pairs` loaded
#   POST /api/v1/customers/{id}/orders   an order of one item by the measured partner
#   GET  /api/v1/customers/{id}/subscriptions   a page of 50 of the subscriptions just ordered
# and the server's peak RSS (VmHWM) after the runs. Writes the table as Markdown and JSON.
#
# Usage: bash bench/scale.sh      (needs wrk, python3, curl, psql for PostgreSQL)
#   BACKENDS="sqlite postgres"  PG=postgres://postgres@127.0.0.1:5432/postgres  DUR=5s CONN=32
#   SEED_ARGS="--customers 100000 ..." (passed to `partnerhub bench seed`)  PAIRS=60000 (acceptances
#   available: a run that exhausts them fails, so raise PAIRS on a faster machine)
#   OUT=bench/results/scale   (writes OUT.md and OUT.json)
#   BIN=path/to/partnerhub    (measure that binary instead of building this checkout; the table
#                             then names this checkout's commit, so say which binary it was)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-5s} CONN=${CONN:-32}
BACKENDS=${BACKENDS:-sqlite postgres}
PG=${PG:-postgres://postgres@127.0.0.1:5432/postgres}
OUT=${OUT:-bench/results/scale}
SEED_ARGS=${SEED_ARGS:-}
PAIRS=${PAIRS:-60000}
if [ -n "${BIN:-}" ]; then
  bin=$BIN  # a binary built elsewhere (an older commit measured beside this one)
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

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval('d'+sys.argv[2]))" "$@"; }
token() { curl -sf -X POST -H 'Content-Type: application/json' -d "{\"email\":\"$2\",\"password\":\"$3\"}" "$1/api/v1/auth/token" \
  | python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])"; }
# wrk's requests/s and p99 (in ms), failing on any non-2xx answer.
measure() {
  local out
  out=$(wrk -t2 -c"$CONN" -d"$DUR" --latency "$@")
  if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; echo "non-2xx answers: $*" >&2; exit 1; fi
  local rps p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '/^ +99%/ {print $2}')
  python3 -c "
import sys
v=sys.argv[2]; unit={'us':0.001,'ms':1,'s':1000}
n=next(u for u in ('us','ms','s') if v.endswith(u))
print(sys.argv[1], round(float(v[:-len(n)])*unit[n], 3))" "$rps" "$p99"
}

rows=()
for backend in $BACKENDS; do
  case $backend in
    sqlite) url="sqlite://$work/bench.db" ;;
    postgres)
      pgdb="ph_scale_$RANDOM$RANDOM"
      psql -q "$PG" -c "CREATE DATABASE $pgdb"
      url="${PG%/*}/$pgdb" ;;
  esac
  # shellcheck disable=SC2086
  PARTNERHUB_LOG=warn "$bin" bench seed --database "$url" --pairs "$PAIRS" --pairs-file "$work/pairs-$backend.txt" $SEED_ARGS \
    >"$work/seed-$backend.json" 2>"$work/seed-$backend.log"
  cat "$work/seed-$backend.log" >&2
  # The bulk load's pages go to disk now, not inside the measured runs: without this, the
  # write-back of a gigabyte (SQLite's file, PostgreSQL's first checkpoint after the load) lands
  # in whichever run comes first and shows as a p99 spike there.
  case $backend in
    sqlite) sync ;;
    postgres) psql -q "$url" -c CHECKPOINT ;;
  esac
  seed_s=$(json "$work/seed-$backend.json" "['seconds']")
  port=$((20000 + RANDOM % 10000))
  PARTNERHUB_SECRET="$("$bin" secret generate)" PARTNERHUB_LOG=warn PARTNERHUB_OPERATOR_TOKEN=bench-operator \
    "$bin" serve --database "$url" --listen 127.0.0.1:$port 2>"$work/server-$backend.log" &
  server=$!
  until grep -qs "listening on" "$work/server-$backend.log"; do sleep 0.1; done
  H=http://127.0.0.1:$port
  pw=$(json "$work/seed-$backend.json" "['password']")
  big=$(token $H "$(json "$work/seed-$backend.json" "['measured_partner']['admin']")" "$pw")
  small=$(token $H "$(json "$work/seed-$backend.json" "['small_partner']['admin']")" "$pw")
  cid=$(json "$work/seed-$backend.json" "['customer']['id']")
  n_big=$(json "$work/seed-$backend.json" "['measured_partner']['customers']")
  n_small=$(json "$work/seed-$backend.json" "['small_partner']['customers']")
  # The page really is full, with grants, and the total is the partner's.
  curl -sf -H "Authorization: Bearer $big" "$H/api/v1/customers" | python3 -c "
import json,sys; b=json.load(sys.stdin); n=int(sys.argv[1])
assert b['total']==n and len(b['items'])==min(50,n) and all(len(c['grants'])>0 for c in b['items']), (b['total'], len(b['items']))" "$n_big"
  # Warm-up of each read measured below: the first run of a path after the start has a higher
  # p99 (on PostgreSQL 7-8 ms against 4-5 ms for a second run of the same path), and the list
  # p99 ratio must compare warm paths, not the warmed big list against a cold small one.
  wrk -t2 -c"$CONN" -d2s -H "Authorization: Bearer $big" "$H/api/v1/customers" >/dev/null
  wrk -t2 -c"$CONN" -d2s -H "Authorization: Bearer $big" "$H/api/v1/customers/$cid" >/dev/null
  wrk -t2 -c"$CONN" -d2s -H "Authorization: Bearer $small" "$H/api/v1/customers" >/dev/null
  base=$(measure "$H/healthz")
  list=$(measure -H "Authorization: Bearer $big" "$H/api/v1/customers")
  one=$(measure -H "Authorization: Bearer $big" "$H/api/v1/customers/$cid")
  list_small=$(measure -H "Authorization: Bearer $small" "$H/api/v1/customers")
  invite=$(measure -s bench/invite.lua "$H" -- "$big")
  accept=$(measure -s bench/accept.lua "$H" -- "$work/pairs-$backend.txt" 2)
  offer=$(curl -sf -X POST -H 'Content-Type: application/json' -H 'Authorization: Bearer bench-operator' \
    -d '{"name": "Bench Mail", "unit_price_cents": 600, "currency": "EUR"}' "$H/api/v1/operator/offers" \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
  { echo "$offer"; json "$work/seed-$backend.json" "['order_customers']" | python3 -c "import ast,sys; print('\n'.join(ast.literal_eval(sys.stdin.read())))"; } >"$work/order-$backend.txt"
  order=$(measure -s bench/order.lua "$H" -- "$work/order-$backend.txt" "$big")
  buyer=$(sed -n 2p "$work/order-$backend.txt")
  n_subs=$(curl -sf -H "Authorization: Bearer $big" "$H/api/v1/customers/$buyer/subscriptions" | python3 -c "import json,sys; print(json.load(sys.stdin)['total'])")
  subs=$(measure -H "Authorization: Bearer $big" "$H/api/v1/customers/$buyer/subscriptions")
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$server/status)
  kill "$server"; wait "$server" 2>/dev/null || true; server=
  "$bin" audit verify --database "$url" >&2
  rows+=("$backend|$seed_s|$n_big|$n_small|$hwm|$base|$list|$one|$list_small|$invite|$accept|$order|$subs|$n_subs")
done

load=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$OUT" "$DUR" "$CONN" "$load" "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo -dirty)" "${rows[@]}" <<'PY'
import json, os, sys, datetime
out, dur, conn, load, commit, *rows = sys.argv[1:]
res = []
for r in rows:
    b, seed, nbig, nsmall, hwm, base, lst, one, small, invite, accept, order, subs, nsubs = r.split('|')
    f = lambda s: dict(zip(('rps', 'p99_ms'), map(float, s.split())))
    res.append({'backend': b, 'seed_seconds': round(float(seed), 1), 'measured_customers': int(nbig), 'small_customers': int(nsmall),
                'rss_peak_mib': round(int(hwm) / 1024, 1), 'healthz': f(base), 'list': f(lst), 'one': f(one), 'list_small': f(small),
                'invite': f(invite), 'accept': f(accept), 'order': f(order), 'subscriptions': f(subs),
                'subscriptions_total': int(nsubs)})
meta = {'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), 'commit': commit,
        'wrk': f'-t2 -c{conn} -d{dur}', 'cores': os.cpu_count(), 'loadavg_after': load}
os.makedirs(os.path.dirname(out) or '.', exist_ok=True)
json.dump({'meta': meta, 'results': res}, open(out + '.json', 'w'), indent=2)
lines = [f"{meta['date']}, commit {commit}, wrk {meta['wrk']}, {meta['cores']} cores shared by client and server, load average after: {load}", '',
         '| backend | path | requests/s | p99 ms | of /healthz |', '|---|---|---:|---:|---:|']
for r in res:
    h = r['healthz']['rps']
    for name, k in (('GET /healthz', 'healthz'), (f"GET /customers, page of 50 of {r['measured_customers']}", 'list'),
                    ('GET /customers/{id}', 'one'), (f"GET /customers, page of 50 of {r['small_customers']}", 'list_small'),
                    ('POST /invitations', 'invite'), ('POST /invitations/accept (durable)', 'accept'),
                    ('POST /customers/{id}/orders', 'order'), (f"GET /customers/{{id}}/subscriptions, page of 50 of {r['subscriptions_total']}", 'subscriptions')):
        lines.append(f"| {r['backend']} | {name} | {r[k]['rps']:.0f} | {r[k]['p99_ms']:.2f} | {r[k]['rps'] / h:.3f} |")
lines += ['', '| backend | seed (s) | list p99 at measured / at small | server peak RSS (MiB) |', '|---|---:|---:|---:|']
for r in res:
    lines.append(f"| {r['backend']} | {r['seed_seconds']} | {r['list']['p99_ms'] / r['list_small']['p99_ms']:.2f} | {r['rss_peak_mib']} |")
open(out + '.md', 'w').write('\n'.join(lines) + '\n')
print('\n'.join(lines))
PY
