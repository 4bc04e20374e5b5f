#!/usr/bin/env bash
# The contract run (issue 11): a live `partnerhub serve` on BACKEND (sqlite or postgres), a
# world seeded over the API (world.py), then
#   1. a client generated from the served OpenAPI document (openapi-python-client) invites,
#      signs up, accepts and lists customers (client_check.py);
#   2. schemathesis against the same document with real tokens and ids (hooks.py):
#      no 5xx, no status, content type or body the document does not declare;
# Usage: tests/contract/run.sh sqlite|postgres   (PostgreSQL: PARTNERHUB_TEST_POSTGRES_URL)
# The tools are pinned and installed in target/contract-venv on first use.
set -euo pipefail
backend=${1:?usage: run.sh sqlite|postgres}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${PARTNERHUB_BIN:-$root/target/debug/partnerhub}
venv=$root/target/contract-venv
SCHEMATHESIS=schemathesis==4.32.5
CLIENTGEN=openapi-python-client==0.29.1
SMTPD=aiosmtpd==1.4.6
# The webhook tests (crates/cli/tests/it/webhooks.rs) verify signatures with it.
STANDARDWEBHOOKS=standardwebhooks==1.1.0

[ -x "$bin" ] || (cd "$root" && cargo build -q -p partnerhub)
if [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/openapi-python-client" ] || [ ! -x "$venv/bin/aiosmtpd" ] || ! "$venv/bin/python" -c "import standardwebhooks" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$SCHEMATHESIS" "$CLIENTGEN" "$SMTPD" "$STANDARDWEBHOOKS"
fi

work=$(mktemp -d /tmp/partnerhub-contract.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
case "$backend" in
  sqlite) db="sqlite://$work/contract.db" ;;
  postgres)
    admin_url=${PARTNERHUB_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
    name="partnerhub_contract_$$"
    psql -q "$admin_url" -c "CREATE DATABASE $name" >/dev/null
    db="${admin_url%/*}/$name"
    ;;
  *) echo "run.sh: backend is sqlite or postgres, not $backend" >&2; exit 2 ;;
esac

server=""
smtpd=""
finish() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  [ -n "$smtpd" ] && kill "$smtpd" 2>/dev/null && wait "$smtpd" 2>/dev/null || true
  if [ "$backend" = postgres ]; then psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null || true; fi
  rm -rf "$work"
}
trap finish EXIT

# A real SMTP server that takes every message, so that sending a draft is a 202 and not the
# 503 of a server without a relay.
smtp_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/aiosmtpd" -n -c aiosmtpd.handlers.Sink -l "127.0.0.1:$smtp_port" > "$work/smtpd.log" 2>&1 &
smtpd=$!

base="http://127.0.0.1:$port"
PARTNERHUB_SMTP_URL="smtp://127.0.0.1:$smtp_port" \
PARTNERHUB_OPERATOR_TOKEN=contract-operator-token \
PARTNERHUB_SECRET=contract-run-secret-Tq5Wz0Mb8Xr3Lc6Nv1Pk9Gh4Jd7Sy2 \
PARTNERHUB_LOG=warn \
  "$bin" serve --database "$db" --listen "127.0.0.1:$port" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  grep -q "^listening on" "$work/server.log" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done

python3 "$here/world.py" "$base" contract-operator-token > "$work/world.json"

# The generated client first, on the fresh world (schemathesis uses up the sign-ups a client
# address may make in an hour).
echo "== generated client on $backend"
curl -sf "$base/api/openapi.json" > "$work/openapi.json"
(cd "$work" && "$venv/bin/openapi-python-client" generate --path openapi.json --meta none --output-path partnerhub_client > generate.log 2>&1) \
  || { cat "$work/generate.log" >&2; exit 1; }
if grep -q "WARNING\|will not be generated" "$work/generate.log"; then
  cat "$work/generate.log" >&2; echo "the generator skipped parts of the document" >&2; exit 1
fi
PYTHONPATH="$work" "$venv/bin/python" "$here/client_check.py" "$work/world.json"

echo "== schemathesis on $backend ($base)"
start=$(date +%s)
status=0
PARTNERHUB_WORLD="$work/world.json" SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$here" \
  "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$base/api/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,unsupported_method \
    --phases examples,coverage,fuzzing --max-examples "${CONTRACT_MAX_EXAMPLES:-30}" --continue-on-failure \
    --generation-with-security-parameters false \
    --seed "${CONTRACT_SEED:-20261201}" --no-color --workers 1 > "$work/schemathesis.log" 2>&1 || status=$?
cp "$work/schemathesis.log" "$root/target/contract-$backend.log"
sed -n '/SUMMARY/,$p' "$work/schemathesis.log"
echo "schemathesis took $(( $(date +%s) - start )) s (the whole output: target/contract-$backend.log)"
if [ "$status" != 0 ]; then
  sed -n '1,/SUMMARY/p' "$work/schemathesis.log" | head -300
  echo "schemathesis found failures on $backend" >&2
  exit 1
fi
if grep -q " 5[0-9][0-9] " "$work/server.log"; then
  echo "the server logged a 5xx during the run:" >&2; grep " 5[0-9][0-9] " "$work/server.log" >&2; exit 1
fi

