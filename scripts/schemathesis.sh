#!/usr/bin/env bash
# Fuzzes authd against its own OpenAPI description with schemathesis (every check: no
# server errors, responses that match the schema, documented status codes and headers,
# invalid input refused and valid input accepted).
#
#   scripts/schemathesis.sh [--max-examples N]
#
# Installs schemathesis from PyPI into target/schemathesis-venv on first use, builds authd,
# and runs it on a throwaway SQLite database. Two passes: everything with the bootstrap
# admin token, then the bearer routes of people with a user's access token (schemathesis.toml
# beside this script says which answers a schema cannot predict).
set -euo pipefail
cd "$(dirname "$0")/.."

max_examples=200
if [ "${1:-}" = "--max-examples" ]; then max_examples="$2"; fi

venv=target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'schemathesis>=4.3,<5'
fi
cargo build --locked -p authd
work="$(mktemp -d)"
port=18091
admin_token="schemathesis-admin-$(date +%s%N)-0123456789abcdef"
AUTHD_DATABASE_URL="sqlite://$work/authd.db" AUTHD_BIND="127.0.0.1:$port" \
  AUTHD_ADMIN_TOKEN="$admin_token" AUTHD_IP_RATE_PER_MIN=0 RUST_LOG=warn \
  target/debug/authd serve 2>"$work/authd.log" &
authd_pid=$!
trap 'kill $authd_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 250); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.02
done
base="http://127.0.0.1:$port"

echo "== every route, as the bootstrap admin"
"$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "$base/openapi.json" --checks all --workers 2 \
  --max-examples "$max_examples" -H "Authorization: Bearer $admin_token"

echo "== the bearer routes of people, as a user"
# Not the schema's example password: DELETE /api/auth/me with it would delete the user.
access=$(curl -sf "$base/api/auth/register" -H 'Content-Type: application/json' \
  -d '{"email":"fuzz@example.com","password":"the fuzzing users own passphrase","username":"fuzzer"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
"$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "$base/openapi.json" --checks all --workers 2 \
  --max-examples "$max_examples" -H "Authorization: Bearer $access" \
  --include-path-regex '^/api/auth/(me|sessions.*|devices.*|device/link|password/change|email/change)$'
