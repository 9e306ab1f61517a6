#!/usr/bin/env bash
# The whole API test suite (tests/api) on PostgreSQL: a throwaway server (scripts/pg-server.sh,
# durability off), TEST_PG_URL set so every test app gets a fresh database of its own
# (tests/api/helpers.rs), and first the schema check that the PostgreSQL migrations match the
# SQLite ones and the library's own PostgreSQL tests (dialect, filters, event log; skipped
# without TEST_PG_URL). Called by `make test` after `cargo test` ran the same suites on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)/pg
cleanup() { scripts/pg-server.sh stop "$dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
url=$(PG_FAST=1 scripts/pg-server.sh start "$dir")
echo "pg-api-test: PostgreSQL at $url"
scripts/pg-schema-check.sh "$url"
TEST_PG_URL="$url" cargo test --locked --lib
TEST_PG_URL="$url" cargo test --locked --test api -- "$@"
