#!/usr/bin/env bash
# authd at the scale of a mobile app with millions of installs (issue "ten million
# sessions"), on SQLite and PostgreSQL:
#   1. seeds a template database once with `authd-bench seed` (1 M users, 5 M devices,
#      10 M sessions; about one in seven past its lifetime, one in fifty revoked) and
#      keeps it, with the seeder's report of bytes per session and per device;
#   2. on a copy of it, starts authd and measures refresh at a fixed 200/s while authd's
#      purge job deletes the ended sessions (it starts 10 s after authd), and again once
#      the purge is done, reporting the purge's rate;
#   3. then refresh, device, me and login on the purged copy, and the same on an empty
#      database, one after another.
#
#   scripts/bench-scale.sh                      # both databases, 10 s per scenario
#   scripts/bench-scale.sh --backends postgres  # one database
#   scripts/bench-scale.sh --duration 20
#   scripts/bench-scale.sh --purge-only           # step 2 alone
#   AUTHD_SCALE_DIR=/var/tmp/authd-scale        # where the SQLite template lives
#                                               # (PostgreSQL's: database authd_scale_template)
#   AUTHD_SCALE_SESSIONS=1000000 (and _USERS, _DEVICES)   # a smaller population
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10
purge_only=0
backends="sqlite postgres"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --backends) backends="$(echo "$2" | tr ',' ' ')"; shift 2 ;;
    --purge-only) purge_only=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

cargo build --release --locked -p authd -p authd-bench
authd=target/release/authd
bench=target/release/authd-bench
users="${AUTHD_SCALE_USERS:-1000000}"
devices="${AUTHD_SCALE_DEVICES:-5000000}"
sessions="${AUTHD_SCALE_SESSIONS:-10000000}"
population="${users}u-${devices}d-${sessions}s"
dir="${AUTHD_SCALE_DIR:-/var/tmp/authd-scale}"
pg_url="${AUTHD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_template="authd_scale_${users}u_${devices}d_${sessions}s"
pg_db="authd_scale_run_$$"
port=18090
admin_token="bench-admin-token-$(date +%s%N)-0123456789abcdef"
work="$(mktemp -d)"
authd_pid=""
mkdir -p "$dir"

cleanup() {
  [ -n "$authd_pid" ] && kill "$authd_pid" 2>/dev/null && wait "$authd_pid" 2>/dev/null || true
  psql "$pg_url" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work" "$dir"/run.db*
}
trap cleanup EXIT

# The template of backend $1 (seeded when missing); prints its seed report.
template() {
  case "$1" in
    sqlite)
      if [ ! -s "$dir/$population.txt" ]; then
        rm -f "$dir/$population".db*
        "$bench" seed --database-url "sqlite://$dir/$population.db" --users "$users" \
          --devices "$devices" --sessions "$sessions" >"$dir/$population.txt.new"
        mv "$dir/$population.txt.new" "$dir/$population.txt"
      fi
      cat "$dir/$population.txt"
      ;;
    postgres)
      if [ ! -s "$dir/$pg_template.txt" ]; then
        psql "$pg_url" -qc "DROP DATABASE IF EXISTS $pg_template" >/dev/null
        psql "$pg_url" -qc "CREATE DATABASE $pg_template" >/dev/null
        "$bench" seed --database-url "${pg_url%/*}/$pg_template" --users "$users" \
          --devices "$devices" --sessions "$sessions" >"$dir/$pg_template.txt.new"
        psql "${pg_url%/*}/$pg_template" -qc "VACUUM ANALYZE" >/dev/null
        mv "$dir/$pg_template.txt.new" "$dir/$pg_template.txt"
      fi
      cat "$dir/$pg_template.txt"
      ;;
  esac
}

# A copy of backend $1's template (seeded) or an empty database (empty); prints its URL.
database() {
  case "$1:$2" in
    sqlite:seeded) rm -f "$dir"/run.db*; cp "$dir/$population.db" "$dir/run.db"; echo "sqlite://$dir/run.db" ;;
    sqlite:empty) rm -f "$dir"/run.db*; echo "sqlite://$dir/run.db" ;;
    postgres:*)
      psql "$pg_url" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null
      if [ "$2" = seeded ]; then
        psql "$pg_url" -qc "CREATE DATABASE $pg_db TEMPLATE $pg_template" >/dev/null
      else
        psql "$pg_url" -qc "CREATE DATABASE $pg_db" >/dev/null
      fi
      echo "${pg_url%/*}/$pg_db"
      ;;
  esac
}

start_authd() {
  : >"$work/authd.log"
  AUTHD_DATABASE_URL="$1" AUTHD_BIND="127.0.0.1:$port" AUTHD_ADMIN_TOKEN="$admin_token" \
    AUTHD_IP_RATE_PER_MIN=0 RUST_LOG=info "$authd" serve 2>>"$work/authd.log" &
  authd_pid=$!
  for _ in $(seq 1 3000); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.02
  done
  echo "authd did not start; its log:" >&2
  cat "$work/authd.log" >&2
  exit 1
}

stop_authd() {
  kill "$authd_pid" && wait "$authd_pid" 2>/dev/null || true
  authd_pid=""
}

# scenario <name> <label> [seconds [authd-bench options]]: one row of the table.
scenario() {
  local name="$1" label="$2" seconds="${3:-$duration}"
  shift $(($# < 3 ? $# : 3))
  AUTHD_ADMIN_TOKEN="$admin_token" "$bench" run --url "http://127.0.0.1:$port" \
    --scenario "$name" --concurrency 32 --duration "$seconds" --warmup 2 \
    --server-pid "$authd_pid" --label "$label" --markdown "$@" 2>>"$work/run.err" || {
    echo "| $name | $label | 32 | failed: see the messages above | | | | | | | |"
    cat "$work/run.err" >&2
  }
}

echo "## Machine"
echo
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "- authd $(git rev-parse --short HEAD), release build; population: $users users, $devices devices, $sessions sessions"
echo
for backend in $backends; do
  echo "## $backend"
  echo
  template "$backend" | sed 's/^/    /'
  echo
  echo "| scenario | database | clients | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU | server peak RSS |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"
  start_authd "$(database "$backend" seeded)"
  # The purge starts 10 s after authd: refresh at 200/s measured from 12 s to 42 s.
  sleep 8
  scenario refresh "$backend, seeded, 200/s, while purging" 30 --rate 200
  for _ in $(seq 1 900); do
    grep -q "purged " "$work/authd.log" && break
    sleep 1
  done
  purged="$(grep -o 'purged .*' "$work/authd.log" | head -1 || true)"
  scenario refresh "$backend, seeded, 200/s, after the purge" 30 --rate 200
  if [ "$purge_only" = 1 ]; then
    stop_authd
    echo
    echo "- purge: ${purged:-did not finish within 15 minutes}"
    echo
    continue
  fi
  for name in refresh device me login; do
    scenario "$name" "$backend, seeded"
  done
  stop_authd
  start_authd "$(database "$backend" empty)"
  for name in refresh device me login; do
    scenario "$name" "$backend, empty"
  done
  stop_authd
  echo
  echo "- purge: ${purged:-did not finish within 15 minutes}"
  echo
done
