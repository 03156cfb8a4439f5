#!/usr/bin/env bash
# Benchmarks authd over HTTP: starts a fresh authd for each scenario (SQLite, then
# PostgreSQL), drives it with authd-bench, and prints a Markdown table for
# docs/benchmarks.md, with the machine's Argon2id bound and authd's cold start. Each login
# scenario is judged against the bound measured just before and just after it.
#
#   scripts/bench.sh                 # release build, 10 s per scenario, both databases
#   scripts/bench.sh --duration 20   # longer runs
#   scripts/bench.sh --scenarios login,refresh
#                                    # only these scenarios (both databases; `resource`,
#                                    # a resource server's verified route against its 404,
#                                    # runs once, on SQLite)
#   scripts/bench.sh --postgres-tcp  # authd reaches PostgreSQL over TCP, not its socket
#   scripts/bench.sh --smoke         # CI: debug build, 3 s of a few scenarios on SQLite;
#                                    # fails if any request fails
#   AUTHD_BENCH_AUTHD=/tmp/authd-old scripts/bench.sh --scenarios refresh,me
#                                    # the same scenarios against another authd binary
#                                    # (AUTHD_BENCH_RESOURCE_SERVER: the same for the
#                                    # resource server)
#
# PostgreSQL: AUTHD_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres)
# names a server on which a throwaway database is created with psql and dropped after.
# Without psql or a server, PostgreSQL is skipped with a message. authd connects to it as a
# deployment on the same host should: through its Unix socket, in
# AUTHD_BENCH_POSTGRES_SOCKET_DIR (default /var/run/postgresql), when the socket is there.
# Over TCP, libpq negotiates TLS (sslmode=prefer), which on loopback protects nothing and
# costs a quarter of `me` (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10
smoke=false
postgres_tcp=false
scenarios="login refresh device device-refresh me wallet-login wallet-refresh mixed flood login-storm resource"
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --smoke) smoke=true; duration=3; shift ;;
    --scenarios) only="$(echo "$2" | tr ',' ' ')"; shift 2 ;;
    --postgres-tcp) postgres_tcp=true; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
for name in $only; do
  case " $scenarios " in
    *" $name "*) ;;
    *) echo "unknown scenario: $name (known: $scenarios)" >&2; exit 2 ;;
  esac
done

# Whether scenario $1 is to run: all of them unless --scenarios names some.
wanted() {
  [ -z "$only" ] && return 0
  case " $only " in *" $1 "*) return 0 ;; *) return 1 ;; esac
}

if $smoke; then
  profile=debug
  cargo build --locked -p authd -p authd-bench -p resource-server
else
  profile=release
  cargo build --release --locked -p authd -p authd-bench -p resource-server
