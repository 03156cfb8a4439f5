#!/usr/bin/env bash
# The project's test command (README, and CI through .ci/run): formatting, lints, and the
# whole test suite on SQLite and PostgreSQL.
#
# PostgreSQL: AUTHD_TEST_POSTGRES_URL names a server on which the tests create and drop
# throwaway databases. It defaults to the local server (127.0.0.1:5432, user postgres).
# Under CI (CI set) an unreachable server fails the run; elsewhere the PostgreSQL tests
# are skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

export AUTHD_TEST_POSTGRES_URL="${AUTHD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo doc, warnings denied (broken links, undocumented items)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

echo "== cargo test (SQLite always; PostgreSQL at ${AUTHD_TEST_POSTGRES_URL%%@*}@…)"
cargo test --workspace --locked

# The browser tests drive Debian's Chromium over chromedriver; under CI their absence fails.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "== installing Debian's chromium and chromium-driver for the browser tests"
  if [ "$(id -u)" -eq 0 ]; then apt_get=(apt-get); else apt_get=(sudo -n apt-get); fi
  export DEBIAN_FRONTEND=noninteractive
  "${apt_get[@]}" install -y -q chromium chromium-driver >/dev/null ||
    { "${apt_get[@]}" update -q >/dev/null && "${apt_get[@]}" install -y -q chromium chromium-driver >/dev/null; } ||
    echo "Chromium could not be installed: the browser tests will say so"
fi

echo "== the TypeScript client (clients/typescript): npm ci, tsc, node --test against authd, headless Chromium"
cargo build --locked -p authd
(cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error && npm test --silent &&
  npm pack --dry-run --silent >/dev/null)

echo "== the fuzz targets compile (they run under nightly: scripts/fuzz.sh)"
cargo check --manifest-path fuzz/Cargo.toml --locked --bins

echo "== benchmarks build and run once (criterion's test mode)"
cargo test --workspace --locked --bench '*'

echo "== the load generator runs a few seconds against a real authd without errors"
scripts/bench.sh --smoke