fi
# AUTHD_BENCH_AUTHD: another authd binary to measure (an A/B against an older build).
authd="${AUTHD_BENCH_AUTHD:-target/$profile/authd}"
bench="target/$profile/authd-bench"
# AUTHD_BENCH_RESOURCE_SERVER: another build of examples/resource-server (an A/B).
resource_server="${AUTHD_BENCH_RESOURCE_SERVER:-target/$profile/resource-server}"
resource_port=18081
resource_pid=""
admin_token="bench-admin-token-$(date +%s%N)-0123456789abcdef"
port=18080
work="$(mktemp -d)"
authd_pid=""
pg_url="${AUTHD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_db="authd_bench_$$"
pg_used=false
socket_dir="${AUTHD_BENCH_POSTGRES_SOCKET_DIR:-/var/run/postgresql}"
# authd's URL for database $1 on the server of pg_url: through the server's Unix socket
# when there is one (and --postgres-tcp is not given), else over pg_url's TCP address.
postgres_url_for() {
  local user host_port port
  if ! $postgres_tcp && [[ "$pg_url" =~ ^postgres(ql)?://([^@/]+)@([^/]*)/ ]]; then
    user="${BASH_REMATCH[2]}" host_port="${BASH_REMATCH[3]}"
    port="${host_port##*:}"
    [ "$port" = "$host_port" ] && port=5432
    if [ -S "$socket_dir/.s.PGSQL.$port" ]; then
      echo "postgres://$user@$(echo "$socket_dir" | sed 's|/|%2F|g'):$port/$1"
      return
    fi
  fi
  echo "${pg_url%/*}/$1"
}

cleanup() {
  [ -n "$authd_pid" ] && kill "$authd_pid" 2>/dev/null && wait "$authd_pid" 2>/dev/null || true
  [ -n "$resource_pid" ] && kill "$resource_pid" 2>/dev/null && wait "$resource_pid" 2>/dev/null || true
  if $pg_used; then
    psql "$pg_url" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Starts authd on database $1 and waits until it answers /healthz.
start_authd() {
  AUTHD_DATABASE_URL="$1" AUTHD_BIND="127.0.0.1:$port" AUTHD_ADMIN_TOKEN="$admin_token" \
    AUTHD_IP_RATE_PER_MIN=0 RUST_LOG=info "$authd" serve 2>>"$work/authd.log" &
  authd_pid=$!
  for _ in $(seq 1 500); do
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

# run <database-url> <label> <scenario> <clients>
# A login scenario is bracketed by Argon2id measurements: this machine's hashing speed
# drifts by 10-40 % within minutes, so a login rate is judged against the faster of the
# two bounds measured just before and just after it.
run() {
  local before="" after="" row status=0
  case "$3" in login | wallet-login) $smoke || before="$("$bench" argon2 --runs 40)" ;; esac
  start_authd "$1"
  row="$(AUTHD_ADMIN_TOKEN="$admin_token" "$bench" run --url "http://127.0.0.1:$port" \
    --scenario "$3" --concurrency "$4" --duration "$duration" --warmup 2 \
    --server-pid "$authd_pid" --label "$2" --markdown 2>"$work/run.err")" || status=$?
  [ -n "$row" ] && echo "$row"
  cat "$work/run.err" >&2
  stop_authd
  [ -n "$before" ] && after="$("$bench" argon2 --runs 40)"
  if [ "$status" -ne 0 ]; then
    $smoke && exit "$status"
    echo "| $3 | $2 | $4 | failed: see the messages above | | | | | | | |"
  elif [ -n "$before" ]; then
    login_share "$3" "$2" "$(echo "$row" | awk -F'|' 'NR == 1 { gsub(/ /, "", $5); print $5 }')" \
      "$before" "$after" >>"$work/logins"
  fi
}

# login_share <scenario> <label> <logins/s> <argon2 line before> <argon2 line after>:
# one line of the logins section, against the higher of the two bounds.
login_share() {
  local bound parallel b p
  bound=0 parallel=0
  for line in "$4" "$5"; do
    b="$(echo "$line" | sed -n 's/.*bound \([0-9]*\) logins.*/\1/p')"
    p="$(echo "$line" | sed -n 's/.*; \([0-9]*\) hashes\/s.*/\1/p')"
    [ "$b" -gt "$bound" ] && bound="$b"
    [ "$p" -gt "$parallel" ] && parallel="$p"
  done
  echo "- $1, $2: $3/s, $((100 * $3 / bound)) % of the bound ($bound/s) and" \
    "$((100 * $3 / parallel)) % of the two-thread rate ($parallel/s), the higher of those" \
    "measured just before and just after (per hash alone:" \
    "$(echo "$4" | sed -n 's/.*: \([0-9.]*\) ms per hash alone.*/\1/p') and" \
    "$(echo "$5" | sed -n 's/.*: \([0-9.]*\) ms per hash alone.*/\1/p') ms)"
  # The wall time authd's hashing threads spent per hash during the run, from its own
  # metrics: with them never idle, the login rate is cores ÷ that time, and what it adds to
  # one hash alone is the second hash at once, the request work that preempts them (they
  # run on spare CPU only) and the host.
  local during cores
  cores="$(echo "$4" | sed -n 's/.* \([0-9]*\) cores,.*/\1/p')"
  during="$(sed -n 's/.*, \([0-9.]*\) ms per hash (authd_password_hash_seconds).*/\1/p' "$work/run.err")"
  [ -n "$during" ] && echo "  - during it, authd's hashing threads spent $during ms per hash:" \
    "$cores ÷ $during ms = $(awk -v c="$cores" -v t="$during" 'BEGIN { printf "%.0f", c * 1000 / t }')/s" \
    "($(awk -v c="$cores" -v t="$during" -v r="$3" 'BEGIN { printf "%.0f", 100 * r * t / (c * 1000) }') % of it reached)"
  return 0
}

# resource <clients>: examples/resource-server in front of an authd on SQLite; two rows
# from one sitting: GET /v2/objects with wallet tokens from a pool of 100 (the token
# checked by AccessVerifier and RequireRole), and an unknown path of the same server (its
# JSON 404, no token checked). The server's CPU is the resource server's.
resource() {
  local scenario row status
  start_authd "$(fresh_sqlite)"
  AUTHD_JWKS_URL="http://127.0.0.1:$port/.well-known/jwks.json" BIND="127.0.0.1:$resource_port" \
    RUST_LOG=warn "$resource_server" >>"$work/resource.log" 2>&1 &
  resource_pid=$!
  for _ in $(seq 1 500); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$resource_port") 2>/dev/null; then break; fi
    sleep 0.02
  done
  for scenario in resource resource-unauthenticated; do
    status=0
    row="$(AUTHD_ADMIN_TOKEN="$admin_token" "$bench" run --url "http://127.0.0.1:$port" \
      --resource-url "http://127.0.0.1:$resource_port" --scenario "$scenario" \
      --concurrency "$1" --duration "$duration" --warmup 2 --server-pid "$resource_pid" \
      --label resource-server --markdown 2>"$work/run.err")" || status=$?
    [ -n "$row" ] && echo "$row"
    cat "$work/run.err" >&2
    if [ "$status" -ne 0 ]; then
      $smoke && exit "$status"
      echo "| $scenario | resource-server | $1 | failed: see the messages above | | | | | | | |"
    fi
  done
  kill "$resource_pid" && wait "$resource_pid" 2>/dev/null || true
  resource_pid=""
  stop_authd
}

fresh_sqlite() {
  rm -f "$work"/bench.db*
  echo "sqlite://$work/bench.db"
}

fresh_postgres() {
  psql "$pg_url" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null
  psql "$pg_url" -qc "CREATE DATABASE $pg_db" >/dev/null
  postgres_url_for "$pg_db"
}

header() {
  echo "| scenario | database | clients | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU | server peak RSS |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"
}

if $smoke; then
  header
  for scenario in mixed wallet-refresh device device-refresh; do
    run "$(fresh_sqlite)" sqlite "$scenario" 4
  done
  resource 4
  exit 0
fi

echo "## Machine"
echo
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "- memory: $(free -g | awk '/Mem:/ {print $2}') GiB; $(uname -sr)"
case "$(postgres_url_for DB)" in
  *%2F*) pg_reached="through its Unix socket in $socket_dir" ;;
  *) pg_reached="over TCP at $(echo "${pg_url#*@}" | cut -d/ -f1) (TLS where the server offers it)" ;;
esac
echo "- authd ${AUTHD_BENCH_AUTHD:-$(git rev-parse --short HEAD)}, release build; PostgreSQL $(psql --version 2>/dev/null | awk '{print $3}' || echo '?'), reached $pg_reached"
echo "- duration: ${duration} s measured per scenario after 2 s of warm-up; a fresh authd per scenario"
echo
echo "## Argon2id bound and cold start"
echo
echo "- $("$bench" argon2)"
echo "- $("$bench" cold-start --authd "$authd")"
echo
echo "## HTTP"
echo
header
backends="sqlite"
if command -v psql >/dev/null && psql "$pg_url" -qc 'SELECT 1' >/dev/null 2>&1; then
  backends="sqlite postgres"
  pg_used=true
else
  echo "PostgreSQL skipped: psql missing or $pg_url unreachable" >&2
fi
for backend in $backends; do
  fresh() { if [ "$backend" = sqlite ]; then fresh_sqlite; else fresh_postgres; fi; }
  # scenario <name> <clients>: one row (or a few), on a fresh database.
  scenario() { if wanted "$1"; then run "$(fresh)" "$backend" "$1" "$2"; fi; }
  scenario login 8
  scenario refresh 32
  scenario device 32
  scenario device-refresh 32
  scenario me 32
  scenario me 256
  scenario wallet-login 8
  scenario wallet-refresh 32
  scenario mixed 32
  scenario flood 16
  # Closed-loop logins retrying each 503 at once, at 1, 2, 4 and 16 times what the hashing
  # gate admits at once (a hashing thread per core and eight waiting per core).
  if wanted login-storm; then
    for times in 1 2 4 16; do
      run "$(fresh)" "$backend" login-storm $((times * 9 * $(nproc)))
    done
  fi
done

if wanted resource; then
  resource 16
  resource 32
fi

echo
echo "## Logins against the Argon2id bound measured around each"
echo
cat "$work/logins" 2>/dev/null || echo "- no login scenario finished"
